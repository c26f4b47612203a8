"""Worker recycling: past max_memory_per_worker or max_jobs_per_worker a worker retires and is
replaced, without failing or re-running any job."""

from __future__ import annotations

from pathlib import Path

from conftest import wait_until

import antsup
from recycling.recycle_workers import Leak, LeakThenWait, WhoAmI

MODULES = ["recycling.recycle_workers"]


def finished(jobs: list[antsup.Job]) -> list[antsup.Job] | None:
    now = [antsup.get_job(job.id) for job in jobs]
    return now if all(job.status in ("completed", "failed") for job in now) else None


def test_a_worker_over_its_memory_limit_is_replaced_between_jobs(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    with antsup.start(
        workers=1, data_dir=tmp_path / "data", modules=MODULES, max_memory_per_worker=80 * 2**20
    ):
        jobs = Leak.perform_many([{"n": n} for n in range(5)])
        done = wait_until(lambda: finished(jobs), timeout=60)
    assert [job.status for job in done] == ["completed"] * 5
    assert all(job.attempts == 1 for job in done)  # retiring failed nothing and re-ran nothing
    pids = [job.result for job in done]
    assert len(set(pids)) >= 2, pids  # 40 MB a job: no process can hold all five under 80 MB


def test_a_worker_retires_after_max_jobs_per_worker(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    with antsup.start(
        workers=1, data_dir=tmp_path / "data", modules=MODULES, max_jobs_per_worker=3
    ):
        jobs = WhoAmI.perform_many([{"n": n} for n in range(9)])
        done = wait_until(lambda: finished(jobs), timeout=60)
    assert all(job.status == "completed" and job.attempts == 1 for job in done)
    per_process: dict[int, int] = {}
    for job in done:
        per_process[job.result] = per_process.get(job.result, 0) + 1
    assert len(per_process) >= 3 and max(per_process.values()) <= 3, per_process


def test_the_watchdog_sees_a_job_grow_past_the_limit_while_it_runs(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    leak, release = tmp_path / "leak", tmp_path / "release"
    with antsup.start(
        workers=1, data_dir=tmp_path / "data", modules=MODULES, max_memory_per_worker=150 * 2**20
    ):
        big = LeakThenWait.perform_async({"leak": str(leak), "release": str(release)})
        behind = WhoAmI.perform_async({"n": 1})  # sent ahead to the same worker

        def statuses() -> list[str]:
            return [antsup.get_job(job.id).status for job in (big, behind)]

        wait_until(lambda: statuses() == ["running", "running"], timeout=20)
        leak.touch()  # now the job grows past the limit while it runs
        # The watchdog notices during the job: the worker hands back the job waiting behind it.
        wait_until(lambda: statuses() == ["running", "enqueued"], timeout=20)
        release.touch()
        done = wait_until(lambda: finished([big, behind]), timeout=30)
    assert [job.status for job in done] == ["completed", "completed"]
    assert [job.attempts for job in done] == [1, 1]
    assert done[0].result != done[1].result  # the job behind ran in the replacement
