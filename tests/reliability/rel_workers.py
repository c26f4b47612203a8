"""Worker classes of the reliability tests, importable by the tree's worker processes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from jobs.workers import record

import antsup


def started_file(prefix: str, job_id: int) -> Path:
    return Path(f"{prefix}.{job_id}")


def starts(prefix: str | Path, job_id: int) -> list[int]:
    """The attempt number of each start of a Gate job."""
    path = started_file(str(prefix), job_id)
    return [int(line) for line in path.read_text().split()] if path.exists() else []


class Gate(antsup.Worker):
    """Appends its attempt number to `started_file(args["started"], id)` when it starts, then
    runs until the file `args["release"]` exists (a job surely running while the test looks),
    then records its run in `args["log"]`."""

    def perform(self, job: antsup.Job) -> Any:
        start = time.time()
        with open(started_file(job.args["started"], job.id), "a") as out:
            out.write(f"{job.attempts}\n")
        while not Path(job.args["release"]).exists():
            time.sleep(0.005)
        record(job, start)
        return "released"


class Poison(antsup.Worker):
    """Takes its worker process down on every attempt."""

    max_attempts = 3

    def perform(self, job: antsup.Job) -> Any:
        record(job, time.time())
        os._exit(7)

    def backoff(self, job: antsup.Job) -> float:
        return 0.0
