"""The journal under a real tree: memory storage, restarts, fsync=always, corruption."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import wait_until

import antsup
from jobs.conftest import StartTree
from jobs.workers import Big, Flaky, Record, SlowRetry, run_counts


def test_memory_storage_writes_no_journal(start_tree: StartTree, log: Path, tmp_path: Path) -> None:
    tree = start_tree(storage="memory")
    jobs = Record.perform_many([{"log": str(log)} for _ in range(50)])
    wait_until(lambda: all(antsup.get_job(j.id).status == "completed" for j in jobs))
    tree.stop()
    journal = tmp_path / "data" / "journal"
    assert not journal.exists() or not any(journal.iterdir())


@pytest.mark.parametrize("fsync", ["interval", "always"])
def test_restart_restores_every_job(
    start_tree: StartTree, log: Path, tmp_path: Path, fsync: str
) -> None:
    tree = start_tree(fsync=fsync)
    done = Record.perform_many([{"log": str(log), "result": i} for i in range(30)])
    failed = Flaky.perform_async({"log": str(log)})
    retrying = SlowRetry.perform_async({"log": str(log)})
    later = Record.perform_in(3600, {"log": str(log), "later": True})
    wait_until(lambda: antsup.get_job(failed.id).status == "failed")
    wait_until(lambda: antsup.get_job(retrying.id).status == "retrying")
    wait_until(lambda: all(antsup.get_job(j.id).status == "completed" for j in done))
    before = {job.id: job for job in antsup.list_jobs()}
    tree.stop()
    start_tree(fsync=fsync)
    after = {job.id: job for job in antsup.list_jobs()}
    assert after == before
    assert after[failed.id].attempts == 3 and len(after[failed.id].errors) == 3
    assert after[retrying.id].status == "retrying" and after[later.id].status == "scheduled"
    newer = Record.perform_async({"log": str(log)})
    assert newer.id > max(before)  # ids keep increasing across restarts
    wait_until(lambda: antsup.get_job(newer.id).status == "completed")
    assert run_counts(log)[done[0].id] == 1


def test_corrupt_record_refuses_to_start(start_tree: StartTree, log: Path, tmp_path: Path) -> None:
    tree = start_tree()
    for _ in range(20):
        Record.perform_many([{"log": str(log), "pad": "x" * 200} for _ in range(5)])
    tree.stop()
    files = sorted((tmp_path / "data" / "journal").rglob("*"), key=lambda p: p.stat().st_size)
    target = files[-1]
    data = bytearray(target.read_bytes())
    middle = len(data) // 3
    data[middle] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(antsup.AntsupError) as raised:
        start_tree()
    message = str(raised.value)
    assert "corrupt" in message and target.name in message and "offset" in message


def test_results_larger_together_than_a_journal_record_survive_a_restart(
    start_tree: StartTree,
) -> None:
    """14 results of 6 MB: 84 MB together, more than one journal record or message may hold
    (64 MiB). They are journaled and snapshotted in several records and all come back."""
    size = 6_000_000
    tree = start_tree(workers=2)
    jobs = Big.perform_many([{"size": size} for _ in range(14)])
    wait_until(lambda: all(antsup.get_job(j.id).status == "completed" for j in jobs), 60)
    tree.stop()  # writes a snapshot holding every result
    start_tree(workers=2)
    for job in jobs:
        back = antsup.get_job(job.id)
        assert back.status == "completed" and back.result == "x" * size
