"""What a chaos run must show, counted from three independent sources of truth:

- the ids whose insert returned (acknowledged by the queue manager),
- the side file, where every execution wrote one line before doing anything else,
- the jobs as the queue manager reports them, and as a fresh replay of the journal rebuilds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import antsup
from antsup.core import Machine


@dataclass
class Verdict:
    jobs: int = 0
    lost: list[str] = field(default_factory=list)
    over_attempts: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    replay_mismatches: list[str] = field(default_factory=list)
    retried_executions: int = 0
    failed_jobs: int = 0

    @property
    def problems(self) -> list[str]:
        return [*self.lost, *self.over_attempts, *self.unexplained, *self.replay_mismatches]


def judge(
    acknowledged: list[int],
    final: dict[int, antsup.Job],
    runs: dict[int, list[tuple[int, int]]],
    replayed: Machine,
) -> Verdict:
    verdict = Verdict(jobs=len(acknowledged))
    for job_id in acknowledged:
        _check_outcome(verdict, job_id, final.get(job_id))
    for job_id, executions in runs.items():
        _check_executions(verdict, job_id, final.get(job_id), executions)
    for job_id, job in final.items():
        if job.status == "completed" and not runs.get(job_id):
            verdict.unexplained.append(f"job {job_id} completed but never executed")
        _check_replay(verdict, job, replayed)
    extra = len(replayed.list_jobs()) - len(final)
    if extra:
        verdict.replay_mismatches.append(f"replay holds {extra:+d} jobs vs the queue manager")
    verdict.failed_jobs = sum(1 for job in final.values() if job.status == "failed")
    return verdict


def _check_outcome(verdict: Verdict, job_id: int, job: antsup.Job | None) -> None:
    """Every acknowledged job completed, or failed having used exactly all its attempts."""
    if job is None:
        verdict.lost.append(f"acknowledged job {job_id} is gone")
    elif job.status == "failed" and job.attempts != job.max_attempts:
        verdict.lost.append(f"job {job_id} failed after {job.attempts}/{job.max_attempts}")
    elif job.status not in ("completed", "failed"):
        verdict.lost.append(f"job {job_id} ended {job.status}")


def _check_executions(
    verdict: Verdict, job_id: int, job: antsup.Job | None, executions: list[tuple[int, int]]
) -> None:
    """No more runs than attempts; every run beyond the first answers for a recorded failure."""
    if job is None:
        verdict.over_attempts.append(f"job {job_id} ran {len(executions)}x but is unknown")
        return
    if len(executions) > job.attempts or job.attempts > job.max_attempts:
        verdict.over_attempts.append(
            f"job {job_id} ran {len(executions)}x with attempts "
            f"{job.attempts}/{job.max_attempts}: {executions}"
        )
    attempts = [attempt for attempt, _ in executions]
    if len(set(attempts)) != len(attempts):
        verdict.unexplained.append(f"job {job_id} ran one attempt twice: {executions}")
    elif len(executions) > 1 and len(job.errors) < len(executions) - 1:
        verdict.unexplained.append(
            f"job {job_id} ran {len(executions)}x but records {len(job.errors)} errors"
        )
    verdict.retried_executions += max(0, len(executions) - 1)


def _check_replay(verdict: Verdict, job: antsup.Job, replayed: Machine) -> None:
    record = replayed.get(job.id)
    if record is None:
        verdict.replay_mismatches.append(f"job {job.id} is missing from the replayed journal")
        return
    live = (job.status, job.attempts, len(job.errors))
    again = (str(record.status), record.attempts, len(record.errors))
    if live != again:
        verdict.replay_mismatches.append(f"job {job.id}: live {live} != replayed {again}")
