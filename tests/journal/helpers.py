"""Small helpers shared by the journal tests."""

from __future__ import annotations

import os
from pathlib import Path

from antsup.codec import pack
from antsup.journal import Journal


def payloads(count: int, start: int = 0, size: int = 20) -> list[bytes]:
    """Distinct msgpack payloads, so a replay can be compared record by record."""
    return [pack([start + i, "x" * size]) for i in range(count)]


def write_journal(directory: Path, batches: list[list[bytes]], **options: object) -> None:
    journal = Journal.open(directory, **options)  # type: ignore[arg-type]
    for batch in batches:
        journal.append(batch)
    journal.close()


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("segment-*.log"))


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, size: int) -> None:
    os.truncate(path, size)


def record_offsets(path: Path) -> list[int]:
    """Byte offset of each record in a segment (12-byte frame header + payload)."""
    data = path.read_bytes()
    offsets, position = [], 8
    while position < len(data):
        offsets.append(position)
        position += 12 + int.from_bytes(data[position : position + 4], "little")
    return offsets
