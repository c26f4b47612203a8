"""Workers for the recycling tests: one that leaks memory, one that reports its process."""

from __future__ import annotations

import os

import antsup

_leak: list[bytes] = []


class Leak(antsup.Worker):
    """Keeps 40 MB per job alive in the worker process, as a leaking library would."""

    def perform(self, job: antsup.Job) -> int:
        _leak.append(os.urandom(1024) * (40 * 1024))
        return os.getpid()


class WhoAmI(antsup.Worker):
    def perform(self, job: antsup.Job) -> int:
        return os.getpid()


class LeakThenWait(antsup.Worker):
    """Once the test creates `args["leak"]`, leaks 200 MB; then runs until `args["release"]`."""

    def perform(self, job: antsup.Job) -> int:
        import time
        from pathlib import Path

        deadline = time.monotonic() + 30
        for step in ("leak", "release"):
            while not Path(job.args[step]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)  # the job's own work: waiting for the test's go-ahead
            if step == "leak":
                _leak.append(os.urandom(1024) * (200 * 1024))
        return os.getpid()
