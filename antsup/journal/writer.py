"""The journal's single writer: frames payloads, appends them, rotates segments, compacts.

The writer never decodes payloads; it only frames and writes them. `append` does not fsync the
records it writes (only, once per segment, a finished segment before rotating): the owner decides
when (`sync_due` + `sync`), which gives group commit in "always" mode (many records, one fsync)
and a bounded loss window in "interval" mode.
The owner must hold the directory's `DataDirLock`: nothing here guards against a second writer.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal

from antsup.errors import JournalWriteError
from antsup.journal.framing import (
    FILE_HEADER_BYTES,
    SEGMENT_HEADER,
    SNAPSHOT_FOOTER_BYTES,
    SNAPSHOT_HEADER,
    check_file_header,
    check_snapshot_ends,
    frame_all,
    snapshot_footer,
)
from antsup.journal.layout import (
    TMP_SUFFIX,
    check_continuity,
    scan_layout,
    segment_name,
    snapshot_name,
)
from antsup.journal.reader import segment_records

FsyncMode = Literal["always", "interval", "never"]
FSYNC_MODES: tuple[FsyncMode, ...] = ("always", "interval", "never")

_SNAPSHOT_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC


def fsync_directory(directory: Path) -> None:
    """Make file creations, renames and removals in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` (os.write may write less than asked, e.g. just before a disk fills)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError("os.write wrote nothing")
        view = view[written:]


def _file_ends(path: Path) -> tuple[bytes, bytes, int]:
    """A file's header bytes, its snapshot-footer-sized last bytes, and its size."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, FILE_HEADER_BYTES, 0)
        tail = os.pread(fd, SNAPSHOT_FOOTER_BYTES, max(0, size - SNAPSHOT_FOOTER_BYTES))
    finally:
        os.close(fd)
    return head, tail, size


class Journal:
    """Append-only writer of one data directory's journal. Build it with `Journal.open`."""

    def __init__(
        self,
        directory: Path,
        fsync: FsyncMode,
        segment_bytes: int,
        fsync_interval: float,
        clock: Callable[[], float],
    ) -> None:
        if fsync not in FSYNC_MODES:
            raise ValueError(f"fsync must be one of {FSYNC_MODES}, not {fsync!r}")
        self.directory = directory
        self._mode: FsyncMode = fsync
        self._segment_bytes = segment_bytes
        self._interval = fsync_interval
        self._clock = clock
        self._number = 0
        self._fd: int | None = None
        self._size = 0
        self._closed_bytes = 0
        self._unsynced_since: float | None = None
        self._directory_dirty = False
        self._tail_dirty_at: int | None = None

    @classmethod
    def open(
        cls,
        directory: str | Path,
        fsync: FsyncMode = "interval",
        segment_bytes: int = 64 * 2**20,
        fsync_interval: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> Journal:
        """Open (creating if needed) the journal in `directory`, checking what it appends to.

        Checks the layout, the snapshot's header and footer, each segment's header and every
        record of the last segment, cutting a torn tail off it; raises JournalCorrupt for any
        other defect found there. The records before the last segment are not read: the queue
        manager reads them all right after (replay), and raises JournalCorrupt for a bad one.
        """
        journal = cls(Path(directory), fsync, segment_bytes, fsync_interval, clock)
        journal._recover()
        return journal

    @property
    def fsync_mode(self) -> FsyncMode:
        return self._mode

    @property
    def segment_number(self) -> int:
        """Number of the segment being appended to."""
        return self._number

    def _recover(self) -> None:
        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True)
        layout = scan_layout(directory)
        for leftover in layout.temporary:
            leftover.unlink(missing_ok=True)
        check_continuity(layout)
        snapshot = layout.snapshot_path()
        if snapshot is not None:
            head, tail, size = _file_ends(snapshot)
            check_snapshot_ends(head, tail, size, str(snapshot))
            self._closed_bytes += size
        good_end = 0
        paths = layout.segment_paths()
        for path in paths[:-1]:
            head, _, size = _file_ends(path)
            check_file_header(head, str(path), SEGMENT_HEADER, may_be_torn=False)
            self._closed_bytes += size
        if paths:
            scan = segment_records(paths[-1].read_bytes(), str(paths[-1]), last=True)
            for _ in scan:
                pass
            good_end = scan.end if scan.start == FILE_HEADER_BYTES else 0
        for stale in layout.stale:
            stale.unlink(missing_ok=True)
        if layout.stale or layout.temporary:
            fsync_directory(directory)
        if not paths:
            self._open_new_segment(layout.first_segment)
            return
        self._number = layout.segments[-1]
        self._fd = os.open(paths[-1], _OPEN_FLAGS)
        if good_end == 0:
            os.ftruncate(self._fd, 0)
            write_all(self._fd, SEGMENT_HEADER)
            good_end = FILE_HEADER_BYTES
        elif os.fstat(self._fd).st_size != good_end:
            os.ftruncate(self._fd, good_end)
        self._size = good_end
        self._mark_unsynced()

    def _open_new_segment(self, number: int) -> None:
        """Create segment `number` with its header and make it the current one."""
        path = self.directory / segment_name(number)
        fd = os.open(path, _OPEN_FLAGS | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, SEGMENT_HEADER)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        self._fd, self._number, self._size = fd, number, FILE_HEADER_BYTES
        self._directory_dirty = True
        self._mark_unsynced()

    def _mark_unsynced(self) -> None:
        if self._unsynced_since is None:
            self._unsynced_since = self._clock()

    def append(self, payloads: Sequence[bytes]) -> None:
        """Frame and write `payloads` in one write; on failure leave the file as it was before.

        Raises JournalWriteError (disk full, I/O error); a later append may then succeed.
        """
        if not payloads:
            return
        fd = self._current_fd()
        data = frame_all(payloads)
        before = self._size
        try:
            write_all(fd, data)
        except OSError as exc:
            self._roll_back(fd, before)
            raise JournalWriteError(exc.errno, f"journal append failed: {exc}") from exc
        self._size = before + len(data)
        self._mark_unsynced()
        if self._size >= self._segment_bytes:
            self._rotate()

    def _current_fd(self) -> int:
        """The fd to append to, first repairing what an earlier failure may have left behind."""
        try:
            if self._fd is None:
                self._open_new_segment(self._number)
            assert self._fd is not None
            if self._tail_dirty_at is not None:
                os.ftruncate(self._fd, self._tail_dirty_at)
                self._tail_dirty_at = None
        except OSError as exc:
            raise JournalWriteError(exc.errno, f"journal not writable: {exc}") from exc
        return self._fd

    def _roll_back(self, fd: int, size: int) -> None:
        try:
            os.ftruncate(fd, size)
        except OSError:
            self._tail_dirty_at = size  # retried before the next append

    def _rotate(self) -> None:
        """Start the next segment, once the finished one is durable (except in "never" mode).

        Syncing first keeps the rule "only the last segment can have a torn tail" true after a
        power failure; it costs one fsync per segment. If that fsync or the creation fails, the
        current segment simply grows and rotation is retried after the next append.
        """
        old, old_size = self._fd, self._size
        assert old is not None
        try:
            if self._mode != "never":
                os.fsync(old)
            self._open_new_segment(self._number + 1)
        except OSError:
            return
        self._closed_bytes += old_size
        os.close(old)

    def sync_due(self, now: float) -> bool:
        """Whether the owner should call `sync` now (always: any unsynced data; never: no)."""
        deadline = self.sync_deadline
        return deadline is not None and now >= deadline

    @property
    def sync_deadline(self) -> float | None:
        """When the unsynced data must be fsynced (None if nothing is waiting or mode is never)."""
        if self._unsynced_since is None or self._mode == "never":
            return None
        if self._mode == "always":
            return self._unsynced_since
        return self._unsynced_since + self._interval

    def sync(self) -> None:
        """fsync what was appended (and the directory after a rotation). No-op in "never" mode."""
        if self._mode == "never":
            self._unsynced_since = None
            return
        try:
            if self._fd is not None and self._unsynced_since is not None:
                os.fsync(self._fd)
            if self._directory_dirty:
                fsync_directory(self.directory)
                self._directory_dirty = False
        except OSError as exc:
            raise JournalWriteError(exc.errno, f"journal fsync failed: {exc}") from exc
        self._unsynced_since = None

    def size_on_disk(self) -> int:
        """Bytes of the live snapshot and segments, so the owner can decide when to compact."""
        return self._closed_bytes + self._size

    def write_snapshot(self, payloads: Iterable[bytes]) -> None:
        """Replace the whole journal by a snapshot of `payloads` (the full live state).

        Steps, each crash-safe: write snapshot-K.snap.tmp and fsync it; rename it to
        snapshot-K.snap (from here on replay uses it and ignores older files); create an empty
        segment-K.log; remove the older segments and snapshot. K is the current segment + 1.
        """
        number = self._number + 1
        final = self.directory / snapshot_name(number)
        tmp = final.with_name(final.name + TMP_SUFFIX)
        size = self._write_snapshot_file(tmp, payloads)
        try:
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise JournalWriteError(exc.errno, f"journal snapshot failed: {exc}") from exc
        # From here on replay uses the new snapshot, so nothing may be appended to the old
        # segments any more, even if a step below fails (the next append retries the segment).
        self._drop_open_segments()
        self._number, self._size, self._closed_bytes = number, 0, size
        self._unsynced_since = None
        try:
            fsync_directory(self.directory)
            fd = self._current_fd()
            os.fsync(fd)
            fsync_directory(self.directory)
        except OSError as exc:
            raise JournalWriteError(exc.errno, f"journal segment creation failed: {exc}") from exc
        self._directory_dirty = False
        self._unsynced_since = None
        self._remove_replaced()

    def _write_snapshot_file(self, tmp: Path, payloads: Iterable[bytes]) -> int:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            count, size, batch, batch_bytes = 0, FILE_HEADER_BYTES, [], 0
            write_all(fd, SNAPSHOT_HEADER)
            for payload in payloads:
                batch.append(payload)
                batch_bytes += len(payload)
                if batch_bytes >= _SNAPSHOT_CHUNK:
                    size += self._write_batch(fd, batch)
                    count, batch, batch_bytes = count + len(batch), [], 0
            size += self._write_batch(fd, batch)
            footer = snapshot_footer(count + len(batch))
            write_all(fd, footer)
            os.fsync(fd)
        except BaseException as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(exc, OSError):
                raise JournalWriteError(exc.errno, f"journal snapshot failed: {exc}") from exc
            raise
        os.close(fd)
        return size + len(footer)

    @staticmethod
    def _write_batch(fd: int, batch: list[bytes]) -> int:
        data = frame_all(batch)
        write_all(fd, data)
        return len(data)

    def _drop_open_segments(self) -> None:
        """Close the old segments' fds without fsync: the snapshot now stands in for them."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._tail_dirty_at = None

    def _remove_replaced(self) -> None:
        """Remove what the new snapshot replaces; a failure only leaves stale files behind."""
        layout = scan_layout(self.directory)
        with contextlib.suppress(OSError):
            for stale in layout.stale:
                stale.unlink(missing_ok=True)
            fsync_directory(self.directory)

    def close(self) -> None:
        """Sync (unless mode is never) and close; the Journal cannot be used afterwards."""
        try:
            if self._fd is not None:
                self.sync()
        finally:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
