"""kill -9 under load, one process at a time and all at once: no acknowledged job is lost,
none runs more often than its attempts allow, and no process is left behind."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import pid_alive, wait_until

import antsup
from jobs.conftest import StartTree
from jobs.workers import Record, run_counts

T = TypeVar("T")
LOAD = 2000


def retrying(call: Callable[[], T]) -> Callable[[], T | None]:
    """`call`, returning None while the queue manager restarts."""

    def attempt() -> T | None:
        try:
            return call()
        except (antsup.NotRunning, antsup.ConnectionLost):
            return None

    return attempt


def pid_of(role: str) -> int:
    rows = wait_until(retrying(antsup.stats), timeout=15)["processes"]
    return next(row["pid"] for row in rows if row["role"] == role)


def enqueue_load(log: Path, count: int = LOAD) -> list[int]:
    ids: list[int] = []
    for _ in range(4):
        jobs = Record.perform_many([{"log": str(log), "sleep": 0.0005} for _ in range(count // 4)])
        ids += [job.id for job in jobs]
    return ids


def check_every_job(ids: list[int], log: Path) -> None:
    """Each acknowledged job finished: completed once, or failed because its process died."""

    def all_finished() -> bool:
        counts = retrying(antsup.stats)()
        return counts is not None and _finished(counts) >= len(ids)

    wait_until(all_finished, timeout=30, interval=0.1)  # stats() walks the process tree
    jobs = {job.id: job for job in antsup.list_jobs()}
    runs = run_counts(log)
    for job_id in ids:
        job = jobs[job_id]
        assert job.status in ("completed", "failed"), job
        assert runs.get(job_id, 0) <= job.attempts <= job.max_attempts, (job, runs.get(job_id))
        if job.status == "completed":
            assert runs[job_id] == 1
        else:
            assert "died" in job.errors[0]["error"] or "gone" in job.errors[0]["error"], job


def _finished(stats: dict[str, object]) -> int:
    totals = stats["totals"]
    assert isinstance(totals, dict)
    return int(totals.get("completed", 0)) + int(totals.get("failed", 0))


@pytest.mark.parametrize("role", ["worker", "queue_manager", "persistence"])
def test_kill_one_process_under_load(start_tree: StartTree, log: Path, role: str) -> None:
    start_tree(workers=2)
    victim = pid_of(role)
    ids = enqueue_load(log)
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 100)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not pid_alive(victim))
    wait_until(lambda: pid_of(role) != victim, timeout=10)
    ids += enqueue_load(log, 200)  # the healed tree takes new work too
    check_every_job(ids, log)


def test_kill_the_whole_tree_then_start_again(
    start_tree: StartTree, log: Path, tmp_path: Path
) -> None:
    tree = start_tree(workers=2)
    members = [row["pid"] for row in antsup.stats()["processes"]]
    ids = enqueue_load(log)
    wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 100)
    os.kill(tree.pid, signal.SIGKILL)  # the guardian kills the rest of the session
    wait_until(lambda: not any(pid_alive(pid) for pid in members), timeout=10)
    tree.stop()  # the application's side: close the client, release the data-dir lock
    start_tree(workers=2)
    check_every_job(ids, log)


def test_running_job_survives_a_queue_manager_restart(start_tree: StartTree, log: Path) -> None:
    start_tree()
    job = Record.perform_async({"log": str(log), "sleep": 1.0})
    wait_until(lambda: antsup.get_job(job.id).status == "running")
    victim = pid_of("queue_manager")
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not pid_alive(victim))
    done = wait_until(retrying(lambda: antsup.get_job(job.id).status == "completed"), timeout=10)
    assert done
    assert antsup.get_job(job.id).attempts == 1
    assert run_counts(log) == {job.id: 1}
