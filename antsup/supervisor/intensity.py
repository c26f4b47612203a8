"""Restart intensity: how many restarts a supervisor tolerates in a sliding window.

This is OTP's MaxR/MaxT rule, kept pure (the clock is injected) so it can be tested exactly.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RestartIntensity:
    """Allows at most `max_restarts` restarts within any `max_seconds` window."""

    def __init__(
        self,
        max_restarts: int,
        max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_restarts < 0 or max_seconds <= 0:
            raise ValueError("max_restarts must be >= 0 and max_seconds > 0")
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._clock = clock
        self._restarts: deque[float] = deque()

    def record(self) -> bool:
        """Count one restart now; False means this one exceeds the intensity (give up)."""
        now = self._clock()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] >= self.max_seconds:
            self._restarts.popleft()
        return len(self._restarts) <= self.max_restarts

    @property
    def recent(self) -> int:
        """How many restarts are inside the current window."""
        now = self._clock()
        return sum(1 for t in self._restarts if now - t < self.max_seconds)
