"""SIGTERM/SIGINT as a readable fd, so a process's single wait loop also waits for them."""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType


class StopSignal:
    """Install once per process; `requested` turns True on SIGTERM/SIGINT, `fd` wakes `wait()`."""

    def __init__(self) -> None:
        self.requested = False
        self.count = 0
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        signal.set_wakeup_fd(self._w)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self.count += 1

    def fileno(self) -> int:
        return self._r

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 4096)
