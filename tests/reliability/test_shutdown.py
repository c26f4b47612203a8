"""Graceful shutdown: dispatch stops, running jobs finish, waiting ones go back unharmed, a job
that outlives the grace period is cut off without using an attempt, the journal is compacted."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import wait_until
from jobs.conftest import StartTree
from jobs.workers import Record, executions, run_counts

import antsup
from antsup.journal import verify
from reliability.rel_workers import Gate, starts


def stop_in_background(tree: antsup.Tree) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(tree.stop()), daemon=True)
    thread.start()
    return thread, codes


def test_stop_finishes_running_jobs_and_hands_back_waiting_ones(
    start_tree: StartTree, log: Path, tmp_path: Path
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    gate_args = {"log": str(log), "started": str(started), "release": str(release)}
    tree = start_tree(workers=1, threads=2, shutdown_grace=20.0)
    gates = Gate.perform_many([gate_args, gate_args])
    wait_until(lambda: all(starts(started, g.id) == [1] for g in gates))
    others = Record.perform_many([{"log": str(log)} for _ in range(6)])
    # Two of them are sent ahead to the busy worker (they wait there), four stay queued.
    wait_until(lambda: sum(antsup.get_job(o.id).status == "running" for o in others) == 2)

    thread, codes = stop_in_background(tree)
    # Dispatch stops; the jobs waiting in the worker come back without using an attempt.
    wait_until(
        lambda: all(
            (job := antsup.get_job(o.id)).status == "enqueued" and job.attempts == 0 for o in others
        )
    )
    assert thread.is_alive(), "stop waits for the running jobs"
    assert all(antsup.get_job(g.id).status == "running" for g in gates)
    release.touch()
    thread.join(timeout=30)
    assert codes == [0]
    assert set(run_counts(log)) == {g.id for g in gates}, "nothing else started while stopping"

    # The journal was compacted on stop: one snapshot, and nothing but a header after it.
    journal = tmp_path / "data" / "journal"
    snapshots = sorted(journal.glob("snapshot-*.snap"))
    segments = sorted(journal.glob("segment-*.log"))
    assert len(snapshots) == 1, sorted(journal.iterdir())
    assert all(s.stat().st_size <= 64 for s in segments), [s.stat() for s in segments]
    assert verify(journal).damage is None

    start_tree(workers=1, threads=2)
    for gate in gates:
        job = antsup.get_job(gate.id)
        assert (job.status, job.attempts, job.result) == ("completed", 1, "released")
    wait_until(lambda: all(antsup.get_job(o.id).status == "completed" for o in others))
    for other in others:
        assert antsup.get_job(other.id).attempts == 1
    rows = [row for row in executions(log) if row[0] in {o.id for o in others}]
    assert sorted(row[0] for row in rows) == sorted(o.id for o in others), "each ran once"
    assert {row[1] for row in rows} == {1}, "each ran as its first attempt"


@pytest.mark.parametrize(
    "threads",
    [
        1,
        2,
    ],
)
def test_a_job_outliving_the_grace_period_is_cut_off_without_using_an_attempt(
    start_tree: StartTree, log: Path, tmp_path: Path, threads: int
) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    tree = start_tree(workers=1, threads=threads, shutdown_grace=0.5)
    gate = Gate.perform_async({"log": str(log), "started": str(started), "release": str(release)})
    wait_until(lambda: starts(started, gate.id) == [1])
    began = time.monotonic()
    assert tree.stop() == 0
    print(
        f"\nstop with a job outliving a 0.5 s grace (threads={threads}) took "
        f"{time.monotonic() - began:.2f} s"
    )
    assert run_counts(log) == {}, "the job was cut off"

    release.touch()
    start_tree(workers=1, threads=threads)
    wait_until(lambda: antsup.get_job(gate.id).status in ("completed", "failed"))
    job = antsup.get_job(gate.id)
    assert (job.status, job.errors) == ("completed", [])
    assert starts(started, gate.id) == [1, 1], "started again as the same first attempt"
    assert job.attempts == 1
