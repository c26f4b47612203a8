"""The persistence process: the journal's only writer.

It frames and appends what the queue manager sends without decoding it, commits in groups (all
messages waiting in the pipe share one write and, with fsync="always", one fsync), then
acknowledges the last sequence number written. The queue manager shows nothing to the outside
world before that acknowledgement, so what was acknowledged is on disk.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from antsup.config import Config, read_authkey
from antsup.errors import DecodeError, JournalWriteError
from antsup.journal import Journal
from antsup.logs import forward_logs
from antsup.processes.listener import AuthListener
from antsup.processes.poller import Poller
from antsup.processes.signals import StopSignal
from antsup.processes.wire import readable, recv, send
from antsup.supervisor import ChildContext


def run(ctx: ChildContext, config_wire: dict[str, Any]) -> None:
    """Entry point (child spec `antsup.processes.persistence:run`, wait_ready=True)."""
    config = Config.from_wire(config_wire)
    forward_logs(config.log_address, "persistence", config.log_level)
    stop = StopSignal()
    journal = Journal.open(config.journal_dir, fsync=config.fsync)
    listener = AuthListener(config.persistence_address, read_authkey(config.data_path))
    ctx.notify_ready()
    try:
        Persistence(journal, listener, stop).loop()
    finally:
        listener.close()
        journal.close()


#: Seconds between retries of a write that failed (disk full): the data waits in memory.
RETRY_INTERVAL = 1.0


class Persistence:
    def __init__(self, journal: Journal, listener: AuthListener, stop: StopSignal) -> None:
        self.journal = journal
        self.listener = listener
        self.stop = stop
        self.conn: Connection | None = None
        self.poller = Poller()
        #: Received but not yet written (a write failed): retried, never dropped.
        self.unwritten: list[bytes] = []
        self.unwritten_seq: int | None = None

    def loop(self) -> None:
        while True:
            ready = self.poller.wait(self._sources(), self._timeout())
            if self.stop in ready:
                self.stop.drain()
            if self.listener in ready:
                self.listener.accept_pending()
            if self.listener.wakeup_fd in ready:
                for conn in self.listener.ready():
                    self._switch_to(conn)
            if self.conn is not None and self.conn in ready and not self._serve(self.conn):
                self.conn.close()
                self.conn = None
            self._commit(self.conn)
            if self.stop.requested and not self.unwritten and self._idle():
                return  # the queue manager stops before us: what it sent is written

    def _idle(self) -> bool:
        return self.conn is None or not readable(self.conn)

    def _sources(self) -> list[Any]:
        sources: list[Any] = [self.listener, self.listener.wakeup_fd, self.stop]
        if self.conn is not None:
            sources.append(self.conn)
        return sources

    def _timeout(self) -> float | None:
        if self.unwritten:
            return RETRY_INTERVAL
        deadline = self.journal.sync_deadline
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _switch_to(self, conn: Connection) -> None:
        """A (re)started queue manager: finish what the old one sent, then serve the new one."""
        if self.conn is not None:
            while self._serve(self.conn):
                pass
            self._commit(None)
            self.conn.close()
        self.conn = conn

    def _serve(self, conn: Connection) -> bool:
        """Take every message waiting on `conn`; False once the peer is gone."""
        try:
            while True:
                message = recv(conn)
                kind = message[0]
                if kind == "append":
                    self.unwritten.append(message[2])
                    self.unwritten_seq = message[1]
                elif kind == "snapshot":
                    self._commit(conn)
                    if self.unwritten:  # cannot compact past data not yet written
                        send(conn, ["error", message[1], "snapshot refused: journal not writable"])
                        self._skip_snapshot(conn, message)
                    else:
                        self.journal.write_snapshot(self._snapshot_payloads(conn, message))
                        send(conn, ["ack", message[1]])
                elif kind == "sync":
                    self._commit(conn, force_sync=True)
                    send(conn, ["ack", message[1]])
                if not readable(conn):
                    return True
        except (EOFError, OSError, DecodeError):  # killed mid-message, or a message we refuse
            return False

    def _snapshot_payloads(self, conn: Connection, first: list[Any]) -> Iterator[bytes]:
        """Stream a snapshot sent as ["snapshot", seq, [payload, ...], is_last] chunks."""
        message = first
        while True:
            yield from message[2]
            if message[3]:
                return
            message = recv(conn)

    def _skip_snapshot(self, conn: Connection, first: list[Any]) -> None:
        for _ in self._snapshot_payloads(conn, first):
            pass

    def _commit(self, conn: Connection | None, force_sync: bool = False) -> None:
        """Write what waits as one group, sync if due, then acknowledge its last seq."""
        try:
            if self.unwritten:
                self.journal.append(self.unwritten)
            if force_sync or self.journal.sync_due(time.monotonic()):
                self.journal.sync()
        except JournalWriteError as exc:
            if conn is not None and self.unwritten_seq is not None:
                with contextlib.suppress(ConnectionError):
                    send(conn, ["error", self.unwritten_seq, str(exc)])
            return
        seq, self.unwritten, self.unwritten_seq = self.unwritten_seq, [], None
        if conn is not None and seq is not None:
            with contextlib.suppress(ConnectionError):  # written: a new queue manager replays it
                send(conn, ["ack", seq])
