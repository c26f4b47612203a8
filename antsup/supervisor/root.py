"""What only the root supervisor does: own a session, adopt orphans, watch the app, keep a guardian.

The guardian is a tiny process outside the children list that holds a pidfd on the root. If the
root dies for any reason (SIGKILL included), the guardian SIGKILLs every process of the root's
session until none is left, so no grandchild of a worker survives the tree.
"""

from __future__ import annotations

import contextlib
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import select
import signal

from antsup.supervisor import kernel


def _guardian_main(root_pidfd: int, sid: int) -> None:
    """Body of the forked guardian: wait for the root to die, then empty its session."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.closerange(3, root_pidfd)
    os.closerange(root_pidfd + 1, 65536)
    select.select([root_pidfd], [], [])
    kernel.kill_session(sid, exclude={os.getpid()})


class Guardian:
    """Starts (and restarts) the guardian and tells whether a pid is it."""

    def __init__(self) -> None:
        self.pid = 0
        self.pidfd: int | None = None

    def start(self) -> None:
        """Fork the guardian (the root is single-threaded, so fork is safe here)."""
        root_pidfd = os.pidfd_open(os.getpid())
        sid = os.getsid(0)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked guardian
            try:
                _guardian_main(root_pidfd, sid)
            finally:
                os._exit(0)
        os.close(root_pidfd)
        self.pid = pid
        self.pidfd = kernel.pidfd_open(pid)

    def reap_and_restart(self) -> None:
        """The guardian died (someone killed it): reap it and start a new one."""
        self._reap()
        self.start()

    def stop(self) -> None:
        """Orderly exit of the root: the guardian is no longer needed."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def multiprocessing_helpers() -> set[int]:
    """Pids of multiprocessing's own helper processes (forkserver, resource tracker), if any."""
    pids = set()
    for obj, attr in (
        (multiprocessing.forkserver._forkserver, "_forkserver_pid"),
        (multiprocessing.resource_tracker._resource_tracker, "_pid"),
    ):
        pid = getattr(obj, attr, None)
        if isinstance(pid, int):
            pids.add(pid)
    return pids
