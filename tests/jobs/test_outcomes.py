"""What `perform` does decides the job's fate: results, raised errors, Fail, async, threads."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import wait_until

import antsup
from jobs.conftest import StartTree
from jobs.workers import AsyncRecord, Flaky, Record, Refuse, SlowRetry, executions, run_counts


def test_raise_retries_with_backoff_then_fails(start_tree: StartTree, log: Path) -> None:
    start_tree()
    job = Flaky.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(job.id).status == "failed")
    failed = antsup.get_job(job.id)
    assert failed.attempts == 3 == failed.max_attempts
    assert [e["attempt"] for e in failed.errors] == [3, 2, 1]  # newest first
    assert failed.errors[0]["error"] == "ValueError: boom on attempt 3"
    assert "Traceback" in failed.errors[0]["stack_trace"]
    assert 'raise ValueError(f"boom on attempt' in failed.errors[0]["stack_trace"]
    assert failed.errors[0]["attempted_at"].tzinfo is not None
    assert run_counts(log) == {job.id: 3}


def test_retrying_is_scheduled_after_the_backoff(start_tree: StartTree, log: Path) -> None:
    start_tree()
    before = time.time()
    job = SlowRetry.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(job.id).status == "retrying")
    retrying = antsup.get_job(job.id)
    assert retrying.attempts == 1 and retrying.scheduled_at is not None
    assert before + 3600 <= retrying.scheduled_at.timestamp() <= time.time() + 3600
    assert retrying.errors[0]["error"] == "ValueError: boom on attempt 1"


def test_fail_has_no_stack_trace(start_tree: StartTree, log: Path) -> None:
    start_tree()
    job = Refuse.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(job.id).status == "failed")
    (error,) = antsup.get_job(job.id).errors
    assert error["error"] == "invalid email" and error["stack_trace"] is None


def test_async_perform(start_tree: StartTree, log: Path) -> None:
    start_tree()
    jobs = AsyncRecord.perform_many([{"log": str(log), "sleep": 0.01} for _ in range(3)])
    wait_until(lambda: all(antsup.get_job(j.id).status == "completed" for j in jobs))
    assert antsup.get_job(jobs[0].id).result == {"async": True}


def test_async_jobs_overlap_with_threads(start_tree: StartTree, log: Path) -> None:
    start_tree(threads=4)
    AsyncRecord.perform_many([{"log": str(log), "sleep": 0.3} for _ in range(4)])
    wait_until(lambda: len(executions(log)) == 4)
    rows = executions(log)
    assert max(start for _, _, start, _, _ in rows) < min(end for _, _, _, end, _ in rows)


def test_threads_run_jobs_side_by_side_in_one_process(start_tree: StartTree, log: Path) -> None:
    start_tree(workers=1, threads=3)
    Record.perform_many([{"log": str(log), "sleep": 0.3} for _ in range(3)])
    wait_until(lambda: len(executions(log)) == 3)
    rows = executions(log)
    assert len({pid for *_, pid in rows}) == 1
    assert max(start for _, _, start, _, _ in rows) < min(end for _, _, _, end, _ in rows)
