"""The application's side of a tree: start the root supervisor and talk to it.

Calls are msgpack request/response messages over the root's control pipe, serialised by a lock.
A watcher thread is the only reader of that pipe: it routes replies to the caller, notices the
root's exit through a pidfd, and reports an escalation (log record + callback), never a hang.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from antsup import codec
from antsup.errors import ChildNotFound, DecodeError, SupervisorCallError, SupervisorStartError
from antsup.supervisor.server import root_main
from antsup.supervisor.spec import (
    EXIT_ESCALATED,
    ChildInfo,
    ChildSpec,
    StartMethod,
    SupervisorSpec,
    spec_to_wire,
)

log = logging.getLogger("antsup.supervisor")
_CALL_TIMEOUT = 300.0
_GONE = object()


def start(
    spec: SupervisorSpec,
    on_escalation: Callable[[str], None] | None = None,
    start_method: StartMethod = "spawn",
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
) -> SupervisorHandle:
    """Start the root supervisor in its own process; return once every child is started.

    `on_event(name, data)` hears, from the handle's watcher thread, every `child:crash` and
    `child:restart` anywhere in the tree (data: supervisor, id, role, pid, exit)."""
    mp = multiprocessing.get_context(start_method)
    ours, theirs = mp.Pipe(duplex=True)
    process = mp.Process(  # type: ignore[attr-defined]
        target=root_main, args=(spec, theirs, os.getpid()), name="antsup:root", daemon=False
    )
    process.start()
    theirs.close()
    return SupervisorHandle(process, ours, on_escalation, on_event)


class SupervisorHandle:
    """Controls a running tree from the application process."""

    def __init__(
        self,
        process: BaseProcess,
        conn: Connection,
        on_escalation: Callable[[str], None] | None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        assert process.pid is not None
        self._process = process
        self.pid: int = process.pid
        self._conn = conn
        self._on_escalation = on_escalation
        self._on_event = on_event
        self._pidfd = os.pidfd_open(self.pid)
        self._lock = threading.Lock()
        self._replies: queue.Queue[Any] = queue.Queue()
        self._exited = threading.Event()
        self._ref = 0
        self._escalation = ""
        self._await_start()
        self._watcher = threading.Thread(target=self._watch, name="antsup-watcher", daemon=True)
        self._watcher.start()
        atexit.register(self._stop_at_exit)

    # ---------------------------------------------------------------- start-up and watching
    def _read(self) -> dict[str, Any] | None:
        try:
            message = codec.unpack(self._conn.recv_bytes())
        except (EOFError, OSError):
            return None
        except DecodeError:
            return {}
        return message if isinstance(message, dict) else {}

    def _await_start(self) -> None:
        while True:
            ready = wait([self._conn, self._pidfd])
            message = self._read() if self._conn in ready else None
            if message is not None and message.get("event") == "ready":
                return
            if message is None or message.get("event") == "start_failed":
                reason = (message or {}).get("reason") or "the root supervisor exited at start"
                self._process.join()
                os.close(self._pidfd)
                self._conn.close()
                raise SupervisorStartError(str(reason))

    def _watch(self) -> None:
        conn_open = True
        while True:
            ready = wait([self._conn, self._pidfd] if conn_open else [self._pidfd])
            while conn_open and self._conn in ready and self._conn.poll(0):
                conn_open = self._route(self._read())
            if self._pidfd in ready:
                while conn_open and self._conn.poll(0):
                    conn_open = self._route(self._read())
                break
        self._process.join()
        self._exited.set()
        self._replies.put(_GONE)
        if self._process.exitcode == EXIT_ESCALATED:
            reason = self._escalation or "the root supervisor exceeded its restart intensity"
            log.error("supervision tree escalated and stopped: %s", reason)
            if self._on_escalation is not None:
                self._on_escalation(reason)

    def _route(self, message: dict[str, Any] | None) -> bool:
        if message is None:
            return False
        if message.get("event") == "escalated":
            self._escalation = str(message.get("reason"))
        elif message.get("event") == "tree_event":
            if self._on_event is not None:
                try:
                    self._on_event(str(message.get("name")), dict(message.get("data") or {}))
                except Exception:  # the application's callback must not kill the watcher
                    log.exception("on_event callback failed")
        elif "ref" in message:
            self._replies.put(message)
        return True

    # ---------------------------------------------------------------- calls
    def _call(self, op: str, path: Sequence[str] = (), **args: Any) -> Any:
        with self._lock:
            if self._exited.is_set():
                raise SupervisorCallError("not_running", "the supervision tree is not running")
            self._ref += 1
            ref = self._ref
            message = {"ref": ref, "op": op, "path": list(path), "args": args}
            try:
                self._conn.send_bytes(codec.pack(message))
            except OSError as exc:
                raise SupervisorCallError("not_running", f"the tree is gone: {exc}") from exc
            while True:
                try:
                    reply = self._replies.get(timeout=_CALL_TIMEOUT)
                except queue.Empty:
                    raise SupervisorCallError("timeout", f"{op} got no answer") from None
                if reply is _GONE:
                    self._replies.put(_GONE)
                    raise SupervisorCallError("not_running", "the supervision tree stopped")
                if reply.get("ref") == ref:
                    break
        if reply.get("ok"):
            return reply.get("value")
        code, text = str(reply.get("error")), str(reply.get("message"))
        if code == "not_found":
            raise ChildNotFound(text)
        raise SupervisorCallError(code, text)

    def which_children(self, path: Sequence[str] = ()) -> list[ChildInfo]:
        """The children of the supervisor at `path` (child ids from the root), in start order."""
        return [ChildInfo(**row) for row in self._call("which_children", path)]

    def count_children(self, path: Sequence[str] = ()) -> dict[str, int]:
        """{'specs', 'active', 'supervisors', 'workers'} as OTP's count_children."""
        return dict(self._call("count_children", path))

    def terminate_child(self, id: str, path: Sequence[str] = ()) -> None:
        """Stop a child (kept as a stopped spec, except temporary and dynamic children)."""
        self._call("terminate_child", path, id=id)

    def restart_child(self, id: str, path: Sequence[str] = ()) -> int:
        """Start a stopped static child again; returns its new pid."""
        return int(self._call("restart_child", path, id=id))

    def delete_child(self, id: str, path: Sequence[str] = ()) -> None:
        """Forget a stopped static child's spec."""
        self._call("delete_child", path, id=id)

    def start_child(
        self, spec_or_args: ChildSpec | Sequence[Any] = (), path: Sequence[str] = ()
    ) -> str:
        """Add a child (a ChildSpec, or simple_one_for_one extra template args); returns its id."""
        if isinstance(spec_or_args, ChildSpec):
            return str(self._call("start_child", path, spec=spec_to_wire(spec_or_args)))
        return str(self._call("start_child", path, args=list(spec_or_args)))

    def tree(self) -> dict[str, Any]:
        """Every supervisor and child, nested: id, pid, type, status, restarts, cpu, rss, uptime."""
        return dict(self._call("tree"))

    # ---------------------------------------------------------------- stopping
    @property
    def exitcode(self) -> int | None:
        """The root's exit code once it has exited, else None."""
        return self._process.exitcode if self._exited.is_set() else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the root to exit; its exit code, or None on timeout."""
        self._exited.wait(timeout)
        return self.exitcode

    def stop(self, timeout: float | None = None) -> int:
        """Orderly shutdown (reverse start order, shutdown budgets); the root's exit code."""
        atexit.unregister(self._stop_at_exit)
        if not self._exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            if not self._exited.wait(timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)  # the guardian sweeps the session
                self._exited.wait()
        self._watcher.join()
        self._close()
        code = self._process.exitcode
        return code if code is not None else -1

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._pidfd)
        self._conn.close()

    def _stop_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    def __enter__(self) -> SupervisorHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
