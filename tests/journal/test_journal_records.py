"""Framing, replay, the torn-tail rule and corruption detection, on real files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from antsup.journal import Journal, JournalCorrupt, read_journal, verify

from .helpers import (
    flip_byte,
    payloads,
    record_offsets,
    segments,
    truncate,
    write_journal,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    batches=st.lists(st.lists(st.binary(max_size=300), max_size=12), max_size=12),
    segment_bytes=st.integers(min_value=16, max_value=4000),
)
def test_round_trip_with_rotation(batches: list[list[bytes]], segment_bytes: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        write_journal(directory, batches, segment_bytes=segment_bytes, fsync="never")
        expected = [payload for batch in batches for payload in batch]
        assert list(read_journal(directory)) == expected
        journal = Journal.open(directory, segment_bytes=segment_bytes, fsync="never")
        journal.append([b"after reopen"])
        journal.close()
        assert list(read_journal(directory)) == [*expected, b"after reopen"]


def test_rotation_makes_ordered_segments(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(10, i * 10) for i in range(10)], segment_bytes=500)
    names = [path.name for path in segments(tmp_path)]
    assert len(names) > 3
    assert names == [f"segment-{n:012d}.log" for n in range(len(names))]
    assert list(read_journal(tmp_path)) == payloads(100)


def test_empty_or_missing_directory_reads_nothing(tmp_path: Path) -> None:
    assert list(read_journal(tmp_path / "absent")) == []
    Journal.open(tmp_path / "fresh").close()
    assert list(read_journal(tmp_path / "fresh")) == []


def test_payload_over_the_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("antsup.journal.framing.MAX_MESSAGE_BYTES", 100)
    journal = Journal.open(tmp_path)
    with pytest.raises(ValueError, match="exceeds"):
        journal.append([b"x" * 101])
    journal.close()


def test_torn_tail_at_every_byte_offset_of_the_last_record(tmp_path: Path) -> None:
    source = tmp_path / "source"
    records = payloads(3, size=40)
    write_journal(source, [records[:2], records[2:]])
    original = segments(source)[0].read_bytes()
    last_start = record_offsets(segments(source)[0])[-1]
    for cut in range(last_start, len(original)):
        directory = tmp_path / f"cut-{cut}"
        directory.mkdir()
        segment = directory / segments(source)[0].name
        segment.write_bytes(original[:cut])
        assert list(read_journal(directory)) == records[:2], cut
        assert verify(directory).ok
        journal = Journal.open(directory)
        assert segment.stat().st_size == last_start
        journal.append([b"\x01"])
        journal.close()
        assert list(read_journal(directory)) == [*records[:2], b"\x01"], cut


def test_torn_header_of_a_new_last_segment_is_rewritten(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(5)], segment_bytes=10)
    last = segments(tmp_path)[-1]
    for cut in range(8):
        truncate(last, cut)
        assert list(read_journal(tmp_path)) == payloads(5)
        Journal.open(tmp_path).close()
        assert last.read_bytes()[:7] == b"ANTSUPJ"


def test_bad_checksum_in_the_very_last_record_is_a_torn_tail(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(4)])
    segment = segments(tmp_path)[0]
    flip_byte(segment, segment.stat().st_size - 1)
    assert list(read_journal(tmp_path)) == payloads(3)
    Journal.open(tmp_path).close()
    assert list(read_journal(tmp_path)) == payloads(3)


def test_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(4)])
    segment = segments(tmp_path)[0]
    size = segment.stat().st_size
    with segment.open("ab") as handle:
        handle.write(bytes(4096))
    assert list(read_journal(tmp_path)) == payloads(4)
    Journal.open(tmp_path).close()
    assert segment.stat().st_size == size


def test_flipped_byte_mid_journal_names_file_and_offset(tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_journal(source, [payloads(5)])
    original = segments(source)[0].read_bytes()
    offsets = record_offsets(segments(source)[0])
    damaged_record = 2
    start, end = offsets[damaged_record], offsets[damaged_record + 1]
    for position in [0, 3, 7, *range(start, end)]:
        directory = tmp_path / f"flip-{position}"
        directory.mkdir()
        segment = directory / segments(source)[0].name
        segment.write_bytes(original)
        flip_byte(segment, position)
        expected_offset = 0 if position < 8 else start
        with pytest.raises(JournalCorrupt) as raised:
            list(read_journal(directory))
        assert (raised.value.path, raised.value.offset) == (str(segment), expected_offset)
        assert str(segment) in str(raised.value)
        assert f"offset {expected_offset}" in str(raised.value)
        with pytest.raises(JournalCorrupt) as at_open:
            Journal.open(directory)
        assert (at_open.value.path, at_open.value.offset) == (str(segment), expected_offset)
        assert segment.read_bytes()[position] != original[position]  # nothing was "repaired"


def test_damage_at_the_end_of_a_non_last_segment_is_corruption(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(3), payloads(3, 3)], segment_bytes=50)
    first = segments(tmp_path)[0]
    truncate(first, first.stat().st_size - 1)
    with pytest.raises(JournalCorrupt) as raised:
        list(read_journal(tmp_path))
    assert raised.value.path == str(first)
    _open_leaves_the_damage_to_the_reader(tmp_path)


def _open_leaves_the_damage_to_the_reader(directory: Path) -> None:
    """The writer checks only the file it appends to (and the files' headers, the snapshot's
    footer): it may open a journal damaged before that, but must change nothing there, so that
    the reader (the queue manager's replay) still refuses it."""
    last_segment = segments(directory)[-1:]
    files = {path: path.read_bytes() for path in directory.iterdir() if path not in last_segment}
    try:
        Journal.open(directory).close()
    except JournalCorrupt:
        return
    assert {path: path.read_bytes() for path in files} == files
    with pytest.raises(JournalCorrupt):
        list(read_journal(directory))


def test_open_reads_only_the_last_segment(tmp_path: Path) -> None:
    """The records before the last segment are read once, by replay, not at open too."""
    write_journal(tmp_path, [payloads(3), payloads(3, 3), payloads(3, 6)], segment_bytes=200)
    first, last = segments(tmp_path)
    flip_byte(first, record_offsets(first)[1] + 14)  # a payload byte of a middle record
    _open_leaves_the_damage_to_the_reader(tmp_path)
    Journal.open(tmp_path).close()  # no error: the bad record is replay's to report
    flip_byte(last, record_offsets(last)[0] + 14)
    with pytest.raises(JournalCorrupt) as raised:
        Journal.open(tmp_path)
    assert raised.value.path == str(last)


def test_missing_segment_is_corruption(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(2, i * 2) for i in range(4)], segment_bytes=50)
    gone = segments(tmp_path)[1]
    gone.unlink()
    with pytest.raises(JournalCorrupt, match="missing") as raised:
        list(read_journal(tmp_path))
    assert raised.value.path == str(gone)
    with pytest.raises(JournalCorrupt, match="missing"):
        Journal.open(tmp_path)


def test_unknown_format_version_is_refused(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(2)])
    segment = segments(tmp_path)[0]
    data = bytearray(segment.read_bytes())
    data[7] = 99
    segment.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="version 99"):
        list(read_journal(tmp_path))


def test_huge_declared_length_is_corruption(tmp_path: Path) -> None:
    import struct
    import zlib

    write_journal(tmp_path, [payloads(2)])
    segment = segments(tmp_path)[0]
    head = struct.pack("<II", 2**31, 0)
    with segment.open("ab") as handle:
        handle.write(head + zlib.crc32(head).to_bytes(4, "little") + b"tail")
    with pytest.raises(JournalCorrupt, match="over the limit"):
        list(read_journal(tmp_path))


def test_reader_sees_a_write_in_progress_as_a_torn_tail(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(payloads(3))
    segment = segments(tmp_path)[0]
    with segment.open("ab") as handle:  # what a concurrent half-finished write looks like
        handle.write(b"\x10\x00\x00")
    assert list(read_journal(tmp_path)) == payloads(3)
    journal.close()


def test_reader_survives_a_compaction_during_the_read(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, segment_bytes=200)
    journal.append(payloads(20))
    reader = read_journal(tmp_path)
    first = next(reader)
    journal.write_snapshot([b"\x01"])
    assert not any(path.name.startswith("segment-000000000000") for path in tmp_path.iterdir())
    assert [first, *reader] == payloads(20)
    assert list(read_journal(tmp_path)) == [b"\x01"]
    journal.close()


def _valid_journal_bytes(records: list[bytes]) -> bytes:
    with tempfile.TemporaryDirectory() as name:
        write_journal(Path(name), [records], fsync="never")
        return segments(Path(name))[0].read_bytes()


@FAST
@given(
    records=st.lists(st.binary(max_size=40), min_size=1, max_size=6),
    mutation=st.one_of(
        st.tuples(st.just("truncate"), st.integers(min_value=0)),
        st.tuples(st.just("flip"), st.integers(min_value=0)),
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=30)),
    ),
    as_last=st.booleans(),
)
def test_fuzz_damaged_files_read_a_prefix_or_raise_cleanly(
    records: list[bytes], mutation: tuple[str, object], as_last: bool
) -> None:
    """A damaged file never yields wrong data: a clean JournalCorrupt or a prefix of the truth."""
    data = _valid_journal_bytes(records)
    kind, argument = mutation
    if kind == "truncate":
        assert isinstance(argument, int)
        data = data[: argument % (len(data) + 1)]
    elif kind == "flip":
        assert isinstance(argument, int)
        damaged = bytearray(data)
        damaged[argument % len(data)] ^= 0x5A
        data = bytes(damaged)
    else:
        assert isinstance(argument, bytes)
        data += argument
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        (directory / "segment-000000000000.log").write_bytes(data)
        if not as_last:
            (directory / "segment-000000000001.log").write_bytes(b"ANTSUPJ\x01")
        _assert_prefix_or_corrupt(directory, records)


@FAST
@given(data=st.binary(max_size=200), header=st.booleans(), snapshot=st.booleans())
def test_fuzz_random_files(data: bytes, header: bool, snapshot: bool) -> None:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        if snapshot:
            content = (b"ANTSUPS\x01" if header else b"") + data
            (directory / "snapshot-000000000000.snap").write_bytes(content)
        else:
            content = (b"ANTSUPJ\x01" if header else b"") + data
            (directory / "segment-000000000000.log").write_bytes(content)
        _assert_prefix_or_corrupt(directory, None)


def _assert_prefix_or_corrupt(directory: Path, truth: list[bytes] | None) -> None:
    """Reader, writer and verify agree: all refuse, or all accept the same prefix."""
    try:
        read = list(read_journal(directory))
    except JournalCorrupt as exc:
        assert exc.path.startswith(str(directory))
        assert not verify(directory).ok
        _open_leaves_the_damage_to_the_reader(directory)
        return
    if truth is not None:
        assert read == truth[: len(read)]
    assert verify(directory).records <= len(read)  # verify may also flag non-msgpack payloads
    Journal.open(directory).close()
    assert list(read_journal(directory)) == read
