"""Record framing: how payloads become bytes in a journal file, and how they are found again.

A file starts with an 8-byte header (7 magic bytes + 1 format-version byte). Each record is a
12-byte frame header followed by the payload:

    length u32 LE | crc32(payload) u32 LE | crc32(first 8 bytes) u32 LE | payload

The header has its own CRC so that a damaged *length* is recognised as damage: without it, a bit
flip in a length field could make every later record look like a torn tail and be dropped.

The torn-tail rule (only ever applied to the LAST segment; everywhere else any defect is
corruption). Let r be the first record at offset o that does not parse cleanly. r is a torn
tail, cut off by ``Journal.open`` and skipped by ``read_journal``, when:

1. the file ends inside r's 12-byte frame header; or
2. r's frame header is valid but its payload runs past the end of the file; or
3. r's frame is complete, its payload CRC fails, and r ends exactly at the end of the file; or
4. every byte from o to the end of the file is zero (space a crash left allocated but unwritten).

Any other defect (bad frame-header CRC followed by non-zero data, a length over the limit, a bad
payload CRC followed by more data, a bad file header) is corruption: ``JournalCorrupt``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from zlib import crc32

from antsup.codec import MAX_MESSAGE_BYTES
from antsup.errors import JournalCorrupt

FORMAT_VERSION = 1
SEGMENT_MAGIC = b"ANTSUPJ"
SNAPSHOT_MAGIC = b"ANTSUPS"
SEGMENT_HEADER = SEGMENT_MAGIC + bytes([FORMAT_VERSION])
SNAPSHOT_HEADER = SNAPSHOT_MAGIC + bytes([FORMAT_VERSION])
FILE_HEADER_BYTES = 8

#: A snapshot ends with this magic and its record count, so a cut-short snapshot is detected
#: even when the cut falls on a record boundary. As a frame header its length would be over the
#: limit, so it can never be mistaken for a record.
SNAPSHOT_FOOTER_MAGIC = b"ANTSEND\x00"
_FOOTER = struct.Struct("<8sQ")
SNAPSHOT_FOOTER_BYTES = _FOOTER.size

_FRAME = struct.Struct("<III")
_LENGTH_AND_CRC = struct.Struct("<II")
FRAME_HEADER_BYTES = _FRAME.size


def frame(payload: bytes) -> bytes:
    """Return the frame header for `payload` (the caller writes header then payload)."""
    head = _LENGTH_AND_CRC.pack(len(payload), crc32(payload))
    return head + crc32(head).to_bytes(4, "little")


def frame_all(payloads: Sequence[bytes]) -> bytes:
    """Frame every payload into one buffer, ready for a single write."""
    pack = _LENGTH_AND_CRC.pack
    parts: list[bytes] = []
    append = parts.append
    for payload in payloads:
        if len(payload) > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"journal payload of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES} bytes"
            )
        head = pack(len(payload), crc32(payload))
        append(head)
        append(crc32(head).to_bytes(4, "little"))
        append(payload)
    return b"".join(parts)


def snapshot_footer(count: int) -> bytes:
    return _FOOTER.pack(SNAPSHOT_FOOTER_MAGIC, count)


def check_file_header(data: bytes, path: str, expected: bytes, may_be_torn: bool) -> bool:
    """Return True if `data` starts with `expected`; False if it is a torn (prefix) header.

    A torn header is only accepted when `may_be_torn` (the last segment, cut while being created).
    """
    head = data[:FILE_HEADER_BYTES]
    if head == expected:
        return True
    if may_be_torn and len(head) < FILE_HEADER_BYTES and expected.startswith(head):
        return False
    if head[:7] == expected[:7] and len(head) == FILE_HEADER_BYTES:
        raise JournalCorrupt(path, 0, f"unsupported journal format version {head[7]}")
    raise JournalCorrupt(path, 0, "bad file header (not an antsup journal file)")


class RecordScan:
    """Iterate the records of one file's bytes; afterwards `end` and `torn_bytes` tell how it ended.

    `end` is the offset just after the last whole record; `torn_bytes` is how many bytes after it
    form a torn tail (only possible with `last=True`).
    """

    def __init__(self, data: bytes, path: str, start: int, stop: int, last: bool) -> None:
        self.data = data
        self.path = path
        self.start = start
        self.stop = stop
        self.last = last
        self.end = start
        self.records = 0
        self.torn_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        data, end = self.data, self.stop
        unpack = _FRAME.unpack_from
        pos = self.start
        count = 0
        try:
            while pos < end:
                if end - pos < FRAME_HEADER_BYTES:
                    self._torn_or_corrupt(pos, "record header cut short by end of file")
                    return
                length, payload_crc, header_crc = unpack(data, pos)
                if crc32(data[pos : pos + 8]) != header_crc:
                    if self.last and data.count(0, pos, end) == end - pos:
                        self.torn_bytes = end - pos
                        return
                    raise JournalCorrupt(self.path, pos, "bad record header checksum")
                if length > MAX_MESSAGE_BYTES:
                    raise JournalCorrupt(self.path, pos, f"record length {length} over the limit")
                body = pos + FRAME_HEADER_BYTES
                after = body + length
                if after > end:
                    self._torn_or_corrupt(pos, "record cut short by end of file")
                    return
                payload = data[body:after]
                if crc32(payload) != payload_crc:
                    if after == end:
                        self._torn_or_corrupt(pos, "bad checksum in the last record")
                        return
                    raise JournalCorrupt(self.path, pos, "bad record checksum")
                count += 1
                pos = after
                yield payload
        finally:
            self.end = pos
            self.records = count

    def _torn_or_corrupt(self, pos: int, reason: str) -> None:
        if not self.last:
            raise JournalCorrupt(self.path, pos, reason)
        self.torn_bytes = self.stop - pos


def snapshot_records(data: bytes, path: str) -> RecordScan:
    """Check a snapshot's header and footer, and return a scan of its records (no torn tail)."""
    body_end, count = check_snapshot_ends(
        data[:FILE_HEADER_BYTES], data[-_FOOTER.size :], len(data), path
    )
    return _CountedScan(data, path, FILE_HEADER_BYTES, body_end, count)


def check_snapshot_ends(head: bytes, tail: bytes, size: int, path: str) -> tuple[int, int]:
    """Check a snapshot's header (`head`: its first bytes) and footer (`tail`: its last bytes);
    return where its records end and how many the footer says there are."""
    check_file_header(head, path, SNAPSHOT_HEADER, may_be_torn=False)
    body_end = size - SNAPSHOT_FOOTER_BYTES
    if body_end < FILE_HEADER_BYTES:
        raise JournalCorrupt(path, size, "snapshot cut short (no footer)")
    magic, count = _FOOTER.unpack(tail[-SNAPSHOT_FOOTER_BYTES:])
    if magic != SNAPSHOT_FOOTER_MAGIC:
        raise JournalCorrupt(path, body_end, "snapshot cut short (no footer)")
    return body_end, count


class _CountedScan(RecordScan):
    """A snapshot's scan: the records must fill the body exactly and match the footer's count."""

    def __init__(self, data: bytes, path: str, start: int, stop: int, expected: int) -> None:
        super().__init__(data, path, start, stop, last=False)
        self.expected = expected

    def __iter__(self) -> Iterator[bytes]:
        yield from super().__iter__()
        if self.records != self.expected:
            raise JournalCorrupt(
                self.path,
                self.stop,
                f"snapshot footer says {self.expected} records, found {self.records}",
            )
