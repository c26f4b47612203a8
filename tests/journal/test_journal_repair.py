"""verify and repair: report the first damage, keep what precedes it, move the rest aside."""

from __future__ import annotations

from pathlib import Path

import pytest

from antsup.journal import DataDirLock, DataDirLocked, Journal, read_journal, repair, verify

from .helpers import flip_byte, payloads, record_offsets, segments, write_journal


def all_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def three_segments(directory: Path) -> list[bytes]:
    batches = [payloads(4), payloads(4, 4), payloads(3, 8)]  # 148, 148, 113 bytes
    write_journal(directory, batches, segment_bytes=140)
    assert len(segments(directory)) == 3
    return [payload for batch in batches for payload in batch]


def test_verify_a_healthy_journal(tmp_path: Path) -> None:
    records = three_segments(tmp_path)
    report = verify(tmp_path)
    assert report.ok and report.damage is None
    assert report.records == len(records)
    assert report.bytes == all_bytes(tmp_path)
    assert len(report.files) == 3
    assert repair(tmp_path).moved_aside is None


def test_repair_keeps_everything_before_a_damaged_record(tmp_path: Path) -> None:
    records = three_segments(tmp_path)
    first = segments(tmp_path)[0]
    original = {path.name: path.read_bytes() for path in segments(tmp_path)}
    damaged_offset = record_offsets(first)[2]
    flip_byte(first, damaged_offset + 14)
    before = all_bytes(tmp_path)

    report = verify(tmp_path)
    assert not report.ok and report.damage is not None
    assert (report.damage.path, report.damage.offset) == (str(first), damaged_offset)
    assert report.records == 2

    repaired = repair(tmp_path)
    assert repaired.ok and repaired.records == 2 and repaired.moved_aside is not None
    assert list(read_journal(tmp_path)) == records[:2]
    aside = Path(repaired.moved_aside)
    assert aside.parent == tmp_path and aside.name.startswith("damaged-")
    rest = (aside / f"{first.name}.from-{damaged_offset}").read_bytes()
    assert first.read_bytes() + rest == _flipped(original[first.name], damaged_offset + 14)
    for later in sorted(original)[1:]:
        assert (aside / later).read_bytes() == original[later]
    assert all_bytes(tmp_path) >= before  # nothing deleted (the LOCK file is extra)

    journal = Journal.open(tmp_path)
    journal.append([b"\xc3"])
    journal.close()
    assert list(read_journal(tmp_path)) == [*records[:2], b"\xc3"]


def _flipped(data: bytes, offset: int) -> bytes:
    damaged = bytearray(data)
    damaged[offset] ^= 0xFF
    return bytes(damaged)


def test_verify_checks_payloads_decode_as_msgpack(tmp_path: Path) -> None:
    write_journal(tmp_path, [[*payloads(2), b"\xc1", *payloads(1, 2)]])
    assert len(list(read_journal(tmp_path))) == 4  # replay does not decode
    report = verify(tmp_path)
    assert report.damage is not None and "msgpack" in report.damage.reason
    assert report.records == 2
    repaired = repair(tmp_path)
    assert repaired.ok and list(read_journal(tmp_path)) == payloads(2)


def test_repair_a_damaged_snapshot(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.append(payloads(3))
    journal.write_snapshot(payloads(5, 10))
    journal.append(payloads(2, 20))
    journal.close()
    snapshot = next(tmp_path.glob("snapshot-*.snap"))
    original = snapshot.read_bytes()
    flip_byte(snapshot, record_offsets(snapshot)[3] + 13)
    damaged = snapshot.read_bytes()
    report = verify(tmp_path)
    assert report.damage is not None and report.damage.path == str(snapshot)
    repaired = repair(tmp_path)
    assert repaired.ok and repaired.moved_aside is not None
    assert list(read_journal(tmp_path)) == payloads(3, 10)
    aside = Path(repaired.moved_aside)
    assert (aside / snapshot.name).read_bytes() == damaged != original
    assert len(list(aside.glob("segment-*.log"))) == 1


def test_repair_a_truncated_snapshot(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path)
    journal.write_snapshot(payloads(5))
    journal.close()
    snapshot = next(tmp_path.glob("snapshot-*.snap"))
    snapshot.write_bytes(snapshot.read_bytes()[:-20])
    assert not verify(tmp_path).ok
    repair(tmp_path)
    assert list(read_journal(tmp_path)) == payloads(4)


def test_repair_a_missing_segment(tmp_path: Path) -> None:
    records = three_segments(tmp_path)
    middle = segments(tmp_path)[1]
    middle.unlink()
    report = verify(tmp_path)
    assert report.damage is not None and report.damage.path == str(middle)
    assert report.records == 4
    repaired = repair(tmp_path)
    assert repaired.ok and list(read_journal(tmp_path)) == records[:4]
    assert repaired.moved_aside is not None
    assert [p.name for p in Path(repaired.moved_aside).iterdir()] == ["segment-000000000002.log"]


def test_repair_a_bad_file_header_moves_the_whole_file(tmp_path: Path) -> None:
    records = three_segments(tmp_path)
    second = segments(tmp_path)[1]
    flip_byte(second, 2)
    repaired = repair(tmp_path)
    assert repaired.ok and list(read_journal(tmp_path)) == records[:4]
    assert repaired.moved_aside is not None
    assert len(list(Path(repaired.moved_aside).iterdir())) == 2


def test_repair_refuses_a_directory_in_use(tmp_path: Path) -> None:
    three_segments(tmp_path)
    with DataDirLock(tmp_path), pytest.raises(DataDirLocked):
        repair(tmp_path)


def test_torn_tail_is_not_damage(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(3)])
    segment = segments(tmp_path)[0]
    segment.write_bytes(segment.read_bytes()[:-5])
    report = verify(tmp_path)
    assert report.ok and report.records == 2 and report.torn_tail_bytes > 0
