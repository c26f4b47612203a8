"""The jobs the benchmarks run: imported by every worker process of a benchmark tree."""

from __future__ import annotations

import os
import time
from typing import Any

import antsup


class Noop(antsup.Worker):
    """Does nothing: measures antsup itself, not the job."""

    def perform(self, job: antsup.Job) -> None:
        return None


class Stamp(antsup.Worker):
    """Returns when it started and in which process, for latency and restart timings."""

    queue = "probe"
    #: A probe enqueued just as its worker is killed may be sent to the dying worker: it then
    #: retries at once in the replacement rather than fail the measurement.
    max_attempts = 3

    def backoff(self, job: antsup.Job) -> float:
        return 0.0

    def perform(self, job: antsup.Job) -> Any:
        return [time.time(), os.getpid()]
