"""Messages over multiprocessing connections: msgpack payloads with a size limit, never pickle.

Message shapes (every message is a msgpack array whose first item names it):

client -> queue manager   [op, *args]            reply ["ok", value] | ["err", kind, message]
                          ["subscribe"]          then ["subscribed"], ["events", [[name, data]]]
worker -> queue manager   ["hello", pid, capacity, held_ids, outcomes]   once, on (re)connect
                          ["out", outcomes]      outcome = [id, "done", result]
                                                 | [id, "fail", error, stack, retry_in | None]
                          ["draining", waiting_ids]  retiring: take these back, send no more
queue manager -> worker   ["run", [run_wire, ...], acknowledged_outcome_ids]
queue manager -> persistence  ["append", seq, payload]  ["sync", seq]
                              ["snapshot", seq, [payload, ...], is_last]
persistence -> queue manager  ["ack", seq]  ["error", seq, message]
"""

from __future__ import annotations

import select
from multiprocessing.connection import Connection
from typing import Any

from antsup.codec import MAX_MESSAGE_BYTES, pack, unpack


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
