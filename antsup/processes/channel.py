"""Messages to and from one peer, without ever waiting for it.

The queue manager is one thread serving everyone, so it must never block on a peer that is
slow to read: a worker deep in a long job does not read its socket (and a job with large args
fills it), an application's event handler may block, a client may send requests without
reading the replies. Each peer gets a Channel: a message is written at once as far as the
socket takes it (MSG_DONTWAIT, so the socket itself stays blocking for the peer's reads), the
rest waits here, and the loop finishes it when poll says the socket is writable.

No threads: a sender thread per peer would compete with the loop for the GIL, and that handoff
cost more than all the sends together.

Reading is the mirror image: one non-blocking read takes everything waiting and every whole
message in it is decoded, so a busy queue manager pays one system call for a burst of
messages, and a peer that sends half a message and stops holds up nobody.

Frames are those of `multiprocessing.connection` (a 4-byte big-endian length, then the bytes),
so the peer uses a plain `Connection` at its end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

from antsup.codec import MAX_MESSAGE_BYTES, pack, unpack
from antsup.errors import DecodeError

log = logging.getLogger("antsup.queue_manager")

_HEADER = struct.Struct("!i")
_FLAGS = socket.MSG_DONTWAIT | socket.MSG_NOSIGNAL
#: Payloads larger than this are queued as header and payload, not copied into one frame.
_COPY_LIMIT = 64 * 1024
#: Bytes asked for per read.
_READ_SIZE = 256 * 1024


class Channel:
    """Ordered, never-blocking writes to one connection, and reads of whole messages.

    `backlog` bounds how many messages may wait (0: no bound). When it is reached, a `lossy`
    sender drops the new message (counted and logged: event subscribers, whose traffic is
    best-effort), any other sender gives up on the peer and closes (a client that does not
    read its replies). `closed` then tells the owner to drop the peer and `close()` it.
    """

    def __init__(self, conn: Connection, backlog: int = 0, lossy: bool = False) -> None:
        self.conn = conn
        self.backlog = backlog
        self.lossy = lossy
        self.dropped = 0
        self.closed = False
        self._socket = socket.socket(fileno=os.dup(conn.fileno()))
        #: Pieces not yet written, each with whether a message ends with it.
        self._waiting: deque[tuple[bytes | memoryview, bool]] = deque()
        self._messages_waiting = 0
        self._inbox = bytearray()
        #: A malformed message was read: the peer is refused once the messages before it are in.
        self._garbage: DecodeError | None = None

    def set_backlog(self, backlog: int, lossy: bool = False) -> None:
        """Change the bound (a client connection that turns out to be a worker or an event
        subscriber keeps its channel, and whatever it already buffered)."""
        self.backlog, self.lossy = backlog, lossy

    def fileno(self) -> int:
        return self.conn.fileno()

    @property
    def waiting(self) -> bool:
        """Whether bytes wait for the socket to become writable."""
        return bool(self._waiting)  # emptied when the channel stops

    def offer(self, message: Any) -> None:
        """Send `message` now as far as the socket allows; keep the rest for `flush`."""
        if self.closed:
            return
        if self.backlog and self._messages_waiting >= self.backlog:
            self._full()
            return
        payload = pack(message)
        header = _HEADER.pack(len(payload))
        if len(payload) <= _COPY_LIMIT:
            self._waiting.append((header + payload, True))
        else:
            self._waiting.append((header, False))
            self._waiting.append((payload, True))
        self._messages_waiting += 1
        self.flush()

    def flush(self) -> None:
        """Write what waits until the socket would block (or the peer is gone)."""
        waiting = self._waiting
        while waiting and not self.closed:
            piece, ends_message = waiting[0]
            try:
                sent = self._socket.send(piece, _FLAGS)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the peer is gone, or the socket failed: either way this ends it
                self._stop()
                with contextlib.suppress(OSError):  # so the reading side sees the end too
                    self._socket.shutdown(socket.SHUT_RDWR)
                return
            if sent < len(piece):
                waiting[0] = (memoryview(piece)[sent:], ends_message)
                return
            waiting.popleft()
            self._messages_waiting -= ends_message

    def receive(self) -> list[Any]:
        """Every whole message that has arrived, without blocking (maybe none: the rest of a
        message is still on its way). Raises EOFError once the peer has closed and everything
        it sent was returned, DecodeError on a malformed or oversized message."""
        closed = False
        while True:
            try:
                chunk = self._socket.recv(_READ_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # reset by a peer killed mid-conversation
                closed = True
                break
            if not chunk:
                closed = True
                break
            self._inbox += chunk
            if len(chunk) < _READ_SIZE:
                break
        messages = self._whole_messages()
        if self._garbage is not None and not messages:
            raise self._garbage
        if closed and not messages:
            raise EOFError("the peer closed the connection")
        return messages

    def _whole_messages(self) -> list[Any]:
        """Decode the whole messages buffered; at a bad one, keep the error for the next call
        (the good messages before it are returned first: a worker's outcomes are real)."""
        inbox = self._inbox
        messages: list[Any] = []
        start = 0
        try:
            while self._garbage is None and len(inbox) - start >= _HEADER.size:
                (size,) = _HEADER.unpack_from(inbox, start)
                if not 0 <= size <= MAX_MESSAGE_BYTES:
                    raise DecodeError(f"a message of {size} bytes is over the limit")
                end = start + _HEADER.size + size
                if end > len(inbox):
                    break
                messages.append(unpack(inbox[start + _HEADER.size : end]))
                start = end
        except DecodeError as exc:
            self._garbage = exc
        del inbox[:start]
        return messages

    def close(self) -> None:
        """Stop sending and close the connection."""
        self._stop()
        if self._socket.fileno() >= 0:
            self._socket.close()  # our duplicate of the descriptor
            self.conn.close()

    def _stop(self) -> None:
        self.closed = True
        self._waiting.clear()

    def _full(self) -> None:
        if not self.lossy:
            log.warning("a client sent requests without reading the replies: disconnected")
            self._stop()
            return
        self.dropped += 1
        if self.dropped in (1, 100, 10_000):
            log.warning("an event subscriber is too slow to read: %d messages lost", self.dropped)
