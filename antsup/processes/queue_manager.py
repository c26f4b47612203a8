"""The queue manager process: owns every job's state and moves bytes around the pure Machine.

One invariant makes crashes boring: nothing leaves this process (a reply to a client, a job sent
to a worker, an event to a subscriber) before the events that caused it are acknowledged by the
persistence process. So whatever the outside world saw is in the journal, and a restarted queue
manager that replays the journal agrees with everything the world was told.
"""

from __future__ import annotations

import gc
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from antsup.config import Config, read_authkey
from antsup.core import Event, Machine, Retention
from antsup.errors import DecodeError
from antsup.logs import forward_logs
from antsup.processes import requests
from antsup.processes.channel import Channel
from antsup.processes.exits import ExitReports
from antsup.processes.journal_link import JournalLink, connect, replay
from antsup.processes.listener import AuthListener
from antsup.processes.poller import Poller
from antsup.processes.pool import Pool
from antsup.processes.process_view import ProcessView
from antsup.processes.signals import StopSignal
from antsup.processes.wire import readable
from antsup.supervisor import ChildContext

Action = Callable[[], None]

#: Seconds between retention sweeps.
PRUNE_INTERVAL = 1.0
#: Replies a client may leave unread before it is disconnected (a client waits for each one).
CLIENT_BACKLOG = 10_000
#: Batches of events a subscriber may fall behind before it starts losing them.
SUBSCRIBER_BACKLOG = 1000


def run(ctx: ChildContext, config_wire: dict[str, Any]) -> None:
    """Entry point (child spec `antsup.processes.queue_manager:run`, wait_ready=True)."""
    config = Config.from_wire(config_wire)
    forward_logs(config.log_address, "queue_manager", config.log_level)
    stop = StopSignal()
    authkey = read_authkey(config.data_path)
    machine = Machine(queues=config.queues, retention=Retention(**config.retention))
    journal: JournalLink | None = None
    if config.storage == "disk":
        journal = JournalLink(connect(config.persistence_address, authkey))
        journal.barrier()
        replay(machine, config)
    events: list[Event] = []
    for name, limit in config.queues.items():  # the configured limits win over replayed ones
        events += machine.scale_queue(name, limit)
    exits = ExitReports(config.exit_report_address)
    listener = AuthListener(config.address, authkey)
    manager = QueueManager(config, machine, journal, listener, stop, exits)
    manager.pending_events += events
    manager.pool.adopt_running_jobs(time.time())
    ctx.notify_ready()
    gc.disable()  # see settle_memory
    try:
        manager.loop()
    finally:
        listener.close()
        exits.close()


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
        self.pool = Pool(config, machine, exits, self.record, self.publish)
        self.poller = Poller()
        self.clients: dict[Connection, Channel] = {}
        self.subscribers: dict[Connection, Channel] = {}
        #: Events of the current iteration, and what to do once they are durable.
        self.pending_events: list[Event] = []
        self.pending_actions: list[Action] = []
        self.pending_notices: list[list[Any]] = []
        #: Sent to the journal, waiting for its ack: (seq, actions).
        self.in_flight: deque[tuple[int, list[Action]]] = deque()
        self.next_due: float | None = None
        self.next_prune = 0.0
        self.throughput: deque[tuple[float, int]] = deque(maxlen=64)
        self.process_view = ProcessView()

    # ---- the loop ---------------------------------------------------------------------

    def loop(self) -> None:
        while not self.stop.requested:
            ready, writable = self.poller.poll(self._sources(), self._writers(), self._timeout())
            for channel in writable:
                channel.flush()
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
        sources.extend(self.pool.peers)
        sources.extend(self.clients)
        sources.extend(self.subscribers)
        return sources

    def _writers(self) -> list[Channel]:
        """Channels holding bytes a peer's socket had no room for."""
        writers = [peer.channel for peer in self.pool.peers.values() if peer.channel.waiting]
        writers.extend(channel for channel in self.clients.values() if channel.waiting)
        writers.extend(channel for channel in self.subscribers.values() if channel.waiting)
        return writers

    def _timeout(self) -> float:
        now = time.time()
        candidates = [self.next_prune - now, 1.0]
        if self.next_due is not None:
            candidates.append(self.next_due - now)
        if self.pool.timeouts:
            candidates.append(self.pool.timeouts[0][0] - now)
        deadline = self.pool.next_deadline()
        if deadline is not None:
            candidates.append(deadline - time.monotonic())
        return max(0.0, min(candidates))

    def _on_ready(self, source: Any, now: float) -> None:
        if source is self.stop:
            self.stop.drain()
        elif source is self.listener:
            self.listener.accept_pending()
        elif source is self.listener.wakeup_fd:
            for conn in self.listener.ready():
                self.clients[conn] = Channel(conn, CLIENT_BACKLOG)
        elif source is self.exits:
            self.pool.on_exit_reports(now)
        elif self.journal is not None and source is self.journal.conn:
            self._on_journal()
        elif source in self.pool.peers:
            self.pool.receive(source, now)
        elif source in self.clients:
            self._drain_client(source, now)
        elif source in self.subscribers:
            self._drop_subscriber(source)  # subscribers only listen: readable means closed

    def _on_journal(self) -> None:
        assert self.journal is not None
        while True:
            self.journal.receive()  # EOFError: persistence died; we crash and are restarted
            if self.journal.error is not None:
                self._answer_waiting_clients(self.journal.error)
            self._release_acked()
            if not readable(self.journal.conn):
                return

    # ---- durability ---------------------------------------------------------------------

    def after_durable(self, action: Action) -> None:
        """Run `action` once everything recorded so far is in the journal."""
        self.pending_actions.append(action)

    def record(self, events: list[Event]) -> None:
        self.pending_events += events

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """An event for subscribers, sent with this iteration's batch once it is durable."""
        if self.subscribers:
            self.pending_notices.append([event, data])

    def _flush(self) -> None:
        """Send this iteration's events as one journal batch; release what waited on them."""
        self.pool.flush(self.after_durable)
        if self.pending_notices:
            self.after_durable(self._notify(self.pending_notices))
            self.pending_notices = []
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
        channel = self.clients[conn]
        try:
            messages = channel.receive()
        except (EOFError, DecodeError):
            self._drop_client(conn)
            return
        for index, message in enumerate(messages):
            if isinstance(message, list) and message and message[0] == "hello":
                del self.clients[conn]  # a worker: the pool owns it from now on
                self.pool.connect(channel, message, messages[index + 1 :], now)
                return
            if message == ["subscribe"]:
                del self.clients[conn]  # it only listens from now on
                self.subscribers[conn] = channel
                channel.set_backlog(SUBSCRIBER_BACKLOG, lossy=True)
                channel.offer(["subscribed"])
                self.pool.events_wanted = True
                return
            requests.handle(self, conn, message, now)
            if conn not in self.clients:
                return

    def reply(self, conn: Connection, value: Any) -> None:
        """Answer a client once the state it reflects is durable."""
        self.after_durable(partial(self.answer_now, conn, value))

    def answer_now(self, conn: Connection, value: Any) -> None:
        """Answer a client now (requests that changed nothing need not wait)."""
        channel = self.clients.get(conn)
        if channel is not None:
            channel.offer(value)
            if channel.closed:
                self._drop_client(conn)

    def _drop_client(self, conn: Connection) -> None:
        self.clients.pop(conn).close()

    def _answer_waiting_clients(self, error: str) -> None:
        """The journal refused a write (disk full): clients waiting on it hear so now, rather
        than when space returns. Their change stays in memory and is written then."""
        message = (
            f"the journal cannot be written ({error}): this change is kept in memory and will "
            "be written when space returns, so it may still take effect"
        )
        for _, actions in self.in_flight:
            for i, action in enumerate(actions):
                if isinstance(action, partial) and action.func == self.answer_now:
                    self.answer_now(action.args[0], ["err", "JournalWriteError", message])
                    actions[i] = _nothing

    # ---- subscribers ----------------------------------------------------------------------

    def _notify(self, notices: list[list[Any]]) -> Action:
        def send_notices() -> None:
            for conn, subscriber in list(self.subscribers.items()):
                subscriber.offer(["events", notices])
                if subscriber.closed:
                    self._drop_subscriber(conn)

        return send_notices

    def _drop_subscriber(self, conn: Connection) -> None:
        subscriber = self.subscribers.pop(conn, None)
        if subscriber is not None:
            subscriber.close()
        self.pool.events_wanted = bool(self.subscribers)

    # ---- timers, dispatch ---------------------------------------------------------------

    def _housekeeping(self, now: float) -> None:
        self.next_due = self.machine.tick(now)
        if now >= self.next_prune:
            self.record(self.machine.prune(now))
            self.next_prune = now + PRUNE_INTERVAL
            self.throughput.append((now, self.pool.finished_total))
            settle_memory()
        self.pool.housekeeping(now)
        self._maybe_compact()

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


def settle_memory() -> None:
    """Collect cyclic garbage, then move what survived to the collector's permanent generation.

    The queue manager runs with the automatic collector off and calls this once a second
    instead. The job table holds no reference cycle, yet the automatic collector would walk
    all of it again and again as it grows (a quarter of the time of a bulk enqueue went
    there). Here a collection walks only what the last second allocated; frozen objects are
    still freed by reference counting when the table lets them go."""
    gc.collect()
    gc.freeze()


def _nothing() -> None:
    """Stands in for an action already done another way."""
