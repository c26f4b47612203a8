"""The chaos suite's job, importable by the tree's worker processes (module `chaos.chaos_workers`).

Each execution appends `"<job id> <attempt> <pid>\n"` to the side file named by `args["log"]`
BEFORE doing its work, with one `write` on an O_APPEND descriptor (atomic for a short line), so
an execution cut short by SIGKILL is recorded too: the file counts starts, not successes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import antsup

#: Enough attempts that the few kills a job can meet rarely exhaust them; some still may.
MAX_ATTEMPTS = 5


class ChaosJob(antsup.Worker):
    """Records its execution, then works a few milliseconds (so kills land mid-job too)."""

    max_attempts = MAX_ATTEMPTS

    def perform(self, job: antsup.Job) -> Any:
        line = f"{job.id} {job.attempts} {os.getpid()}\n".encode()
        fd = os.open(job.args["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        total = sum(i * i for i in range(200))
        time.sleep(job.args.get("sleep", 0.0))
        return total

    def backoff(self, job: antsup.Job) -> float:
        return 0.0


def executions(log: Path) -> dict[int, list[tuple[int, int]]]:
    """Job id -> [(attempt, pid), ...] for every execution recorded in the side file."""
    runs: dict[int, list[tuple[int, int]]] = {}
    if not log.exists():
        return runs
    for line in log.read_text().splitlines():
        job_id, attempt, pid = (int(field) for field in line.split())
        runs.setdefault(job_id, []).append((attempt, pid))
    return runs
