"""The supervisor process: starts its children in order, restarts them per OTP rules, answers calls.

One single-threaded loop waits on the children's pidfds, the pipe to the parent (control
requests), the children's pipes and a signal wakeup socket; nothing polls to notice a death.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

import psutil

from antsup import codec
from antsup.supervisor import control, kernel
from antsup.supervisor.child import ChildContext
from antsup.supervisor.intensity import RestartIntensity
from antsup.supervisor.root import Guardian, multiprocessing_helpers
from antsup.supervisor.running import ChildProcess, ChildStartFailed
from antsup.supervisor.spec import (
    EXIT_ESCALATED,
    EXIT_OK,
    EXIT_START_FAILED,
    ChildInfo,
    ChildSpec,
    SupervisorSpec,
)

_ORPHAN_SWEEP = 0.5  # the root's backstop for orphans it adopted (they send no signal)


class _Exit(Exception):
    """Unwinds the loop with the supervisor's exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Slot:
    """A child as its supervisor knows it: spec, the running process if any, restarts."""

    spec: ChildSpec
    proc: ChildProcess | None = None
    restarts: int = 0
    status: str = "stopped"

    @property
    def id(self) -> str:
        return self.spec.id

    def info(self) -> ChildInfo:
        cpu, rss, uptime = self.proc.usage() if self.proc else (None, None, None)
        return ChildInfo(
            id=self.id,
            pid=self.proc.pid if self.proc else None,
            type=self.spec.type or "worker",
            status=self.status,  # type: ignore[arg-type]
            restarts=self.restarts,
            cpu_percent=cpu,
            rss=rss,
            uptime=uptime,
        )

    def info_dict(self) -> dict[str, Any]:
        return asdict(self.info())


class Supervisor:
    """One supervisor process; the root variant also watches the app and keeps a guardian."""

    def __init__(self, spec: SupervisorSpec, ctx: ChildContext, app_pid: int | None) -> None:
        self.spec = spec
        self.ctx = ctx
        self.parent: Connection | None = ctx.conn
        self.is_root = app_pid is not None
        self.slots: list[Slot] = []
        self.intensity = RestartIntensity(spec.max_restarts, spec.max_seconds)
        self.retry: deque[tuple[list[Slot], str]] = deque()
        self.signals: deque[int] = deque()
        self.dynamic_count = 0
        self.app_pidfd = kernel.pidfd_open(app_pid) if app_pid is not None else None
        self.guardian = Guardian() if self.is_root else None
        self.wake_r, self.wake_w = socket.socketpair()

    # ---------------------------------------------------------------- life cycle
    def run(self) -> int:
        """Start the children, then serve until shutdown; returns the exit code."""
        self._install_signals()
        if self.guardian is not None:
            self.guardian.start()
        try:
            try:
                self._start_initial()
            except ChildStartFailed as exc:
                self._stop_all()
                self._tell_parent({"event": "start_failed", "reason": exc.reason})
                return EXIT_START_FAILED
            self._tell_parent({"event": "ready"})
            self._loop()
            return EXIT_OK
        except _Exit as done:
            return done.code
        finally:
            self._stop_all()
            if self.guardian is not None:
                self.guardian.stop()
                kernel.kill_session(os.getsid(0), exclude={os.getpid()})

    def _install_signals(self) -> None:
        self.wake_r.setblocking(False)
        self.wake_w.setblocking(False)
        signal.set_wakeup_fd(self.wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, lambda signum, _frame: self.signals.append(signum))

    def _start_initial(self) -> None:
        if self.spec.strategy == "simple_one_for_one":
            template = self.spec.children[0]
            for _ in range(self.spec.pool_size):
                self._start_new(self._dynamic_spec(template, ()))
            return
        for spec in self.spec.children:
            self._start_new(spec)

    def _start_new(self, spec: ChildSpec) -> Slot:
        slot = Slot(spec)
        slot.proc = ChildProcess.start(spec, self.spec.start_method, self._owned_fds())
        slot.status = "running"
        self.slots.append(slot)
        return slot

    def _dynamic_spec(self, template: ChildSpec, extra_args: tuple[Any, ...]) -> ChildSpec:
        self.dynamic_count += 1
        return ChildSpec(
            id=f"{template.id}-{self.dynamic_count}",
            start=template.start,
            args=(*template.args, *extra_args),
            kwargs=template.kwargs,
            restart=template.restart,
            shutdown=template.shutdown,
            type=template.type,
            wait_ready=template.wait_ready,
            start_timeout=template.start_timeout,
        )

    def _owned_fds(self) -> list[int]:
        fds = [self.wake_r.fileno(), self.wake_w.fileno()]
        if self.parent is not None:
            fds.append(self.parent.fileno())
        for fd in (self.app_pidfd, self.guardian.pidfd if self.guardian else None):
            if fd is not None:
                fds.append(fd)
        for slot in self.slots:
            if slot.proc is not None:
                fds.extend(slot.proc.fds())
        return fds

    def _stop_all(self) -> None:
        """Stop every running child in reverse start order, each within its shutdown budget.

        A pool's children are alike and independent, so (as OTP does) they are all asked at
        once and their budgets run side by side instead of one after another."""
        if self.spec.strategy == "simple_one_for_one":
            running = [slot for slot in reversed(self.slots) if slot.proc is not None]
            for slot in running:
                assert slot.proc is not None
                slot.proc.ask_to_stop()
        for slot in reversed(self.slots):
            if slot.proc is not None and self.spec.strategy == "simple_one_for_one":
                slot.proc.finish_stop()
                slot.proc = None
                slot.status = "stopped"
            else:
                self._stop_slot(slot)

    def _stop_slot(self, slot: Slot) -> None:
        if slot.proc is not None:
            slot.proc.stop()
            slot.proc = None
        slot.status = "stopped"

    def _tell_parent(self, message: dict[str, Any]) -> None:
        if self.parent is None:
            return
        try:
            self.parent.send_bytes(codec.pack(message))
        except OSError:
            self.parent = None

    # ---------------------------------------------------------------- the loop
    def _loop(self) -> None:
        while True:
            watched: list[Any] = [self.wake_r]
            by_pidfd: dict[int, Slot] = {}
            by_conn: dict[Connection, Slot] = {}
            for slot in self.slots:
                if slot.proc is not None and slot.proc.pidfd is not None:
                    by_pidfd[slot.proc.pidfd] = slot
                    if slot.proc.conn is not None:
                        by_conn[slot.proc.conn] = slot
            watched += [*by_pidfd, *by_conn]
            if self.parent is not None:
                watched.append(self.parent)
            extra = [self.app_pidfd, self.guardian.pidfd if self.guardian else None]
            watched += [fd for fd in extra if fd is not None]
            # Pending restarts wait for nothing, but deaths come first: a child that failed to
            # start because a sibling died must not be retried before that death is handled.
            timeout = 0 if self.retry else _ORPHAN_SWEEP if self.is_root else None
            ready = wait(watched, timeout=timeout)
            self._handle_ready(ready, by_pidfd, by_conn)
            if self.retry:
                group, reason = self.retry.popleft()
                self._count_restart(group[0], reason)
                self._start_group(group)

    def _handle_ready(
        self, ready: list[Any], by_pidfd: dict[int, Slot], by_conn: dict[Connection, Slot]
    ) -> None:
        if self.app_pidfd is not None and self.app_pidfd in ready:
            print("antsup: the application died; killing the tree", file=sys.stderr)
            assert self.guardian is not None
            kernel.kill_session(os.getsid(0), exclude={os.getpid(), self.guardian.pid})
            os._exit(1)
        if self.wake_r in ready:
            with contextlib.suppress(BlockingIOError):
                self.wake_r.recv(4096)
        while self.signals:
            if self.signals.popleft() in (signal.SIGTERM, signal.SIGINT):
                raise _Exit(EXIT_OK)
        for conn, slot in by_conn.items():
            if conn in ready and slot.proc is not None:
                self.relay(slot.proc.read_message())  # children's chatter; a last reason is kept
        for pidfd, slot in by_pidfd.items():
            if pidfd in ready and slot.proc is not None and slot.proc.pidfd == pidfd:
                self._on_child_exit(slot)
        if self.guardian is not None:
            if self.guardian.pidfd in ready:
                self.guardian.reap_and_restart()
            known = {s.proc.pid for s in self.slots if s.proc} | multiprocessing_helpers()
            kernel.reap_adopted(known | {self.guardian.pid})
        if self.parent is not None and self.parent in ready:
            self._serve_request()

    def _serve_request(self) -> None:
        assert self.parent is not None
        try:
            request = codec.unpack(self.parent.recv_bytes())
        except (EOFError, OSError):
            self.parent = None  # the parent let go of us: orderly shutdown
            raise _Exit(EXIT_OK) from None
        if isinstance(request, dict):
            self._tell_parent(control.handle(self, request))

    # ---------------------------------------------------------------- restarts
    def _on_child_exit(self, slot: Slot) -> None:
        assert slot.proc is not None
        pid, code = slot.proc.pid, slot.proc.reap_dead()
        self._report_exit(slot.id, pid, code)
        if code != 0:
            self._tree_event("child:crash", slot, pid, kernel.describe_exit(code))
        reason = f"child {slot.id!r} {slot.proc.last_reason or kernel.describe_exit(code)}"
        slot.proc = None
        slot.status = "stopped"
        restart = slot.spec.restart
        if restart == "temporary" or (restart == "transient" and code == 0):
            if restart == "temporary" or self.spec.strategy == "simple_one_for_one":
                self.slots.remove(slot)
            return
        self._count_restart(slot, reason)
        self._start_group(self._restart_group(slot))

    def relay(self, message: dict[str, Any] | None) -> None:
        """Pass a nested supervisor's tree events up, towards the application."""
        if message is not None and message.get("event") == "tree_event":
            self._tell_parent(message)

    def _tree_event(self, name: str, slot: Slot, pid: int, exit: str | None = None) -> None:
        role = slot.id.rsplit("-", 1)[0] if self.spec.strategy == "simple_one_for_one" else slot.id
        data = {"supervisor": self.ctx.id, "id": slot.id, "role": role, "pid": pid}
        if exit is not None:
            data["exit"] = exit
        self._tell_parent({"event": "tree_event", "name": name, "data": data})

    def _report_exit(self, child_id: str, pid: int, code: int | None) -> None:
        """Tell the spec's exit_report socket how a child ended; never blocks, drops on error."""
        if self.spec.exit_report is None:
            return
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
            out.setblocking(False)
            out.sendto(codec.pack([child_id, pid, code]), self.spec.exit_report)

    def _count_restart(self, slot: Slot, reason: str) -> None:
        if not self.intensity.record():
            self._stop_all()
            why = (
                f"{reason}; more than {self.spec.max_restarts} restarts in {self.spec.max_seconds}s"
            )
            self._tell_parent({"event": "escalated", "reason": why})
            raise _Exit(EXIT_ESCALATED)

    def _restart_group(self, failed: Slot) -> list[Slot]:
        """The children the strategy restarts, in start order; the others it stops first."""
        if self.spec.strategy in ("one_for_one", "simple_one_for_one"):
            return [failed]
        index = self.slots.index(failed)
        affected = self.slots if self.spec.strategy == "one_for_all" else self.slots[index:]
        group = [s for s in affected if s is failed or s.proc is not None]
        for slot in reversed(group):
            if slot is not failed:
                self._stop_slot(slot)
                if slot.spec.restart == "temporary":
                    self.slots.remove(slot)
        return [s for s in group if s is failed or s.spec.restart != "temporary"]

    def _start_group(self, group: list[Slot]) -> None:
        for slot in group:
            slot.status = "restarting"
        for i, slot in enumerate(group):
            try:
                slot.proc = ChildProcess.start(slot.spec, self.spec.start_method, self._owned_fds())
            except ChildStartFailed as exc:
                self.retry.append((group[i:], exc.reason))
                return
            slot.status = "running"
            slot.restarts += 1
            self._tree_event("child:restart", slot, slot.proc.pid)

    # ---------------------------------------------------------------- calls
    def find(self, child_id: str) -> Slot | None:
        return next((s for s in self.slots if s.id == child_id), None)

    def own_node(self, name: str) -> dict[str, Any]:
        """This supervisor as a tree node (its parent fills in its restarts)."""
        me = psutil.Process()
        with me.oneshot():
            rss = me.memory_info().rss
            uptime = max(0.0, time.time() - me.create_time())
        return {"id": name, "pid": os.getpid(), "type": "supervisor", "status": "running",
                "restarts": 0, "cpu_percent": None, "rss": rss, "uptime": uptime,
                "strategy": self.spec.strategy}  # fmt: skip


def run_supervisor(ctx: ChildContext, spec: SupervisorSpec) -> int:
    """Entry of a nested supervisor child (called by the child bootstrap)."""
    return Supervisor(spec, ctx, app_pid=None).run()


def root_main(spec: SupervisorSpec, conn: Connection, app_pid: int) -> None:
    """Entry of the root supervisor process started by antsup.supervisor.start()."""
    os.setsid()
    kernel.become_subreaper()
    if not kernel.is_alive(app_pid):
        os._exit(1)
    ctx = ChildContext("root", app_pid, conn)
    sys.exit(Supervisor(spec, ctx, app_pid=app_pid).run())
