"""The public API on a real tree: enqueueing, queries, job operations, queues, uniqueness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import wait_until

import antsup
from jobs.conftest import StartTree
from jobs.workers import Deduped, Record, Single, SlowRetry, Spin, executions, run_counts


def test_enqueue_run_and_keep_results(start_tree: StartTree, log: Path) -> None:
    start_tree(workers=2)
    one = Record.perform_async({"log": str(log), "result": {"n": 1}})
    assert one.status == "enqueued" and one.worker == "jobs.workers.Record"
    assert one.queue == "default" and one.attempts == 0 and one.max_attempts == 1
    assert one.inserted_at.tzinfo is UTC
    many = Record.perform_many([{"log": str(log), "result": i} for i in range(20)])
    ids = [one.id] + [job.id for job in many]
    assert ids == sorted(ids) and len(set(ids)) == 21
    wait_until(lambda: len(antsup.list_jobs(status="completed")) == 21)
    assert antsup.get_job(one.id).result == {"n": 1}
    assert [antsup.get_job(job.id).result for job in many] == list(range(20))
    done = antsup.get_job(one.id)
    assert done.attempts == 1 and done.errors == [] and done.updated_at >= done.inserted_at
    assert run_counts(log) == {job_id: 1 for job_id in ids}


def test_scheduled_jobs_wait_for_their_time(start_tree: StartTree, log: Path) -> None:
    start_tree()
    later = Record.perform_in(0.4, {"log": str(log)})
    far = Record.perform_at(datetime.now(UTC) + timedelta(hours=1), {"log": str(log)})
    assert later.status == "scheduled" and far.status == "scheduled"
    assert later.scheduled_at is not None and far.scheduled_at is not None
    assert far.scheduled_at - datetime.now(UTC) > timedelta(minutes=59)
    wait_until(lambda: antsup.get_job(later.id).status == "completed")
    (row,) = executions(log)
    assert row[2] >= later.scheduled_at.timestamp() - 0.01
    assert antsup.get_job(far.id).status == "scheduled"
    with pytest.raises(ValueError, match="timezone-aware"):
        Record.perform_at(datetime.now() + timedelta(hours=1), {"log": str(log)})


def test_list_jobs_filters(start_tree: StartTree, log: Path) -> None:
    start_tree(queues={"default": 10, "single": 1})
    antsup.pause_queue("default")
    antsup.pause_queue("single")
    a = Record.perform_many([{"log": str(log), "kind": "a", "n": i} for i in range(3)])
    b = Single.perform_many([{"log": str(log), "kind": "b", "n": i} for i in range(2)])
    c = Record.perform_in(3600, {"log": str(log), "kind": "c"})
    assert [j.id for j in antsup.list_jobs(status="enqueued")] == [j.id for j in a + b]
    assert [j.id for j in antsup.list_jobs(status="scheduled")] == [c.id]
    assert [j.id for j in antsup.list_jobs(queue="single")] == [j.id for j in b]
    assert [j.id for j in antsup.list_jobs(worker=Single)] == [j.id for j in b]
    assert [j.id for j in antsup.list_jobs(worker="jobs.workers.Single")] == [j.id for j in b]
    assert [j.id for j in antsup.list_jobs(args={"kind": "a", "n": 1})] == [a[1].id]
    assert [j.id for j in antsup.list_jobs(args={"kind": "b"}, limit=1)] == [b[0].id]
    assert len(antsup.list_jobs(limit=4)) == 4
    assert antsup.list_jobs(args={"kind": "nothing"}) == []


def test_get_cancel_retry_delete(start_tree: StartTree, log: Path) -> None:
    start_tree()
    with pytest.raises(antsup.JobNotFound):
        antsup.get_job(10_000)
    scheduled = Record.perform_in(3600, {"log": str(log)})
    cancelled = antsup.cancel_job(scheduled.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(antsup.InvalidTransition):
        antsup.cancel_job(scheduled.id)
    failing = SlowRetry.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(failing.id).status == "retrying")
    assert antsup.get_job(failing.id).scheduled_at > datetime.now(UTC) + timedelta(minutes=50)
    retried = antsup.retry_job(failing.id)  # run now, not in an hour
    assert retried.status in ("enqueued", "running", "retrying", "failed")
    wait_until(lambda: antsup.get_job(failing.id).status == "failed")
    assert antsup.get_job(failing.id).attempts == 2
    antsup.retry_job(cancelled.id)  # a cancelled job can be run again
    wait_until(lambda: antsup.get_job(cancelled.id).status == "completed")
    antsup.delete_job(cancelled.id)
    with pytest.raises(antsup.JobNotFound):
        antsup.get_job(cancelled.id)
    with pytest.raises(antsup.JobNotFound):
        antsup.delete_job(cancelled.id)


def test_stats_shape(start_tree: StartTree, log: Path) -> None:
    tree = start_tree(workers=2, queues={"default": 10, "single": 1})
    Record.perform_many([{"log": str(log)} for _ in range(10)])
    wait_until(lambda: antsup.stats()["totals"].get("completed") == 10)
    stats = antsup.stats()
    assert set(stats) >= {"queues", "totals", "jobs_per_second", "processes"}
    assert stats["queues"]["default"]["limit"] == 10
    assert stats["queues"]["single"]["limit"] == 1
    assert stats["queues"]["default"]["counts"]["completed"] == 10
    assert set(stats["queues"]["default"]["counts"]) == {
        "enqueued", "scheduled", "running", "retrying", "completed", "failed", "cancelled"
    }  # fmt: skip
    assert stats["jobs_per_second"] >= 0
    roles = [row["role"] for row in stats["processes"]]
    assert roles.count("worker") == 2
    for role in ("root_supervisor", "queue_manager", "persistence"):
        assert role in roles
    root = next(row for row in stats["processes"] if row["role"] == "root_supervisor")
    assert root["pid"] == tree.pid
    assert all(row["rss"] > 0 for row in stats["processes"])


def test_stats_show_each_process_with_the_cpu_it_uses(
    start_tree: StartTree, tmp_path: Path
) -> None:
    tree = start_tree(workers=2)
    release = tmp_path / "release"
    spinning = Spin.perform_async({"release": str(release)})
    wait_until(lambda: antsup.get_job(spinning.id).status == "running")
    antsup.stats()  # CPU is measured between two calls

    def busy_worker() -> bool:
        rows = antsup.stats()["processes"]
        return any(row["role"] == "worker" and row["cpu_percent"] > 20 for row in rows)

    wait_until(busy_worker, interval=0.3)
    roles = sorted(row["role"] for row in antsup.stats()["processes"])
    assert roles == sorted(
        ["root_supervisor", "guardian", "core_supervisor", "persistence", "queue_manager",
         "pool_supervisor", "worker", "worker"]
    )  # fmt: skip
    assert {row["pid"] for row in antsup.stats()["processes"]} >= {tree.pid}
    release.touch()
    wait_until(lambda: antsup.get_job(spinning.id).status == "completed")


def test_scale_pause_resume(start_tree: StartTree, log: Path) -> None:
    start_tree(queues={"default": 10})
    queues = antsup.pause_queue("default")
    assert queues["default"]["paused"] is True
    job = Record.perform_async({"log": str(log)})
    # Paused: a ping round trip later the job is still waiting.
    antsup.stats()
    assert antsup.get_job(job.id).status == "enqueued"
    assert antsup.scale_queue("default", 3)["default"]["limit"] == 3
    assert antsup.resume_queue("default")["default"]["paused"] is False
    wait_until(lambda: antsup.get_job(job.id).status == "completed")
    assert antsup.scale_queue("extra", 2)["extra"]["limit"] == 2  # scaling creates a queue
    with pytest.raises(antsup.UnknownQueue):
        antsup.pause_queue("nope")
    with pytest.raises(ValueError):
        antsup.scale_queue("default", -1)


def test_queue_limit_one_never_overlaps(start_tree: StartTree, log: Path) -> None:
    start_tree(workers=2, threads=2, queues={"default": 10, "single": 1})
    Single.perform_many([{"log": str(log), "sleep": 0.05} for _ in range(6)])
    Record.perform_many([{"log": str(log), "sleep": 0.05} for _ in range(6)])
    wait_until(lambda: len(executions(log)) == 12, timeout=10)
    singles = {job.id for job in antsup.list_jobs(queue="single")}
    spans = sorted((s, e) for i, _, s, e, _ in executions(log) if i in singles)
    assert len(spans) == 6
    for (_, end), (next_start, _) in pairwise(spans):
        assert next_start >= end, "two jobs of a limit-1 queue ran at once"
    others = sorted((s, e) for i, _, s, e, _ in executions(log) if i not in singles)
    assert any(b[0] < a[1] for a, b in pairwise(others)), "default overlaps"


def test_unique_returns_the_existing_job(start_tree: StartTree, log: Path) -> None:
    start_tree()
    antsup.pause_queue("default")
    first = Deduped.perform_async({"log": str(log), "key": "a", "other": 1})
    again = Deduped.perform_async({"log": str(log), "key": "a", "other": 2})
    other = Deduped.perform_async({"log": str(log), "key": "b"})
    assert again.id == first.id and again.args["other"] == 1
    assert other.id != first.id
    assert len(antsup.list_jobs(worker=Deduped)) == 2
    antsup.resume_queue("default")
    wait_until(lambda: len(antsup.list_jobs(status="completed")) == 2)
    # Completed jobs no longer block a new one with the same key.
    fresh = Deduped.perform_async({"log": str(log), "key": "a"})
    assert fresh.id > other.id
