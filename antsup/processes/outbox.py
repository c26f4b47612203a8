"""Messages to one peer, sent by a thread of their own.

The queue manager must never wait for a peer that is slow to read: a worker deep in a long job
does not read its socket (and a job with large args fills it), and an application's event
handler may block. Each such peer gets an outbox: the queue manager drops messages in and goes
on; the outbox's thread does the blocking sends, in order. A bounded outbox (event
subscribers) loses what it cannot hold, counted and logged, rather than grow without end.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from multiprocessing.connection import Connection
from typing import Any

from antsup.processes.wire import send

log = logging.getLogger("antsup.events")

#: Batches of events a subscriber may fall behind before it starts losing them.
SUBSCRIBER_BACKLOG = 1000


class Outbox:
    def __init__(self, conn: Connection, backlog: int = 0) -> None:
        """`backlog`: most messages held (0: no limit, for peers whose traffic is bounded)."""
        self.conn = conn
        self.dropped = 0
        self.closed = False
        self._queue: queue.Queue[list[Any] | None] = queue.Queue(backlog)
        self._thread = threading.Thread(target=self._send_all, daemon=True)
        self._thread.start()

    def offer(self, message: list[Any]) -> None:
        """Queue a message without ever blocking; lose it if a bounded outbox is full."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
                log.warning("a peer is too slow to read: %d messages lost", self.dropped)

    def _send_all(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                send(self.conn, message)
            except (OSError, ValueError):  # gone, or its connection was closed meanwhile
                self.closed = True
                return

    def close(self) -> None:
        """Stop sending and close the connection (the thread ends on its next message)."""
        self.closed = True
        with contextlib.suppress(queue.Full):  # a full queue: the thread is stuck on the socket,
            self._queue.put_nowait(None)  # and closing it below frees it
        self.conn.close()


def subscription_outbox(conn: Connection) -> Outbox:
    """An application's event subscription: bounded, and told first that it is registered."""
    outbox = Outbox(conn, SUBSCRIBER_BACKLOG)
    outbox.offer(["subscribed"])
    return outbox
