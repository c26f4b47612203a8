"""A job that kills its own process takes only that worker down; its attempt names the cause."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import pid_alive, wait_until

import antsup
from jobs.conftest import StartTree
from jobs.workers import Crash, Hang, Record, run_counts


def worker_pids() -> set[int]:
    return {row["pid"] for row in antsup.stats()["processes"] if row["role"] == "worker"}


@pytest.mark.parametrize(
    ("how", "named"),
    [("exit", "exit code 3"), ("segfault", "SIGSEGV"), ("sigkill", "SIGKILL")],
)
def test_crash_fails_only_its_attempt(
    start_tree: StartTree, log: Path, how: str, named: str
) -> None:
    start_tree(workers=2)
    before = wait_until(lambda: len(worker_pids()) == 2 and worker_pids())
    crash = Crash.perform_async({"log": str(log), "how": how})
    others = Record.perform_many([{"log": str(log)} for _ in range(20)])
    # Crash.backoff() is 0, asked at enqueue time (the crashed process cannot be asked), so the
    # second attempt follows at once, crashes too, and the job has used up its two attempts.
    wait_until(lambda: antsup.get_job(crash.id).status == "failed")
    job = antsup.get_job(crash.id)
    assert job.attempts == 2 and len(job.errors) == 2
    assert all(named in e["error"] and "died" in e["error"] for e in job.errors), job.errors
    wait_until(lambda: all(antsup.get_job(o.id).status == "completed" for o in others))
    after = wait_until(lambda: len(worker_pids()) == 2 and worker_pids())
    assert len(after) == 2 and len(before & after) <= 1, "each crash replaced its worker"
    assert run_counts(log)[crash.id] == 2
    assert all(run_counts(log)[o.id] == 1 for o in others)


def test_timeout_kills_the_job_and_spares_its_sibling(start_tree: StartTree, log: Path) -> None:
    start_tree(workers=1, threads=2)
    hang = Hang.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(hang.id).status == "running")
    sibling = Record.perform_async({"log": str(log), "sleep": 1.0})
    wait_until(lambda: run_counts(log).get(hang.id) and antsup.get_job(sibling.id).attempts)
    pid = next(iter(worker_pids()))
    wait_until(lambda: antsup.get_job(hang.id).status == "failed", timeout=5)
    job = antsup.get_job(hang.id)
    assert job.attempts == 1 and "timed out after 0.5 s" in job.errors[0]["error"]
    assert not pid_alive(pid)
    # The sibling was killed too: it went back without using an attempt, and runs again.
    wait_until(lambda: antsup.get_job(sibling.id).status == "completed", timeout=5)
    again = antsup.get_job(sibling.id)
    assert again.attempts == 1 and again.errors == []
    assert run_counts(log)[sibling.id] == 1
