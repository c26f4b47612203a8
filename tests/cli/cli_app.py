"""The application `antsup run cli_app` serves in the CLI tests (run with this directory as cwd)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import antsup

ANTSUP = {"queues": {"default": 10, "mailers": 5}, "shutdown_grace": 30.0}


class Ok(antsup.Worker):
    def perform(self, job: antsup.Job) -> Any:
        return job.args


class Bad(antsup.Worker):
    max_attempts = 2

    def backoff(self, job: antsup.Job) -> float:
        return 0.05

    def perform(self, job: antsup.Job) -> Any:
        raise RuntimeError("boom")


class Blocker(antsup.Worker):
    """Runs until the file named in its args exists: a job that is surely running."""

    def perform(self, job: antsup.Job) -> Any:
        Path(job.args["started"]).touch()
        while not Path(job.args["release"]).exists():
            time.sleep(0.01)
        return "released"
