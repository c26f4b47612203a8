"""What runs first inside every child process, before the user's entry point.

The bootstrap ties the child's life to its supervisor (PDEATHSIG + a re-check that the supervisor
still lives), puts it in its own process group so its own children can be killed with it, drops
the descriptors it inherited from the supervisor under fork (so a peer's death surfaces as EOF),
and only then resolves and calls the entry point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from antsup import codec
from antsup.supervisor import kernel
from antsup.supervisor.spec import EXIT_START_FAILED, ChildSpec, SupervisorSpec, resolve_entry


class ChildContext:
    """Handed to every child's entry function first: who it is and how to reach its supervisor."""

    def __init__(self, id: str, supervisor_pid: int, conn: Connection) -> None:
        self.id = id
        self.supervisor_pid = supervisor_pid
        #: A duplex pipe to the supervisor. The supervisor reads it only for start-up messages
        #: and, for a nested supervisor, control requests; anything else sent to it is dropped.
        self.conn = conn
        self.ready_sent = False

    def notify_ready(self) -> None:
        """Tell the supervisor this child finished initialising (for wait_ready=True specs)."""
        self.send({"event": "ready"})
        self.ready_sent = True

    def send(self, message: dict[str, Any]) -> None:
        """Send one msgpack message to the supervisor."""
        self.conn.send_bytes(codec.pack(message))

    def __repr__(self) -> str:
        return f"ChildContext(id={self.id!r}, supervisor_pid={self.supervisor_pid})"


def _reset_signals() -> None:
    """Under fork the child inherits the supervisor's handlers and wakeup fd: drop them."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def child_main(
    spec: ChildSpec, supervisor_pid: int, conn: Connection, inherited_fds: list[int]
) -> None:
    """Bootstrap of every child process (a top-level function so spawn/forkserver can import it)."""
    kernel.die_with_parent()
    if not kernel.is_alive(supervisor_pid):
        os._exit(1)
    os.setpgid(0, 0)
    kernel.close_fds(inherited_fds)
    _reset_signals()
    ctx = ChildContext(spec.id, supervisor_pid, conn)
    try:
        target: Callable[..., object] | SupervisorSpec = (
            spec.start if isinstance(spec.start, SupervisorSpec) else resolve_entry(spec.start)
        )
    except BaseException as exc:
        reason = f"child {spec.id!r} cannot resolve its entry point: {exc!r}"
        traceback.print_exc(file=sys.stderr)
        ctx.send({"event": "start_failed", "reason": reason})
        sys.exit(EXIT_START_FAILED)
    if isinstance(target, SupervisorSpec):
        from antsup.supervisor.server import run_supervisor

        sys.exit(run_supervisor(ctx, target))
    ctx.send({"event": "started"})
    try:
        target(ctx, *spec.args, **spec.kwargs)
    except Exception as exc:
        if spec.wait_ready and not ctx.ready_sent:  # say why, not just "exit code 1"
            with contextlib.suppress(OSError):
                ctx.send({"event": "start_failed", "reason": f"child {spec.id!r} raised {exc!r}"})
        raise
