"""When a worker process should retire: too much memory now, or enough jobs run.

Memory is the *current* resident size (/proc/self/statm, a few microseconds to read), read
before every job and by a watchdog thread while a job runs, not the peak size after the fact.
A worker that grew past the limit finishes what it runs, hands back what waits, exits, and the
pool starts a fresh one. No job fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

#: Seconds between two readings of the watchdog (while a job runs).
CHECK_INTERVAL = 0.25
_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemoryWatch:
    def __init__(self, limit: int | None, wake: Callable[[], None]) -> None:
        self.limit = limit
        self.exceeded = False
        self._wake = wake
        if limit is not None:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
            threading.Thread(target=self._watchdog, name="antsup-memory", daemon=True).start()

    def rss(self) -> int:
        """Resident bytes now (the second field of /proc/self/statm, in pages)."""
        return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE

    def over(self) -> bool:
        """Before a job: is the process over its limit?"""
        if self.limit is not None and not self.exceeded:
            self.exceeded = self.rss() > self.limit
        return self.exceeded

    def _watchdog(self) -> None:
        assert self.limit is not None
        while True:
            time.sleep(CHECK_INTERVAL)  # a periodic reading, not synchronisation
            if self.rss() > self.limit:
                self.exceeded = True
                self._wake()
