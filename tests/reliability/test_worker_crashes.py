"""Worker deaths: a killed worker is replaced at once (latency measured, never asserted), and
jobs that crash their worker on every attempt end `failed` without tearing the tree down."""

from __future__ import annotations

import os
import signal
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from conftest import pid_alive, wait_until
from jobs.conftest import StartTree
from jobs.workers import Record, executions

import antsup
from reliability.rel_workers import Poison

KILLS = 15


def is_gone(pid: int) -> bool:
    return not pid_alive(pid)


def worker_rows() -> list[dict[str, Any]]:
    return [row for row in antsup.stats()["processes"] if row["role"] == "worker"]


def run_one(log: Path) -> tuple[int, float]:
    """Run one job to completion; the pid and start time of the process that ran it."""
    job = Record.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(job.id).status == "completed", interval=0.002)
    row = next(row for row in executions(log) if row[0] == job.id)
    return row[4], row[2]


def test_a_killed_worker_is_replaced_and_runs_the_next_job(
    start_tree: StartTree, log: Path
) -> None:
    start_tree(workers=1)
    pid, _ = run_one(log)
    latencies = []
    for _ in range(KILLS):
        os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        wait_until(partial(is_gone, pid))
        new_pid, started = run_one(log)
        assert new_pid != pid, "the job ran in the replacement"
        latencies.append(started - killed_at)
        pid = new_pid
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(
        f"\nworker restart, SIGKILL to the replacement starting a new job ({KILLS} kills): "
        f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    stats = antsup.stats()
    assert stats["totals"].get("completed") == KILLS + 1


def all_failed(ids: list[int]) -> bool:
    """Whether every job failed for good (a crashed attempt retries after the worker's own
    backoff, 0 for Poison, so the three attempts follow each other at once)."""
    return all(antsup.get_job(job_id).status == "failed" for job_id in ids)


def test_poison_jobs_use_up_their_attempts_and_the_tree_stays_up(
    start_tree: StartTree, log: Path
) -> None:
    tree = start_tree(workers=2)
    root = tree.pid
    poison = Poison.perform_many([{"log": str(log)} for _ in range(6)])  # 18 crashes in a row
    healthy = Record.perform_many([{"log": str(log)} for _ in range(50)])
    wait_until(lambda: all_failed([p.id for p in poison]), timeout=30)
    for crashing in poison:
        job = antsup.get_job(crashing.id)
        assert job.attempts == job.max_attempts == 3
        assert all("exit code 7" in error["error"] for error in job.errors), job.errors
    runs = executions(log)
    for crashing in poison:
        assert sorted(row[1] for row in runs if row[0] == crashing.id) == [1, 2, 3]
    wait_until(lambda: all(antsup.get_job(h.id).status == "completed" for h in healthy))
    assert tree.supervisor.exitcode is None and pid_alive(root)
    wait_until(lambda: len(worker_rows()) == 2)  # a replacement may still be connecting
    late = Record.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(late.id).status == "completed")
