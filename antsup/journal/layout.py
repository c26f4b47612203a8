"""Which files of a data directory make up the journal, and in what order.

`snapshot-K.snap` holds the live state as it was before `segment-K.log`. The live journal is the
newest snapshot (if any) followed by the segments numbered K, K+1, ... with no gap. Older
snapshots and segments numbered below K are stale leftovers of a compaction that crashed before
removing them; they are ignored by readers and removed by the writer.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from antsup.errors import JournalCorrupt

SEGMENT_RE = re.compile(r"^segment-(\d{12})\.log$")
SNAPSHOT_RE = re.compile(r"^snapshot-(\d{12})\.snap$")
TMP_SUFFIX = ".tmp"


def segment_name(number: int) -> str:
    return f"segment-{number:012d}.log"


def snapshot_name(number: int) -> str:
    return f"snapshot-{number:012d}.snap"


@dataclass(frozen=True)
class Layout:
    """The journal files found in a directory, split into live and stale."""

    directory: Path
    snapshot: int | None
    segments: list[int]
    stale: list[Path] = field(default_factory=list)
    temporary: list[Path] = field(default_factory=list)

    @property
    def first_segment(self) -> int:
        """The number the first live segment has (or will have when created)."""
        return self.snapshot if self.snapshot is not None else 0

    def snapshot_path(self) -> Path | None:
        if self.snapshot is None:
            return None
        return self.directory / snapshot_name(self.snapshot)

    def segment_paths(self) -> list[Path]:
        return [self.directory / segment_name(n) for n in self.segments]

    def live_paths(self) -> list[Path]:
        snapshot = self.snapshot_path()
        return ([snapshot] if snapshot else []) + self.segment_paths()


def scan_layout(directory: Path) -> Layout:
    """List `directory` and sort its journal files into live, stale and temporary."""
    snapshots: list[int] = []
    segments: list[int] = []
    temporary: list[Path] = []
    for name in os.listdir(directory):
        if match := SEGMENT_RE.match(name):
            segments.append(int(match.group(1)))
        elif match := SNAPSHOT_RE.match(name):
            snapshots.append(int(match.group(1)))
        elif name.endswith(TMP_SUFFIX) and name.startswith("snapshot-"):
            temporary.append(directory / name)
    snapshots.sort()
    segments.sort()
    newest = snapshots[-1] if snapshots else None
    first = newest if newest is not None else 0
    stale = [directory / snapshot_name(n) for n in snapshots[:-1]]
    stale += [directory / segment_name(n) for n in segments if n < first]
    live = [n for n in segments if n >= first]
    return Layout(directory, newest, live, stale, temporary)


def check_continuity(layout: Layout) -> None:
    """Raise JournalCorrupt if a live segment is missing (a gap would silently lose events)."""
    expected = layout.first_segment
    for number in layout.segments:
        if number != expected:
            missing = layout.directory / segment_name(expected)
            raise JournalCorrupt(str(missing), 0, "segment file missing from the journal")
        expected += 1
