"""`verify` and `repair`: find the first damage in a journal, and set everything after it aside.

Both check more than replay does: every payload must also decode as msgpack. Repair never
deletes: the damaged file's rest and every later file are moved into <dir>/damaged-<timestamp>/.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from antsup.codec import unpack
from antsup.errors import DecodeError, JournalCorrupt
from antsup.journal.framing import (
    FILE_HEADER_BYTES,
    FRAME_HEADER_BYTES,
    SNAPSHOT_HEADER,
    RecordScan,
    frame_all,
    snapshot_footer,
    snapshot_records,
)
from antsup.journal.layout import (
    TMP_SUFFIX,
    Layout,
    check_continuity,
    scan_layout,
)
from antsup.journal.lock import DataDirLock
from antsup.journal.reader import segment_records
from antsup.journal.writer import fsync_directory, write_all


@dataclass(frozen=True)
class Damage:
    """Where the journal first goes wrong."""

    path: str
    offset: int
    reason: str


@dataclass(frozen=True)
class JournalReport:
    """What `verify` or `repair` found: `ok` is False when there is damage (a torn tail is fine)."""

    records: int
    bytes: int
    files: tuple[str, ...]
    damage: Damage | None
    torn_tail_bytes: int
    moved_aside: str | None = None

    @property
    def ok(self) -> bool:
        return self.damage is None


@dataclass
class _Walk:
    layout: Layout
    records: int = 0
    bytes: int = 0
    torn_tail_bytes: int = 0
    damage: Damage | None = None


def verify(directory: str | Path) -> JournalReport:
    """Read every live file of the journal and report the first damage, if any (read-only)."""
    walk = _walk(Path(directory))
    return _report(walk)


def _report(walk: _Walk, moved_aside: str | None = None) -> JournalReport:
    files = tuple(str(path) for path in walk.layout.live_paths())
    return JournalReport(
        walk.records, walk.bytes, files, walk.damage, walk.torn_tail_bytes, moved_aside
    )


def _walk(directory: Path) -> _Walk:
    walk = _Walk(scan_layout(directory) if directory.exists() else Layout(directory, None, []))
    layout = walk.layout
    try:
        check_continuity(layout)
    except JournalCorrupt as exc:
        walk.damage = Damage(exc.path, exc.offset, exc.reason)
    segments = layout.segment_paths()
    for path in layout.live_paths():
        is_snapshot = path == layout.snapshot_path()
        if walk.damage is not None and not is_snapshot and path.name >= Path(walk.damage.path).name:
            break
        data = path.read_bytes()
        last = bool(segments) and path == segments[-1]
        good = 0
        try:
            if is_snapshot:
                scan = snapshot_records(data, str(path))
            else:
                scan = segment_records(data, str(path), last)
            offset = scan.start
            for payload in scan:
                try:
                    unpack(payload)
                except DecodeError as exc:
                    raise JournalCorrupt(
                        str(path), offset, f"payload is not msgpack: {exc}"
                    ) from exc
                offset += FRAME_HEADER_BYTES + len(payload)
                good += 1
            walk.torn_tail_bytes += scan.torn_bytes
        except JournalCorrupt as exc:
            walk.damage = Damage(exc.path, exc.offset, exc.reason)
            walk.records += good
            walk.bytes += exc.offset if exc.path == str(path) else 0
            break
        walk.records += good
        walk.bytes += len(data)
    return walk


def repair(directory: str | Path) -> JournalReport:
    """Keep everything before the first damage; move the rest aside; return the new report.

    Takes the directory's lock (raises DataDirLocked while a tree is using it).
    """
    directory = Path(directory)
    with DataDirLock(directory):
        walk = _walk(directory)
        if walk.damage is None:
            return _report(walk)
        aside = _aside_directory(directory)
        _set_aside(walk, aside)
        fsync_directory(aside)
        fsync_directory(directory)
        return _report(_walk(directory), moved_aside=str(aside))


def _aside_directory(directory: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    candidate = directory / f"damaged-{stamp}"
    suffix = 1
    while candidate.exists():
        candidate = directory / f"damaged-{stamp}-{suffix}"
        suffix += 1
    candidate.mkdir()
    return candidate


def _set_aside(walk: _Walk, aside: Path) -> None:
    assert walk.damage is not None
    layout, damage = walk.layout, walk.damage
    damaged = Path(damage.path)
    if damaged == layout.snapshot_path():
        _cut_snapshot(damaged, damage.offset, aside)
        later = layout.segment_paths()
    else:
        if damaged.exists():
            _cut_segment(damaged, damage.offset, aside)
        later = [path for path in layout.segment_paths() if path.name > damaged.name]
    for path in later:
        os.rename(path, aside / path.name)


def _cut_segment(path: Path, offset: int, aside: Path) -> None:
    """Move bytes from `offset` on into `aside`; the whole file if its header is bad."""
    if offset < FILE_HEADER_BYTES:
        os.rename(path, aside / path.name)
        return
    _copy_rest(path, offset, aside / f"{path.name}.from-{offset}")
    with open(path, "r+b") as handle:
        handle.truncate(offset)
        os.fsync(handle.fileno())


def _cut_snapshot(path: Path, offset: int, aside: Path) -> None:
    """Move the snapshot aside and write one holding only its whole records before `offset`."""
    data = path.read_bytes()
    os.rename(path, aside / path.name)
    if data[:FILE_HEADER_BYTES] != SNAPSHOT_HEADER:
        return
    kept: list[bytes] = []
    position = FILE_HEADER_BYTES
    try:
        for payload in RecordScan(data, str(path), FILE_HEADER_BYTES, len(data), last=True):
            if position >= offset:
                break
            kept.append(payload)
            position += FRAME_HEADER_BYTES + len(payload)
    except JournalCorrupt:
        pass  # the damage itself: everything before it is in `kept`
    rebuilt = SNAPSHOT_HEADER + frame_all(kept) + snapshot_footer(len(kept))
    tmp = path.with_name(path.name + TMP_SUFFIX)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, rebuilt)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _copy_rest(path: Path, offset: int, target: Path) -> None:
    with open(path, "rb") as source, open(target, "wb") as out:
        source.seek(offset)
        shutil.copyfileobj(source, out)
        out.flush()
        os.fsync(out.fileno())
