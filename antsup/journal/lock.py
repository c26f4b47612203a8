"""One tree per data directory: an exclusive flock on <dir>/LOCK.

flock is released by the kernel when its holder dies, even by SIGKILL, so a crashed tree never
leaves a stale lock behind. The pid written into the file is only there to name the holder in
the error message. Note: a child forked while the lock is held shares the open file and keeps the
lock alive until it exits too (the fd is close-on-exec, so exec'd children do not).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from antsup.errors import DataDirLocked

LOCK_FILE = "LOCK"


class DataDirLock:
    """Exclusive, non-blocking lock of a data directory, held until `release` or process death."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise DataDirLocked naming the process that holds it."""
        if self._fd is not None:
            raise RuntimeError("DataDirLock already acquired by this object")
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DataDirLocked(
                f"data directory {self.directory} is in use by process {holder}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (the LOCK file stays; it is harmless without the flock)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"
