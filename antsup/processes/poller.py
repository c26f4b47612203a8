"""Waiting on many connections without rebuilding a selector each time.

`multiprocessing.connection.wait()` creates and fills a new selector on every call. The queue
manager waits thousands of times a second on a set that rarely changes, so it keeps one
`select.poll` object and rebuilds it only when the set of sources changes.
"""

from __future__ import annotations

import math
import select
from typing import Any

_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


class Poller:
    def __init__(self) -> None:
        self._poll = select.poll()
        self._sources: list[Any] = []
        self._by_fd: dict[int, Any] = {}

    def wait(self, sources: list[Any], timeout: float | None) -> list[Any]:
        """The sources (objects with fileno(), or fds) that are readable or closed."""
        if sources != self._sources:
            self._poll = select.poll()
            self._by_fd = {}
            for source in sources:
                fd = source if isinstance(source, int) else source.fileno()
                self._by_fd[fd] = source
                self._poll.register(fd, _READABLE)
            self._sources = list(sources)
        millis = None if timeout is None else math.ceil(max(0.0, timeout) * 1000)
        return [self._by_fd[fd] for fd, _ in self._poll.poll(millis)]
