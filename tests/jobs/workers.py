"""Worker classes for the job-system tests, importable by the tree's worker processes.

Every job appends one line `id attempt start end pid` to the file named by `args["log"]`, so a
test can count how many times each job really ran (an append of one short line is atomic).
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

import antsup


def record(job: antsup.Job, start: float) -> None:
    line = f"{job.id} {job.attempts} {start:.6f} {time.time():.6f} {os.getpid()}\n"
    fd = os.open(job.args["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def executions(log: Path) -> list[tuple[int, int, float, float, int]]:
    """Rows (id, attempt, start, end, pid) of every finished or started run recorded in `log`."""
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        job_id, attempt, start, end, pid = line.split()
        rows.append((int(job_id), int(attempt), float(start), float(end), int(pid)))
    return rows


def run_counts(log: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for row in executions(log):
        counts[row[0]] = counts.get(row[0], 0) + 1
    return counts


class Record(antsup.Worker):
    """Sleeps `args["sleep"]` seconds, records the run, returns `args["result"]`."""

    def perform(self, job: antsup.Job) -> Any:
        start = time.time()
        if job.args.get("sleep"):
            time.sleep(job.args["sleep"])
        record(job, start)
        return job.args.get("result")


class Single(Record):
    """Runs in the queue "single", whose concurrency limit the tests set to 1."""

    queue = "single"


class Flaky(antsup.Worker):
    """Always raises; retries at once (backoff 0)."""

    max_attempts = 3

    def perform(self, job: antsup.Job) -> Any:
        record(job, time.time())
        raise ValueError(f"boom on attempt {job.attempts}")

    def backoff(self, job: antsup.Job) -> float:
        return 0.0


class SlowRetry(Flaky):
    """Fails once with the default (long) backoff: the job stays `retrying`."""

    max_attempts = 2

    def backoff(self, job: antsup.Job) -> float:
        return 3600.0


class Refuse(antsup.Worker):
    """Returns antsup.Fail: an expected failure, no stack trace."""

    def perform(self, job: antsup.Job) -> Any:
        record(job, time.time())
        return antsup.Fail("invalid email")


class AsyncRecord(antsup.Worker):
    async def perform(self, job: antsup.Job) -> Any:
        start = time.time()
        await asyncio.sleep(job.args.get("sleep", 0))
        record(job, start)
        return {"async": True}


class Crash(antsup.Worker):
    """Takes its whole worker process down, as `args["how"]` says."""

    max_attempts = 2

    def perform(self, job: antsup.Job) -> Any:
        record(job, time.time())
        how = job.args["how"]
        if how == "exit":
            os._exit(3)
        elif how == "segfault":
            ctypes.string_at(0)
        elif how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError(f"unknown crash {how!r}")

    def backoff(self, job: antsup.Job) -> float:
        return 0.0


class Hang(antsup.Worker):
    """Sleeps far past its timeout."""

    timeout = 0.5

    def perform(self, job: antsup.Job) -> Any:
        record(job, time.time())
        time.sleep(60)


class Deduped(Record):
    unique = antsup.Unique(args=["key"])


class NotAWorker:
    """Not an antsup.Worker: a job naming it must fail without it being imported or called."""

    def perform(self, job: antsup.Job) -> Any:
        raise AssertionError("never called")


class Big(antsup.Worker):
    """Returns a string of `args["size"]` bytes: large results, many at once."""

    def perform(self, job: antsup.Job) -> Any:
        return "x" * job.args["size"]


class Spin(antsup.Worker):
    """Burns CPU until the file `args["release"]` exists."""

    def perform(self, job: antsup.Job) -> Any:
        release = Path(job.args["release"])
        while not release.exists():
            sum(range(10_000))
        return None
