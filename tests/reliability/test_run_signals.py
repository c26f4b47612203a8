"""`antsup run` under SIGTERM/SIGINT with a job running (tests/cli covers the idle stop and the
second SIGINT's exit): the job finishes within the grace and is kept as completed; after a
forced stop the journal is still sound and the cut-off job is accounted for."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.helpers import Served, antsup_cmd, antsup_json, serve
from conftest import pid_alive, wait_until

from antsup.journal import verify


@pytest.fixture
def served(tmp_path: Path, no_leftover_processes: None) -> Iterator[Served]:
    running = serve(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()  # the guardian sweeps the tree
            running.process.wait()


def enqueue_blocker(data_dir: Path, tmp_path: Path) -> tuple[int, Path, Path]:
    started, release = tmp_path / "started", tmp_path / "release"
    args = json.dumps({"started": str(started), "release": str(release)})
    done = antsup_cmd(data_dir, "enqueue", "cli_app.Blocker", "--args", args)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[1]), started, release  # "job 1 enqueued on queue default"


def job_after_restart(tmp_path: Path, job_id: int) -> dict[str, object]:
    served = serve(tmp_path)

    def finished() -> dict[str, object] | None:
        job = dict(antsup_json(served.data_dir, "jobs", "show", str(job_id)))
        return job if job["status"] in ("completed", "failed") else None

    try:
        # A job whose worker was killed is failed once its pid is seen gone: at once, or after
        # the 5 s reconnect grace when the dead worker is still an unreaped zombie.
        job = wait_until(finished, timeout=15, interval=0.2)
        assert job is not None
        return job
    finally:
        assert served.stop() == 0, served.log_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_one_signal_lets_the_running_job_finish(served: Served, tmp_path: Path, sig: int) -> None:
    job_id, started, release = enqueue_blocker(served.data_dir, tmp_path)
    wait_until(started.exists, 10)
    served.process.send_signal(sig)
    wait_until(lambda: "stopping" in served.log_text(), 10)
    assert served.process.poll() is None, "it waits for the running job"
    release.touch()
    assert served.process.wait(timeout=30) == 0, served.log_text()
    job = job_after_restart(tmp_path, job_id)
    assert (job["status"], job["attempts"]) == ("completed", 1), job


def test_second_sigint_kill_keeps_the_journal_sound(served: Served, tmp_path: Path) -> None:
    job_id, started, release = enqueue_blocker(served.data_dir, tmp_path)
    wait_until(started.exists, 10)
    tree = served.tree_pids()
    served.process.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping" in served.log_text(), 10)
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=15) == 130
    wait_until(lambda: not any(pid_alive(pid) for pid in tree))
    assert verify(served.data_dir / "journal").damage is None
    release.touch()
    job = job_after_restart(tmp_path, job_id)
    # A forced stop is a kill -9: the cut-off job's attempt counts (Blocker has one attempt),
    # unless the queue manager saw the worker's connection close first, while it was already
    # stopping: then the job was put back without using its attempt, and runs again now.
    described = json.dumps(job, default=str)
    assert job["attempts"] == 1, described
    outcome = (job["status"], job["result"])
    assert outcome in (("failed", None), ("completed", "released")), described
