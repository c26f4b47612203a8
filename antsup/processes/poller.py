"""Waiting on many connections without rebuilding a selector each time.

`multiprocessing.connection.wait()` creates and fills a new selector on every call. The queue
manager waits thousands of times a second on a set that rarely changes, so it keeps one
`select.poll` object and rebuilds it only when the set of sources changes. It also waits for
sockets to become writable, for senders with bytes left over (see `channel.py`).
"""

from __future__ import annotations

import math
import select
from typing import Any

_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR
_WRITABLE = select.POLLOUT | select.POLLHUP | select.POLLERR
#: A closed descriptor (POLLNVAL) is reported to its reader, whose read then fails and cleans up.
_SEEN_AS_READABLE = _READABLE | select.POLLNVAL


class Poller:
    def __init__(self) -> None:
        self._poll = select.poll()
        self._sources: list[Any] = []
        self._writers: list[Any] = []
        self._readers_by_fd: dict[int, Any] = {}
        self._writers_by_fd: dict[int, Any] = {}

    def wait(self, sources: list[Any], timeout: float | None) -> list[Any]:
        """The sources (objects with fileno(), or fds) that are readable or closed."""
        return self.poll(sources, [], timeout)[0]

    def poll(
        self, sources: list[Any], writers: list[Any], timeout: float | None
    ) -> tuple[list[Any], list[Any]]:
        """(sources readable or closed, writers writable or closed). A reader and a writer may
        share a file descriptor (a socket read by one object and written by another)."""
        if sources != self._sources or writers != self._writers:
            self._register(sources, writers)
        millis = None if timeout is None else math.ceil(max(0.0, timeout) * 1000)
        readable, writable = [], []
        for fd, events in self._poll.poll(millis):
            if events & _SEEN_AS_READABLE and fd in self._readers_by_fd:
                readable.append(self._readers_by_fd[fd])
            if events & _WRITABLE and fd in self._writers_by_fd:
                writable.append(self._writers_by_fd[fd])
        return readable, writable

    def _register(self, sources: list[Any], writers: list[Any]) -> None:
        self._poll = select.poll()
        self._readers_by_fd = {_fd(source): source for source in sources}
        self._writers_by_fd = {_fd(writer): writer for writer in writers}
        for fd in self._readers_by_fd.keys() | self._writers_by_fd.keys():
            mask = _READABLE if fd in self._readers_by_fd else 0
            if fd in self._writers_by_fd:
                mask |= _WRITABLE
            self._poll.register(fd, mask)
        self._sources, self._writers = list(sources), list(writers)


def _fd(source: Any) -> int:
    return source if isinstance(source, int) else int(source.fileno())
