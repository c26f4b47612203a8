"""How worker processes ended, as the pool supervisor reports it to the queue manager.

Only a process's parent can read its exit status, and the queue manager is a sibling of the
workers: it sees a worker's connection close, not why. The pool supervisor sends
`[child_id, pid, exitcode]` to this datagram socket after reaping a worker (see
`SupervisorSpec.exit_report`), so a crashed job's error can say "killed by SIGSEGV" or
"exit code 3". The socket lives in the private run directory (mode 0700).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

from antsup.codec import unpack
from antsup.errors import DecodeError
from antsup.supervisor.kernel import describe_exit

#: Seconds a report is kept for a connection close that has not been seen yet.
KEEP_SECONDS = 30.0


class ExitReports:
    """The receiving end: a non-blocking datagram socket and the recent reports by pid."""

    def __init__(self, address: str) -> None:
        self.address = address
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)  # left by a queue manager that was killed
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old_umask = os.umask(0o177)  # born 0600, like every socket of the tree
        try:
            self.sock.bind(address)
        finally:
            os.umask(old_umask)
        self.sock.setblocking(False)
        self._reports: dict[int, tuple[str, float]] = {}

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[int]:
        """Read every waiting report; returns the pids reported."""
        pids = []
        while True:
            try:
                data = self.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                break
            try:
                _, pid, code = unpack(data)
            except (DecodeError, TypeError, ValueError):
                continue
            self._reports[int(pid)] = (describe_exit(code), time.monotonic())
            pids.append(int(pid))
        cutoff = time.monotonic() - KEEP_SECONDS
        for pid in [pid for pid, (_, at) in self._reports.items() if at < cutoff]:
            del self._reports[pid]
        return pids

    def has(self, pid: int) -> bool:
        return pid in self._reports

    def pop(self, pid: int) -> str | None:
        """How `pid` ended ("killed by SIGKILL", "exit code 3"), if it was reported."""
        report = self._reports.pop(pid, None)
        return None if report is None else report[0]

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)
