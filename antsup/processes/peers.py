"""What the queue manager knows about one connected worker process."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import islice
from typing import Any

from antsup.processes.channel import Channel

#: Jobs shorter than this (seconds, on average) are "fast": a worker gets its full prefetch.
FAST_JOB = 0.005


class WorkerPeer:
    """A worker's jobs in the order it was sent them.

    The worker runs its jobs first in, first out on `threads` slots and reports each outcome
    before it starts its next job, so the first `threads` outstanding jobs are the ones running
    and the rest are waiting. That is how a crash is pinned on the job that caused it and the
    waiting jobs go back without using an attempt.
    """

    def __init__(self, channel: Channel, pid: int, capacity: int, threads: int) -> None:
        self.channel = channel
        self.conn = channel.conn
        self.pid = pid
        self.capacity = capacity
        self.threads = threads
        #: Jobs sent ahead while jobs here are slow: one per running slot is enough to never
        #: wait, and more would hold jobs back from other workers.
        self.slow_capacity = min(capacity, 2 * threads)
        #: Recent average seconds per job (exponentially weighted), None before any outcome.
        self.job_seconds: float | None = None
        #: job id -> when it started running here (None while it waits in the worker).
        self.outstanding: dict[int, float | None] = {}
        self.draining = False
        #: The job whose timeout made us kill this worker, if any.
        self.timed_out: int | None = None
        #: What the next message to it carries: new jobs (wire form) and acknowledged outcomes.
        self.runs: list[list[Any]] = []
        self.acks: list[int] = []

    def idle_slots(self) -> int:
        """Running slots with nothing in them (jobs it would start right away)."""
        if self.draining or self.timed_out is not None:
            return 0
        return self.threads - len(self.outstanding)

    def free(self) -> int:
        """How many more jobs to send: deep prefetch only while jobs are fast (under
        FAST_JOB seconds), where the round trip to the queue manager would leave it idle."""
        if self.draining or self.timed_out is not None:
            return 0
        fast = self.job_seconds is not None and self.job_seconds < FAST_JOB
        return (self.capacity if fast else self.slow_capacity) - len(self.outstanding)

    def observe(self, seconds: float) -> None:
        previous = self.job_seconds
        self.job_seconds = seconds if previous is None else 0.8 * previous + 0.2 * seconds

    def mark_started(self, now: float) -> list[int]:
        """Give a start time to jobs that just entered a running slot; returns their ids."""
        started = []
        for job_id, since in islice(self.outstanding.items(), self.threads):
            if since is None:
                started.append(job_id)
        for job_id in started:
            self.outstanding[job_id] = now
        return started

    def running_and_waiting(self) -> tuple[list[int], list[int]]:
        ids = list(self.outstanding)
        return ids[: self.threads], ids[self.threads :]

    def take_message(self) -> Callable[[], None]:
        """The pending jobs and acks as one send, to run once they are durable."""
        message = ["run", self.runs, self.acks]
        self.runs, self.acks = [], []
        return partial(self.send, message)

    def send(self, message: Any) -> None:
        """Never waits: a worker busy in a long job is not reading. A dead worker is noticed
        (its jobs handled) when its connection closes."""
        self.channel.offer(message)

    def close(self) -> None:
        self.channel.close()
