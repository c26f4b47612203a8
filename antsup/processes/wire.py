"""Messages over multiprocessing connections: msgpack payloads with a size limit, never pickle.

Message shapes (every message is a msgpack array whose first item names it):

client -> queue manager   [op, *args]            reply ["ok", value] | ["err", kind, message]
                          ["insert", worker, queue, max_attempts, scheduled_at, unique, opts,
                           [packed args, ...]]   one job per args: what perform_many shares
                                                 is sent once; reply [now, [id | record, ...]]
                          ["subscribe"]          then ["subscribed"], ["events", [[name, data]]]
worker -> queue manager   ["hello", pid, capacity, held_ids, outcomes]   once, on (re)connect
                          ["out", outcomes]      outcome = [id, "done", result]
                                                 | [id, "fail", error, stack, retry_in | None]
                          ["draining", waiting_ids]  retiring: take these back, send no more
queue manager -> worker   ["run", [run_wire, ...], acknowledged_outcome_ids]
queue manager -> persistence  ["append", seq, payload]  ["sync", seq]
                              ["snapshot", seq, [payload, ...], is_last]
persistence -> queue manager  ["ack", seq]  ["error", seq, message]

`is_worker_message` checks what a worker sends before the queue manager acts on it.
"""

from __future__ import annotations

import select
from multiprocessing.connection import Connection
from typing import Any

from antsup.codec import MAX_MESSAGE_BYTES, pack, unpack
from antsup.core import NewJob, Status, Unique


def send(conn: Connection, message: Any) -> None:
    conn.send_bytes(pack(message))


def recv(conn: Connection) -> Any:
    """Receive one message; raises EOFError or OSError when the peer is gone or sent a
    truncated frame, DecodeError on garbage."""
    return unpack(conn.recv_bytes(MAX_MESSAGE_BYTES))


def readable(conn: Connection, timeout: float = 0.0) -> bool:
    """Whether a message (or EOF) is waiting: `Connection.poll` builds a whole selector per
    call, which shows in the profile of every loop that asks this once per message."""
    return bool(select.select([conn.fileno()], [], [], max(0.0, timeout))[0])


def _is_ids(value: Any) -> bool:
    return type(value) is list and all(type(item) is int for item in value)


def _is_outcome(value: Any) -> bool:
    if type(value) is not list or not value or type(value[0]) is not int:
        return False
    if len(value) == 3:
        return bool(value[1] == "done")
    return (
        len(value) == 5
        and value[1] == "fail"
        and type(value[2]) is str
        and (value[3] is None or type(value[3]) is str)
        and (value[4] is None or type(value[4]) in (int, float))
    )


def is_worker_message(message: Any) -> bool:
    """A worker is trusted (it passed the authkey) but never allowed to crash us by mistake."""
    if type(message) is not list or len(message) < 2:
        return False
    kind = message[0]
    if kind == "out":
        return len(message) == 2 and type(message[1]) is list and all(map(_is_outcome, message[1]))
    if kind == "draining":
        return len(message) == 2 and _is_ids(message[1])
    if kind == "hello":
        return (
            len(message) == 5
            and type(message[1]) is int
            and type(message[2]) is int
            and bool(message[2] >= 1)
            and _is_ids(message[3])
            and type(message[4]) is list
            and all(map(_is_outcome, message[4]))
        )
    return False


def insert_template(
    worker: str,
    queue: str,
    max_attempts: int,
    scheduled_at: float | None,
    unique: list[Any] | None,
    opts: dict[str, Any] | None,
) -> NewJob:
    """What an insert request's shared fields ask for, as the job every packed args fills in
    (`Machine.insert_many`); `unique` travels as [keys | None, [status, ...]]."""
    unique_spec = None
    if unique is not None:
        keys, statuses = unique
        unique_spec = Unique(keys, tuple(Status(status) for status in statuses))
    return NewJob(worker, queue, b"", max_attempts, scheduled_at, unique_spec, opts)
