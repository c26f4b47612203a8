"""The queue manager's side of the journal: numbered batches to the writer, replay on start."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from multiprocessing.connection import Client, Connection
from typing import Any

from antsup.codec import MAX_MESSAGE_BYTES, pack, unpack
from antsup.config import Config
from antsup.core import Event, Machine
from antsup.core.events import split
from antsup.errors import DecodeError
from antsup.journal import read_journal
from antsup.processes.wire import recv, send

#: Largest journal record (and snapshot message) the queue manager sends, well under the
#: 64 MiB every message and record is limited to.
RECORD_BYTES = MAX_MESSAGE_BYTES // 4


def _records(events: list[Event]) -> Iterator[bytes]:
    """`events` packed as one record, or as several if that would exceed RECORD_BYTES."""
    payload = pack(events)
    halves = split(events) if len(payload) > RECORD_BYTES else None
    if halves is None:
        yield payload  # small enough, or one job's own data: bounded by the message limit
        return
    for half in halves:
        yield from _records(half)


def connect(address: str, authkey: bytes, timeout: float = 1.0) -> Connection:
    """Connect to the persistence socket, waiting briefly: the supervisor starts persistence
    first, so a missing socket means it just died, and failing lets the supervisor restart it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Client(address, family="AF_UNIX", authkey=authkey)
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)  # polling a socket path that does not exist yet: nothing to wait on


def replay(machine: Machine, config: Config) -> int:
    """Fold the journal into `machine` (the same `apply` as live operation); returns the count.

    The fold allocates a few objects per job and frees almost none, so the cyclic collector
    would only walk the growing table again and again (more than half the time of a
    million-job replay): it is paused during the fold. What the fold built is then moved to
    the collector's permanent generation (`gc.freeze`), so neither the first collections after
    it nor the queue manager's later full collections walk every replayed job again. Frozen
    objects are still freed by reference counting (the machine holds no reference cycle).
    """
    count = 0
    apply = machine.apply
    enabled = gc.isenabled()
    gc.disable()
    try:
        for payload in read_journal(config.journal_dir):
            batch = unpack(payload)
            if not isinstance(batch, list):
                raise DecodeError("a journal record is not a list of events")
            for event in batch:
                apply(event)
            count += len(batch)
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    machine.tick(time.time())
    return count


class JournalLink:
    """Numbered batches to the persistence process; its acks arrive in order."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.seq = 0
        self.acked = 0
        self.bytes_since_snapshot = 0
        self.error: str | None = None

    def append(self, events: list[Event]) -> int:
        """Send `events` as one record (several if they are too large for one); returns the
        sequence number whose acknowledgement means all of them are written."""
        for payload in _records(events):
            self.seq += 1
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
        chunk_bytes = 0
        for event in events:
            for payload in _records([event]):
                if chunk and chunk_bytes + len(payload) > RECORD_BYTES:
                    send(self.conn, ["snapshot", self.seq, chunk, False])
                    chunk, chunk_bytes = [], 0
                chunk.append(payload)
                chunk_bytes += len(payload)
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
