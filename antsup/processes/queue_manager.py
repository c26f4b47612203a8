"""The queue manager process: owns every job's state and moves bytes around the pure Machine.

One invariant makes crashes boring: nothing leaves this process (a reply to a client, a job sent
to a worker) before the events that caused it are acknowledged by the persistence process. So
whatever the outside world saw is in the journal, and a restarted queue manager that replays the
journal agrees with everything the world was told.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Client, Connection, wait
from typing import Any

from antsup.codec import pack, unpack
from antsup.config import Config, read_authkey
from antsup.core import Event, Machine, Retention, default_backoff
from antsup.errors import DecodeError
from antsup.journal import read_journal
from antsup.processes import requests
from antsup.processes.exits import ExitReports
from antsup.processes.listener import AuthListener
from antsup.processes.peers import WorkerPeer
from antsup.processes.signals import StopSignal
from antsup.processes.wire import recv, send
from antsup.supervisor import ChildContext

Action = Callable[[], None]

#: Seconds a worker that was running jobs before a queue manager restart has to say hello.
RECONNECT_GRACE = 5.0
#: Seconds between retention sweeps.
PRUNE_INTERVAL = 1.0
#: Seconds to wait for the pool supervisor to say how a worker that was running jobs ended.
EXIT_REPORT_WAIT = 2.0


def run(ctx: ChildContext, config_wire: dict[str, Any]) -> None:
    """Entry point (child spec `antsup.processes.queue_manager:run`, wait_ready=True)."""
    config = Config.from_wire(config_wire)
    stop = StopSignal()
    authkey = read_authkey(config.data_path)
    machine = Machine(
        queues=config.queues, retention=Retention(**config.retention)
    )  # replay below may add queues and change limits; the configured limits win after it
    journal: JournalLink | None = None
    if config.storage == "disk":
        journal = JournalLink(connect(config.persistence_address, authkey))
        journal.barrier()
        replay(machine, config)
    events: list[Event] = []
    for name, limit in config.queues.items():
        events += machine.scale_queue(name, limit)
    exits = ExitReports(config.exit_report_address)
    listener = AuthListener(config.address, authkey)
    manager = QueueManager(config, machine, journal, listener, stop, exits)
    manager.pending_events += events
    manager.adopt_running_jobs()
    ctx.notify_ready()
    try:
        manager.loop()
    finally:
        listener.close()
        exits.close()


def connect(address: str, authkey: bytes, timeout: float = 1.0) -> Connection:
    """Connect to a sibling's socket, waiting briefly: the supervisor starts persistence first,
    so a missing socket means it just died, and failing lets the supervisor restart it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(address, family="AF_UNIX", authkey=authkey)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # polling a socket path that does not exist yet: nothing to wait on


def replay(machine: Machine, config: Config) -> int:
    """Fold the journal into `machine`; returns the number of events applied."""
    count = 0
    for payload in read_journal(config.journal_dir):
        batch = unpack(payload)
        if not isinstance(batch, list):
            raise DecodeError("a journal record is not a list of events")
        for event in batch:
            machine.apply(event)
        count += len(batch)
    machine.tick(time.time())
    return count


class JournalLink:
    """The queue manager's side of the persistence pipe: numbered batches, in-order acks."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seq = 0
        self.acked = 0
        self.bytes_since_snapshot = 0
        self.error: str | None = None

    def append(self, events: list[Event]) -> int:
        self.seq += 1
        payload = pack(events)
        self.bytes_since_snapshot += len(payload)
        send(self.conn, ["append", self.seq, payload])
        return self.seq

    def barrier(self) -> None:
        """Wait until everything sent so far is written (also: the writer opened the journal)."""
        self.seq += 1
        send(self.conn, ["sync", self.seq])
        while self.acked < self.seq:
            self.receive()

    def snapshot(self, events: Any) -> None:
        """Send the whole state as a snapshot, streamed in chunks, and wait until it is written."""
        self.seq += 1
        chunk: list[bytes] = []
        for event in events:
            chunk.append(pack([event]))
            if len(chunk) >= 16:
                send(self.conn, ["snapshot", self.seq, chunk, False])
                chunk = []
        send(self.conn, ["snapshot", self.seq, chunk, True])
        while self.acked < self.seq:
            self.receive()
        self.bytes_since_snapshot = 0

    def receive(self) -> None:
        """Read one message: raises EOFError if the persistence process died."""
        message = recv(self.conn)
        if message[0] == "ack":
            self.acked = max(self.acked, message[1])
            self.error = None
        elif message[0] == "error":
            self.error = str(message[2])


class QueueManager:
    def __init__(
        self,
        config: Config,
        machine: Machine,
        journal: JournalLink | None,
        listener: AuthListener,
        stop: StopSignal,
        exits: ExitReports,
    ) -> None:
        self.config = config
        self.exits = exits
        self.machine = machine
        self.journal = journal
        self.listener = listener
        self.stop = stop
        self.workers: dict[Connection, WorkerPeer] = {}
        self.clients: set[Connection] = set()
        #: Events of the current iteration, and what to do once they are durable.
        self.pending_events: list[Event] = []
        self.pending_actions: list[Action] = []
        #: Sent to the journal, waiting for its ack: (seq, actions).
        self.in_flight: deque[tuple[int, list[Action]]] = deque()
        #: Running jobs found by replay whose worker has not said hello yet: pid -> deadline.
        self.awaited_pids: dict[int, float] = {}
        self.timeouts: list[tuple[float, int, int]] = []  # (deadline, job id, pid)
        #: Workers gone while running jobs, waiting for their exit report: pid -> deadline.
        self.dead_peers: dict[int, tuple[WorkerPeer, float]] = {}
        self.next_due: float | None = None
        self.next_prune = 0.0
        self.throughput: deque[tuple[float, int]] = deque(maxlen=64)
        self.finished_total = 0
        #: Restarts seen from here (a worker that died without draining), by role.
        self.restarts: dict[str, int] = {}
        #: Set when the tree is stopping: no new job goes out.
        self.quiesced = False

    # ---- the loop ---------------------------------------------------------------------

    def loop(self) -> None:
        while not self.stop.requested:
            ready: list[Any] = wait(self._sources(), self._timeout())
            now = time.time()
            for source in ready:
                self._on_ready(source, now)
            self._housekeeping(time.time())
            self._flush()
        self._shutdown()

    def _sources(self) -> list[Any]:
        sources: list[Any] = [self.listener, self.listener.wakeup_fd, self.stop, self.exits]
        if self.journal is not None:
            sources.append(self.journal.conn)
        sources.extend(self.workers)
        sources.extend(self.clients)
        return sources

    def _timeout(self) -> float:
        now = time.time()
        candidates = [self.next_prune - now, 1.0]
        if self.next_due is not None:
            candidates.append(self.next_due - now)
        if self.timeouts:
            candidates.append(self.timeouts[0][0] - now)
        if self.awaited_pids:
            candidates.append(min(self.awaited_pids.values()) - time.monotonic())
        if self.dead_peers:
            candidates.append(min(at for _, at in self.dead_peers.values()) - time.monotonic())
        return max(0.0, min(candidates))

    def _on_ready(self, source: Any, now: float) -> None:
        if source is self.stop:
            self.stop.drain()
        elif source is self.listener:
            self.listener.accept_pending()
        elif source is self.listener.wakeup_fd:
            self.clients.update(self.listener.ready())
        elif source is self.exits:
            for pid in self.exits.receive():
                if pid in self.dead_peers:
                    self._fail_crashed(self.dead_peers.pop(pid)[0], now)
        elif self.journal is not None and source is self.journal.conn:
            self._on_journal()
        elif source in self.workers:
            self._drain_peer(source, self.workers[source], now)
        elif source in self.clients:
            self._drain_client(source, now)

    def _on_journal(self) -> None:
        assert self.journal is not None
        while True:
            self.journal.receive()  # EOFError: persistence died; we crash and are restarted
            while self.in_flight and self.in_flight[0][0] <= self.journal.acked:
                for action in self.in_flight.popleft()[1]:
                    action()
            if not self.journal.conn.poll(0):
                return

    # ---- durability ---------------------------------------------------------------------

    def after_durable(self, action: Action) -> None:
        """Run `action` once everything recorded so far is in the journal."""
        self.pending_actions.append(action)

    def record(self, events: list[Event]) -> None:
        self.pending_events += events

    def _flush(self) -> None:
        """Send this iteration's events as one journal batch; release what waited on them."""
        if not self.pending_events and not self.pending_actions:
            return
        events, actions = self.pending_events, self.pending_actions
        self.pending_events, self.pending_actions = [], []
        if self.journal is None:
            for action in actions:
                action()
            return
        if events:
            self.in_flight.append((self.journal.append(events), actions))
        elif self.in_flight:
            self.in_flight[-1][1].extend(actions)
        else:
            for action in actions:
                action()

    # ---- clients ------------------------------------------------------------------------

    def _drain_client(self, conn: Connection, now: float) -> None:
        try:
            while True:
                message = recv(conn)
                if isinstance(message, list) and message and message[0] == "hello":
                    self._become_worker(conn, message, now)
                    return
                requests.handle(self, conn, message, now)
                if not conn.poll(0):
                    return
        except (EOFError, OSError, DecodeError):
            self.clients.discard(conn)
            conn.close()

    def reply(self, conn: Connection, value: Any) -> None:
        """Answer a client once the state it reflects is durable."""

        def send_reply() -> None:
            if conn in self.clients:
                try:
                    send(conn, value)
                except OSError:
                    self.clients.discard(conn)

        self.after_durable(send_reply)

    # ---- workers ------------------------------------------------------------------------

    def _become_worker(self, conn: Connection, hello: list[Any], now: float) -> None:
        """["hello", pid, slots, running_ids, outcomes]: a worker (re)connected."""
        self.clients.discard(conn)
        _, pid, slots, running_ids, outcomes = hello
        peer = WorkerPeer(conn, pid, slots, self.config.threads)
        self.workers[conn] = peer
        self.awaited_pids.pop(pid, None)
        claimed = set(running_ids) | {outcome[0] for outcome in outcomes}
        mine = {job.id for job in self.machine.running_jobs(pid)}
        for job_id in running_ids:
            if job_id in mine:
                peer.outstanding[job_id] = None
        self.record(self.machine.put_back(sorted(mine - claimed), now))
        self._on_outcomes(peer, outcomes, now)

    def _drain_peer(self, conn: Connection, peer: WorkerPeer, now: float) -> None:
        try:
            while True:
                message = recv(conn)
                if message[0] == "out":
                    self._on_outcomes(peer, message[1], now)
                elif message[0] == "draining":
                    peer.draining = True
                    for job_id in message[1]:
                        peer.outstanding.pop(job_id, None)
                    self.record(self.machine.put_back(message[1], now))
                if not conn.poll(0):
                    return
        except (EOFError, OSError, DecodeError):
            self._worker_gone(peer, time.time())

    def _on_outcomes(self, peer: WorkerPeer, outcomes: list[list[Any]], now: float) -> None:
        done: list[tuple[int, Any]] = []
        failed: list[tuple[int, str, str | None, float]] = []
        for outcome in outcomes:
            job_id = outcome[0]
            peer.outstanding.pop(job_id, None)
            if outcome[1] == "done":
                done.append((job_id, outcome[2]))
            else:
                job = self.machine.get(job_id)
                retry_in = outcome[4]
                if retry_in is None:
                    retry_in = default_backoff(job.attempts if job else 1)
                failed.append((job_id, outcome[2], outcome[3], float(retry_in)))
        self.record(self.machine.complete(done, now))
        self.record(self.machine.fail(failed, now))
        self.finished_total += len(outcomes)
        self._track_starts(peer, now)
        ids = [outcome[0] for outcome in outcomes]
        if ids:
            self.after_durable(partial(peer.send, ["ack", ids]))

    def _worker_gone(self, peer: WorkerPeer, now: float) -> None:
        """A worker's connection closed: it exited, crashed, or was killed for a timeout."""
        self.workers.pop(peer.conn, None)
        peer.conn.close()
        running, waiting = peer.running_and_waiting()
        if peer.draining:
            self.record(self.machine.put_back(running + waiting, now))
            return
        self.restarts["worker"] = self.restarts.get("worker", 0) + 1
        self.record(self.machine.put_back(waiting, now))
        self.exits.receive()
        if peer.timed_out is not None or not running or self.exits.has(peer.pid):
            self._fail_crashed(peer, now)
        else:  # its running jobs fail once we know how it died (or after EXIT_REPORT_WAIT)
            self.dead_peers[peer.pid] = (peer, time.monotonic() + EXIT_REPORT_WAIT)

    def _fail_crashed(self, peer: WorkerPeer, now: float) -> None:
        """Fail the attempt of each job that was running in a dead worker; put back the others."""
        how = self.exits.pop(peer.pid) or "exit status unknown"
        running, _ = peer.running_and_waiting()
        failed: list[tuple[int, str, str | None, float]] = []
        put_back = []
        for job_id in running:
            job = self.machine.get(job_id)
            if job is None or job.worker_pid != peer.pid:
                continue  # finished, cancelled or deleted meanwhile
            if peer.timed_out is not None and job_id != peer.timed_out:
                put_back.append(job_id)  # killed along with the job that timed out
                continue
            if job_id == peer.timed_out:
                error = f"job timed out after {(job.opts or {}).get('timeout')} s"
            else:
                error = f"worker process {peer.pid} died ({how}) while running the job"
            failed.append((job_id, error, None, default_backoff(job.attempts)))
        self.record(self.machine.put_back(put_back, now))
        self.record(self.machine.fail(failed, now))

    def adopt_running_jobs(self) -> None:
        """After a restart: running jobs wait for their worker to reconnect, or fail if it died."""
        now = time.time()
        by_pid: dict[int, list[int]] = {}
        for job in self.machine.running_jobs():
            by_pid.setdefault(job.worker_pid or 0, []).append(job.id)
        for pid, ids in by_pid.items():
            if pid and _alive(pid):
                self.awaited_pids[pid] = time.monotonic() + RECONNECT_GRACE
            else:
                self._fail_orphans(ids, pid, now)

    def _fail_orphans(self, ids: list[int], pid: int, now: float) -> None:
        failures = []
        for job_id in ids:
            job = self.machine.get(job_id)
            if job is not None:
                error = f"worker process {pid} was gone when the queue manager restarted"
                failures.append((job_id, error, None, default_backoff(job.attempts)))
        self.record(self.machine.fail(failures, now))

    # ---- timers, dispatch ---------------------------------------------------------------

    def _housekeeping(self, now: float) -> None:
        self.next_due = self.machine.tick(now)
        for pid, (peer, deadline) in list(self.dead_peers.items()):
            if time.monotonic() >= deadline:
                del self.dead_peers[pid]
                self._fail_crashed(peer, now)
        for pid, deadline in list(self.awaited_pids.items()):
            if time.monotonic() >= deadline:
                del self.awaited_pids[pid]
                self._fail_orphans([job.id for job in self.machine.running_jobs(pid)], pid, now)
        self._check_timeouts(now)
        if now >= self.next_prune:
            self.record(self.machine.prune(now))
            self.next_prune = now + PRUNE_INTERVAL
            self.throughput.append((now, self.finished_total))
        self._dispatch(now)
        self._maybe_compact()

    def _dispatch(self, now: float) -> None:
        if self.quiesced:
            return
        peers = sorted(self.workers.values(), key=lambda p: p.free(), reverse=True)
        for peer in peers:
            free = peer.free()
            if free <= 0:
                continue
            records, events = self.machine.dispatch(free, peer.pid, now)
            if not records:
                return
            self.record(events)
            for record in records:
                peer.outstanding[record.id] = None
            self._track_starts(peer, now)
            wires = [record.to_wire() for record in records]
            self.after_durable(partial(peer.send, ["run", wires]))

    def _track_starts(self, peer: WorkerPeer, now: float) -> None:
        """Jobs that just moved into the worker's running slots start their timeout clock."""
        for job_id in peer.mark_started(now):
            job = self.machine.get(job_id)
            timeout = (job.opts or {}).get("timeout") if job else None
            if timeout:
                heapq.heappush(self.timeouts, (now + float(timeout), job_id, peer.pid))

    def _check_timeouts(self, now: float) -> None:
        while self.timeouts and self.timeouts[0][0] <= now:
            _, job_id, pid = heapq.heappop(self.timeouts)
            peer = next((p for p in self.workers.values() if p.pid == pid), None)
            if peer is None or job_id not in peer.outstanding or peer.timed_out is not None:
                continue
            peer.timed_out = job_id
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # the attempt fails when its connection closes

    def _maybe_compact(self) -> None:
        journal = self.journal
        if journal is None or journal.bytes_since_snapshot < self.config.compact_bytes:
            return
        self._flush()
        journal.snapshot(self.machine.snapshot())
        self._release_acked()

    def _release_acked(self) -> None:
        assert self.journal is not None
        while self.in_flight and self.in_flight[0][0] <= self.journal.acked:
            for action in self.in_flight.popleft()[1]:
                action()

    def _shutdown(self) -> None:
        """Orderly stop: make what we promised durable, compact the journal, say goodbye."""
        self._flush()
        if self.journal is None:
            return
        try:
            self.journal.barrier()
            self._release_acked()
            self.journal.snapshot(self.machine.snapshot())
        except (EOFError, OSError):
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
