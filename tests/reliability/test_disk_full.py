"""Disk full under a real tree: the data directory on a tiny tmpfs that the test fills up."""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import mounted_tmpfs, wait_until
from jobs.conftest import StartTree
from jobs.workers import Record

import antsup
from antsup.journal import verify


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB filesystem, when this process may mount one (root in a container)."""
    with mounted_tmpfs(tmp_path / "tmpfs", "2m") as mount_point:
        yield mount_point


def fill(directory: Path) -> Path:
    """Take every free byte of the filesystem; the file to delete to give them back."""
    filler = directory / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(bytes(64 * 1024))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_disk_full_refuses_enqueues_and_loses_nothing_acknowledged(
    small_tmpfs: Path, start_tree: StartTree, log: Path
) -> None:  # the tmpfs first: it is unmounted after the trees are stopped
    data = small_tmpfs / "data"
    tree = start_tree(data_dir=data, fsync="always")
    antsup.pause_queue("default")  # nothing runs: the jobs stay as they were acknowledged
    kept = Record.perform_many([{"log": str(log), "i": i} for i in range(50)])
    filler = fill(small_tmpfs)

    outcome: list[Any] = []

    def enqueue() -> None:
        try:
            outcome.append(Record.perform_many([{"log": str(log), "pad": "x" * 4096}] * 100))
        except Exception as exc:
            outcome.append(exc)

    first = threading.Thread(target=enqueue, daemon=True)
    first.start()
    first.join(1.0)
    print(f"\nfirst enqueue on a full disk: {outcome or 'still waiting after 1 s'}")

    # Once the queue manager knows the journal cannot be written, enqueues fail at once.
    def refused() -> Any:
        try:
            Record.perform_async({"log": str(log)})
        except antsup.JournalWriteError as exc:
            return exc
        return None

    error = wait_until(refused, timeout=10, interval=0.2)
    print(f"later enqueue on a full disk: {type(error).__name__}: {error}")
    assert "nothing was enqueued" in str(error)
    first.join(10.0)  # it was answered when the write failed, not when space returns
    assert not first.is_alive()
    assert isinstance(outcome[0], antsup.JournalWriteError), outcome
    assert "kept in memory" in str(outcome[0])
    assert antsup.get_job(kept[0].id).status == "enqueued"  # reads answer while the disk is full

    filler.unlink()  # space returns
    first.join(10.0)
    assert not first.is_alive()
    print(f"first enqueue once space returned: {type(outcome[0]).__name__}")
    tree.stop()
    assert verify(data / "journal").damage is None
    start_tree(data_dir=data)
    jobs = {job.id: job for job in antsup.list_jobs()}
    assert all(jobs[job.id].args == job.args for job in kept), "every acknowledged job is there"
    antsup.resume_queue("default")
    wait_until(lambda: all(antsup.get_job(job.id).status == "completed" for job in kept))
