"""Events from a real tree: job lifecycle, worker crashes, and handlers that raise."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from jobs.conftest import StartTree
from jobs.workers import Crash, Flaky, Record, run_counts

import antsup
from antsup import events
from observability.recorder import Recorder, attach, wait_subscribed


@pytest.fixture(autouse=True)
def clean_handlers() -> Iterator[None]:
    yield
    for handler_id in events.attached():
        events.detach(handler_id)


def worker_pids() -> set[int]:
    return {row["pid"] for row in antsup.stats()["processes"] if row["role"] == "worker"}


def test_handlers_attached_before_and_after_start_see_job_events(
    start_tree: StartTree, log: Path
) -> None:
    early = attach("early", Recorder())
    start_tree()
    late = attach("late", Recorder())
    wait_subscribed([early, late], log)

    before = time.time()
    ok = Record.perform_async({"log": str(log), "result": 42})
    flaky = Flaky.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(flaky.id).status == "failed")
    for seen in (early, late):
        (start,) = seen.wait_for("job:start", id=ok.id)
        assert start["worker"] == "jobs.workers.Record" and start["queue"] == "default"
        assert start["attempt"] == 1 and 0 <= start["queued_for"] < 5
        (success,) = seen.wait_for("job:success", id=ok.id)
        assert success["attempt"] == 1 and 0 <= success["duration"] < 5

        starts = seen.wait_for("job:start", 3, id=flaky.id)
        assert [s["attempt"] for s in starts] == [1, 2, 3]
        failures = seen.wait_for("job:failure", 3, id=flaky.id)
        expected = [f"ValueError: boom on attempt {n}" for n in (1, 2, 3)]
        assert [f["error"] for f in failures] == expected
        assert all(f["worker"] == "jobs.workers.Flaky" and f["duration"] >= 0 for f in failures)
        retries = seen.wait_for("job:retry", 2, id=flaky.id)
        assert [r["attempt"] for r in retries] == [1, 2]  # none after the last attempt
        assert all(before <= r["retry_at"] <= time.time() + 1 for r in retries)  # backoff 0
        assert not seen.of("job:failure", id=ok.id) and not seen.of("job:success", id=flaky.id)


def test_outcome_events_carry_queued_for(start_tree: StartTree, log: Path) -> None:
    seen = attach("seen", Recorder())
    start_tree()
    wait_subscribed([seen], log)
    ok = Record.perform_async({"log": str(log)})
    flaky = Flaky.perform_async({"log": str(log)})
    (success,) = seen.wait_for("job:success", id=ok.id)
    failure = seen.wait_for("job:failure", id=flaky.id)[0]
    assert success["queued_for"] >= 0 and failure["queued_for"] >= 0


def test_a_crashing_job_reports_the_crash_and_the_restart(start_tree: StartTree, log: Path) -> None:
    seen = attach("seen", Recorder())
    start_tree()
    wait_subscribed([seen], log)
    (old_pid,) = wait_until(worker_pids)
    Crash.perform_async({"log": str(log), "how": "exit"}, max_attempts=1)  # one crash
    (crash,) = seen.wait_for("child:crash")
    assert crash == {
        "supervisor": "pool",
        "id": crash["id"],
        "role": "worker",
        "pid": old_pid,
        "exit": "exit code 3",
    }
    assert crash["id"].startswith("worker-")
    (restart,) = seen.wait_for("child:restart")
    assert restart["supervisor"] == "pool" and restart["role"] == "worker"
    assert restart["pid"] != old_pid
    assert wait_until(worker_pids) == {restart["pid"]}


def test_a_crashed_attempt_is_a_job_failure(start_tree: StartTree, log: Path) -> None:
    seen = attach("seen", Recorder())
    start_tree()
    wait_subscribed([seen], log)
    crash = Crash.perform_async({"log": str(log), "how": "exit"})  # two attempts, two crashes
    wait_until(lambda: antsup.get_job(crash.id).status == "failed")
    failures = seen.wait_for("job:failure", 2, id=crash.id)
    assert all("exit code 3" in failure["error"] for failure in failures)
    (retry,) = seen.wait_for("job:retry", id=crash.id)  # after the first attempt only
    assert retry["attempt"] == 1


def test_a_raising_handler_is_detached_and_the_tree_keeps_working(
    start_tree: StartTree, log: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[dict[str, Any]] = []

    def broken(event: str, data: dict[str, Any]) -> None:
        calls.append(data)
        raise RuntimeError("metrics backend down")

    fine = attach("fine", Recorder())
    events.attach("broken", ["job:success"], broken)
    start_tree()
    with caplog.at_level(logging.ERROR, logger="antsup.events"):
        wait_subscribed([fine], log)
        jobs = Record.perform_many([{"log": str(log)} for _ in range(20)])
        wait_until(lambda: all(antsup.get_job(j.id).status == "completed" for j in jobs))
        for job in jobs:
            fine.wait_for("job:success", id=job.id)
        wait_until(lambda: "metrics backend down" in caplog.text)
    assert len(calls) == 1, "called once, then detached"
    assert events.attached() == ["fine"]
    assert "'broken'" in caplog.text and "detached" in caplog.text
    assert all(count == 1 for count in run_counts(log).values())


def queue_manager_pid() -> int:
    """The queue manager's pid, or 0 while it restarts."""
    try:
        rows = antsup.stats()["processes"]
    except Exception:  # restarting: the next poll asks again
        return 0
    return next((int(row["pid"]) for row in rows if row["role"] == "queue_manager"), 0)


def test_a_killed_queue_manager_is_reported_and_events_follow_its_replacement(
    start_tree: StartTree, log: Path
) -> None:
    seen = attach("seen", Recorder())
    start_tree()
    wait_subscribed([seen], log)
    old = wait_until(queue_manager_pid)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: queue_manager_pid() not in (0, old))
    wait_subscribed([seen], log)  # the subscription reconnected by itself
    (crash,) = seen.wait_for("child:crash", timeout=1)
    assert crash["role"] == "queue_manager" and crash["pid"] == old
    job = Record.perform_async({"log": str(log)})
    seen.wait_for("job:success", id=job.id)


def test_a_blocked_handler_does_not_stall_the_tree(start_tree: StartTree, log: Path) -> None:
    release = threading.Event()
    seen = attach("seen", Recorder())
    start_tree()
    try:
        wait_subscribed([seen], log)
        events.attach("blocked", ["job:success"], lambda event, data: release.wait(30))
        probes = len(run_counts(log))
        Record.perform_many([{"log": str(log)} for _ in range(2000)])
        # Only the runs log is read here: a client call would wait on the stalled tree too.
        wait_until(lambda: len(run_counts(log)) == probes + 2000, timeout=5)
    finally:
        release.set()
