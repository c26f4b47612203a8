"""Replay: every payload of the journal, in order, read without ever writing.

Safe while the writer has the directory open: every live file is opened before the first one is
read, so a compaction that removes them meanwhile does not disturb the read (an open file stays
readable after unlink), and a record being written at the end shows up as a torn tail, which is
skipped quietly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path

from antsup.journal.framing import (
    FILE_HEADER_BYTES,
    SEGMENT_HEADER,
    RecordScan,
    check_file_header,
    snapshot_records,
)
from antsup.journal.layout import Layout, check_continuity, scan_layout

_OPEN_ATTEMPTS = 5


def read_journal(directory: str | Path) -> Iterator[bytes]:
    """Yield every payload: the newest snapshot's, then those of the segments after it.

    Stops quietly at a torn tail of the last segment; raises JournalCorrupt(path, offset) for a
    bad record anywhere else (payloads before it have already been yielded).
    """
    layout, files = _open_live_files(Path(directory))
    with contextlib.ExitStack() as stack:
        for handle in files:
            stack.callback(handle.close)
        check_continuity(layout)
        handles = iter(files)
        if layout.snapshot is not None:
            snapshot = next(handles)
            yield from snapshot_records(snapshot.read(), snapshot.name)
        segments = list(handles)
        for index, handle in enumerate(segments):
            yield from segment_records(handle.read(), handle.name, index == len(segments) - 1)


def segment_records(data: bytes, path: str, last: bool) -> RecordScan:
    """Check a segment's header and return a scan of its records (torn tail allowed if last)."""
    if not check_file_header(data, path, SEGMENT_HEADER, may_be_torn=last):
        return RecordScan(data, path, len(data), len(data), last=True)
    return RecordScan(data, path, FILE_HEADER_BYTES, len(data), last)


def _open_live_files(directory: Path) -> tuple[Layout, list[BufferedReader]]:
    """Open every live file, listing again if a compaction removed one between list and open."""
    if not directory.exists():
        return scan_layout_empty(directory), []
    for attempt in range(_OPEN_ATTEMPTS):
        layout = scan_layout(directory)
        opened: list[BufferedReader] = []
        try:
            for path in layout.live_paths():
                opened.append(open(path, "rb"))  # noqa: SIM115 - closed by the caller
        except FileNotFoundError:
            for handle in opened:
                handle.close()
            if attempt == _OPEN_ATTEMPTS - 1:
                raise
            continue
        return layout, opened
    raise AssertionError("unreachable")


def scan_layout_empty(directory: Path) -> Layout:
    return Layout(directory, None, [])
