"""Event subscribers of the queue manager: each fed by its own sender thread.

A subscriber is an application's handler thread; if it blocks, its socket fills up. The queue
manager must never wait for it, so events go into a bounded queue per subscriber that a
sender thread drains; when that queue is full the subscriber is too slow and loses events
(counted and logged), never the tree its time.
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
BACKLOG = 1000


class Subscriber:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dropped = 0
        self.closed = False
        self._queue: queue.Queue[list[Any] | None] = queue.Queue(BACKLOG)
        self._thread = threading.Thread(target=self._send_all, daemon=True)
        self._thread.start()
        self.offer(["subscribed"])

    def offer(self, message: list[Any]) -> None:
        """Queue a message without ever blocking; lose it if the subscriber is too far behind."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
                log.warning("an event subscriber is too slow: %d batches lost", self.dropped)

    def _send_all(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                send(self.conn, message)
            except OSError:
                self.closed = True
                return

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(queue.Full):  # a full queue: the thread is stuck on the socket,
            self._queue.put_nowait(None)  # and closing it below frees it
        self.conn.close()
