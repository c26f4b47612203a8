"""The writer: fsync modes, disk full, compaction and its crash safety."""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import mounted_tmpfs

from antsup.errors import JournalWriteError
from antsup.journal import Journal, read_journal, verify

from .helpers import payloads, segments, write_journal


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fsync_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_never_mode_never_fsyncs(tmp_path: Path, fsync_calls: list[int]) -> None:
    journal = Journal.open(tmp_path, fsync="never", segment_bytes=100)
    for _ in range(10):
        journal.append(payloads(5))
    assert journal.fsync_mode == "never"
    assert not journal.sync_due(1e9)
    journal.sync()
    journal.close()
    assert fsync_calls == []
    assert list(read_journal(tmp_path)) == payloads(5) * 10


def test_always_mode_group_commits(tmp_path: Path, fsync_calls: list[int]) -> None:
    clock = FakeClock()
    journal = Journal.open(tmp_path, fsync="always", clock=clock)
    journal.sync()
    assert not journal.sync_due(clock.now)
    fsync_calls.clear()
    for _ in range(50):
        journal.append(payloads(3))
    assert journal.sync_due(clock.now)
    journal.sync()
    assert len(fsync_calls) == 1  # fifty batches, one fsync
    assert not journal.sync_due(clock.now)
    journal.close()
    assert len(fsync_calls) == 1  # nothing left to sync at close


def test_interval_mode_is_due_after_the_interval(tmp_path: Path, fsync_calls: list[int]) -> None:
    clock = FakeClock()
    journal = Journal.open(tmp_path, fsync="interval", fsync_interval=0.05, clock=clock)
    journal.sync()
    fsync_calls.clear()
    clock.now = 10.0
    journal.append(payloads(1))
    clock.now = 10.03
    journal.append(payloads(1))  # the deadline counts from the oldest unsynced write
    assert journal.sync_deadline == pytest.approx(10.05)
    assert not journal.sync_due(10.049)
    assert journal.sync_due(10.05)
    journal.sync()
    assert len(fsync_calls) == 1
    assert journal.sync_deadline is None
    journal.close()


def test_rotation_makes_the_finished_segment_durable_first(
    tmp_path: Path, fsync_calls: list[int]
) -> None:
    journal = Journal.open(tmp_path, fsync="always", segment_bytes=100)
    journal.sync()
    fsync_calls.clear()
    journal.append(payloads(2))
    assert fsync_calls == []  # append itself does not fsync its records
    journal.append(payloads(3))  # passes 100 bytes: rotates
    assert len(segments(tmp_path)) == 2
    assert len(fsync_calls) == 1  # the finished segment, before the next one exists
    journal.sync()
    assert len(fsync_calls) == 3  # then the new segment and the directory
    journal.close()


def test_size_on_disk_follows_the_files(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, segment_bytes=300)
    for i in range(10):
        journal.append(payloads(4, i * 4))
    on_disk = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert journal.size_on_disk() == on_disk
    journal.write_snapshot(payloads(2))
    on_disk = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert journal.size_on_disk() == on_disk
    journal.close()
    assert Journal.open(tmp_path).size_on_disk() == on_disk


def test_snapshot_replaces_history(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path, segment_bytes=200)
    journal.append(payloads(30))
    journal.write_snapshot(payloads(3, 100))
    journal.append(payloads(2, 200))
    journal.write_snapshot(payloads(1, 300))
    journal.append(payloads(1, 400))
    journal.close()
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith("segment-") and names[1].startswith("snapshot")
    assert list(read_journal(tmp_path)) == payloads(1, 300) + payloads(1, 400)
    assert verify(tmp_path).records == 2


class ByteBudget:
    """A fault-injecting os.write: writes until the budget is spent, then fails with ENOSPC."""

    def __init__(self, real: Callable[[int, Any], int], budget: int) -> None:
        self.real = real
        self.budget = budget

    def __call__(self, fd: int, data: Any) -> int:
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        allowed = bytes(data)[: self.budget]
        written = self.real(fd, allowed)
        self.budget -= written
        return written


def test_disk_full_keeps_the_journal_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path)
    journal.append(payloads(5))
    size = segments(tmp_path)[0].stat().st_size
    budget = ByteBudget(os.write, 50)
    monkeypatch.setattr(os, "write", budget)
    with pytest.raises(JournalWriteError) as raised:
        journal.append(payloads(10, 5))
    assert raised.value.errno == errno.ENOSPC
    assert segments(tmp_path)[0].stat().st_size == size  # the partial write was rolled back
    assert list(read_journal(tmp_path)) == payloads(5)
    with pytest.raises(JournalWriteError):
        journal.append(payloads(1, 5))
    budget.budget = 10**9  # space returns
    journal.append(payloads(2, 5))
    journal.close()
    assert list(read_journal(tmp_path)) == payloads(7)


def test_disk_full_when_the_rollback_fails_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path)
    journal.append(payloads(2))
    budget = ByteBudget(os.write, 20)
    real_truncate = os.ftruncate
    monkeypatch.setattr(os, "write", budget)
    monkeypatch.setattr(os, "ftruncate", _failing)
    with pytest.raises(JournalWriteError):
        journal.append(payloads(3, 2))
    assert list(read_journal(tmp_path)) == payloads(2)  # the partial record is a torn tail
    monkeypatch.setattr(os, "ftruncate", real_truncate)
    budget.budget = 10**9
    journal.append(payloads(1, 2))  # first cuts the partial record, then appends
    journal.close()
    assert list(read_journal(tmp_path)) == payloads(3)


def _failing(*args: object) -> None:
    raise OSError(errno.EIO, "injected")


def test_disk_full_during_snapshot_leaves_the_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path)
    journal.append(payloads(5))
    monkeypatch.setattr(os, "write", ByteBudget(os.write, 30))
    with pytest.raises(JournalWriteError):
        journal.write_snapshot(payloads(100, 50))
    monkeypatch.undo()
    assert not list(tmp_path.glob("*.tmp"))
    journal.append(payloads(1, 5))
    journal.close()
    assert list(read_journal(tmp_path)) == payloads(6)


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB filesystem, when this process may mount one (root in a container)."""
    with mounted_tmpfs(tmp_path / "tmpfs", "64k") as mount_point:
        yield mount_point


def test_disk_full_on_a_real_tiny_filesystem(tiny_tmpfs: Path) -> None:
    filler = tiny_tmpfs / "filler"
    filler.write_bytes(bytes(16 * 1024))
    journal = Journal.open(tiny_tmpfs / "data", fsync="always")
    written = 0
    with pytest.raises(JournalWriteError) as raised:
        for i in range(10_000):
            journal.append(payloads(10, i * 10, size=100))
            journal.sync()
            written = (i + 1) * 10
    assert raised.value.errno == errno.ENOSPC
    assert written > 0
    assert list(read_journal(tiny_tmpfs / "data")) == payloads(written, size=100)
    filler.unlink()  # space returns
    journal.append(payloads(10, written, size=100))
    journal.close()
    assert list(read_journal(tiny_tmpfs / "data")) == payloads(written + 10, size=100)


class SimulatedCrash(BaseException):
    """Raised instead of a syscall: the process 'dies' here (BaseException skips cleanups)."""


_CRASHABLE = ("open", "write", "fsync", "replace", "rename", "unlink", "ftruncate", "close")


class CrashAfter:
    """Let `allowed` file-system calls through, then fail this and every later one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
        self.allowed = allowed
        self.calls = 0
        self.crashed = False
        for name in _CRASHABLE:
            monkeypatch.setattr(os, name, self._wrap(getattr(os, name)))

    def _wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.crashed or self.calls > self.allowed:
                self.crashed = True
                raise SimulatedCrash
            return real(*args, **kwargs)

        return call


def _close_fds_under(directory: Path) -> None:
    for entry in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            os.close(int(entry))


def _old_state(directory: Path) -> list[bytes]:
    journal = Journal.open(directory, segment_bytes=150)
    journal.append(payloads(4))
    journal.write_snapshot(payloads(2, 50))  # an older snapshot that compaction must replace
    journal.append(payloads(10, 60))  # several segments after it
    journal.close()
    return list(read_journal(directory))


def test_compaction_is_crash_safe_at_every_step(tmp_path: Path) -> None:
    template = tmp_path / "template"
    old = _old_state(template)
    new = payloads(3, 900)
    assert len(segments(template)) > 1
    allowed, finished = 0, False
    while not finished:
        directory = tmp_path / f"crash-{allowed}"
        shutil.copytree(template, directory)
        journal = Journal.open(directory, segment_bytes=150)
        with pytest.MonkeyPatch.context() as patch:
            CrashAfter(patch, allowed)
            try:
                journal.write_snapshot(new)
                finished = True
            except SimulatedCrash:
                pass
        _close_fds_under(directory)
        replayed = list(read_journal(directory))
        assert replayed in (old, new), f"crash after {allowed} calls gave a mix"
        reopened = Journal.open(directory, segment_bytes=150)
        reopened.append([b"\xc0"])
        reopened.close()
        assert list(read_journal(directory)) == [*replayed, b"\xc0"]
        assert not list(directory.glob("*.tmp"))
        allowed += 1
        assert allowed < 200, "write_snapshot never finished"
    assert replayed == new
    assert allowed > 10  # tmp write, fsync, rename, directory fsync, segment, removals...


def test_leftover_snapshot_tmp_files_are_ignored_and_removed(tmp_path: Path) -> None:
    write_journal(tmp_path, [payloads(3)])
    (tmp_path / "snapshot-000000000001.snap.tmp").write_bytes(b"ANTSUPS\x01garbage")
    assert list(read_journal(tmp_path)) == payloads(3)
    Journal.open(tmp_path).close()
    assert not list(tmp_path.glob("*.tmp"))
    assert list(read_journal(tmp_path)) == payloads(3)


def test_a_cut_short_snapshot_is_corruption(tmp_path: Path) -> None:
    from antsup.journal import JournalCorrupt

    journal = Journal.open(tmp_path)
    journal.append(payloads(3))
    journal.write_snapshot(payloads(4))
    journal.close()
    snapshot = next(tmp_path.glob("snapshot-*.snap"))
    data = snapshot.read_bytes()
    for cut in (len(data) - 1, len(data) - 16, 8):
        snapshot.write_bytes(data[:cut])
        with pytest.raises(JournalCorrupt) as raised:
            list(read_journal(tmp_path))
        assert raised.value.path == str(snapshot)
        with pytest.raises(JournalCorrupt):
            Journal.open(tmp_path)


def test_failure_after_the_snapshot_rename_never_appends_to_replaced_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(tmp_path)
    journal.append(payloads(5))
    monkeypatch.setattr("antsup.journal.writer.fsync_directory", _failing)
    with pytest.raises(JournalWriteError):
        journal.write_snapshot(payloads(2, 100))
    monkeypatch.undo()
    journal.append(payloads(1, 200))
    journal.close()
    assert list(read_journal(tmp_path)) == payloads(2, 100) + payloads(1, 200)
