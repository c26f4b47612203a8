"""One running child process: start it (waiting until it is up), stop it within its budget, reap it.

Each child gets a duplex pipe and a pidfd; the pidfd (not Process.sentinel, which grandchildren
inherit under fork) is what tells the supervisor the child died.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

import psutil

from antsup import codec
from antsup.errors import DecodeError
from antsup.supervisor import kernel
from antsup.supervisor.child import child_main
from antsup.supervisor.spec import EXIT_START_FAILED, ChildSpec, StartMethod

_REAP_TIMEOUT = 5.0


class ChildStartFailed(Exception):
    """A child died, timed out or reported a failure before it was up."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChildProcess:
    """A started child: its Process, pipe, pidfd and psutil handle."""

    def __init__(self, spec: ChildSpec, process: BaseProcess, conn: Connection, pidfd: int) -> None:
        self.spec = spec
        self.process = process
        self.pid: int = process.pid or 0
        self.conn: Connection | None = conn
        self.pidfd: int | None = pidfd
        self.started_at = time.monotonic()
        #: When the shutdown budget runs out, once `ask_to_stop` was called (None: kill at once).
        self.stop_deadline: float | None = None
        #: Last reason a nested supervisor sent before exiting (e.g. why it escalated).
        self.last_reason = ""
        self._ps: psutil.Process | None = None
        with contextlib.suppress(psutil.Error):
            self._ps = psutil.Process(self.pid)
            self._ps.cpu_percent(None)

    @classmethod
    def start(cls, spec: ChildSpec, method: StartMethod, inherited_fds: list[int]) -> ChildProcess:
        """Start `spec`, return once it is up (or raise ChildStartFailed, leaving nothing)."""
        ctx = multiprocessing.get_context(method)
        ours, theirs = ctx.Pipe(duplex=True)
        close_in_child = [*inherited_fds, ours.fileno()] if method == "fork" else []
        process = ctx.Process(  # type: ignore[attr-defined]
            target=child_main,
            args=(spec, os.getpid(), theirs, close_in_child),
            name=f"antsup:{spec.id}",
            daemon=False,
        )
        try:
            process.start()
        except Exception as exc:
            ours.close()
            theirs.close()
            raise ChildStartFailed(f"child {spec.id!r} could not be started: {exc!r}") from exc
        theirs.close()
        assert process.pid is not None
        pidfd = kernel.pidfd_open(process.pid)
        if pidfd is None:  # died before we could watch it
            pidfd = os.open("/dev/null", os.O_RDONLY)
        child = cls(spec, process, ours, pidfd)
        child._await_up()
        return child

    def _await_up(self) -> None:
        """Wait for 'started' (or 'ready' when the child must say so) within start_timeout."""
        need_ready = self.spec.wait_ready or self.spec.type == "supervisor"
        deadline = time.monotonic() + self.spec.start_timeout
        assert self.conn is not None and self.pidfd is not None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill_and_reap()
                raise ChildStartFailed(
                    f"child {self.spec.id!r} was not up within {self.spec.start_timeout}s"
                )
            ready = wait([self.conn, self.pidfd], timeout=remaining)
            if self.conn in ready:
                message = self.read_message()
                if message is None:  # EOF: it died; the pidfd tells us how
                    ready = [self.pidfd]
                elif message.get("event") == "ready" or (
                    message.get("event") == "started" and not need_ready
                ):
                    return
                elif message.get("event") == "start_failed":
                    self.kill_and_reap()
                    raise ChildStartFailed(self._failure(str(message.get("reason"))))
            if self.pidfd in ready:
                code = self.kill_and_reap()
                reason = self.last_reason or kernel.describe_exit(code)
                if code == EXIT_START_FAILED and not self.last_reason:
                    reason = "its entry point could not be resolved"
                raise ChildStartFailed(
                    self._failure(f"child {self.spec.id!r} exited before it was up ({reason})")
                )

    def _failure(self, reason: str) -> str:
        """A nested supervisor's reason gets its own id in front: the reason chain."""
        if self.spec.type == "supervisor":
            return f"supervisor {self.spec.id!r} failed to start: {reason}"
        return reason

    def read_message(self) -> dict[str, Any] | None:
        """One message from the child, None on EOF; a start_failed/escalated reason is kept."""
        if self.conn is None:
            return None
        try:
            message = codec.unpack(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.conn.close()
            self.conn = None
            return None
        except DecodeError:
            return {}
        if not isinstance(message, dict):
            return {}
        if message.get("event") in ("start_failed", "escalated") and message.get("reason"):
            self.last_reason = str(message["reason"])
        return message

    def drain(self) -> None:
        """Read whatever the child already sent (e.g. its last reason) without blocking."""
        while self.conn is not None and self.conn.poll(0):
            if self.read_message() is None:
                return

    def stop(self) -> int | None:
        """SIGTERM, wait up to the shutdown budget, then SIGKILL; reaps; returns the exit code."""
        self.ask_to_stop()
        return self.finish_stop()

    def ask_to_stop(self) -> None:
        """SIGTERM now (unless brutal_kill); `finish_stop` waits out the budget from here."""
        grace = self.spec.grace
        self.stop_deadline = None if grace is None else time.monotonic() + grace
        if grace is not None and self.pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def finish_stop(self) -> int | None:
        """Wait for the exit until the budget set by `ask_to_stop` runs out, then kill; reap."""
        deadline = self.stop_deadline
        while deadline is not None and self.pidfd is not None and time.monotonic() < deadline:
            if wait([self.pidfd], timeout=deadline - time.monotonic()):
                break
        return self.kill_and_reap()

    def kill_and_reap(self) -> int | None:
        """SIGKILL the child's process group (its own children too) and reap it: no zombies."""
        self.drain()
        kernel.kill_group(self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.join(_REAP_TIMEOUT)
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        return self.process.exitcode

    def reap_dead(self) -> int | None:
        """The pidfd said it died: sweep its group while the zombie still pins the pgid, reap."""
        return self.kill_and_reap()

    def fds(self) -> list[int]:
        """Descriptors the supervisor holds for this child (closed in other fork children)."""
        return [fd for fd in (self.pidfd, self.conn.fileno() if self.conn else None) if fd]

    def usage(self) -> tuple[float | None, int | None, float]:
        """(cpu_percent since last call, rss bytes, uptime seconds), None where unreadable."""
        uptime = time.monotonic() - self.started_at
        if self._ps is None:
            return None, None, uptime
        try:
            with self._ps.oneshot():
                return self._ps.cpu_percent(None), self._ps.memory_info().rss, uptime
        except psutil.Error:
            return None, None, uptime
