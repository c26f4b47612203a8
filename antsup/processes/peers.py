"""What the queue manager knows about one connected worker process."""

from __future__ import annotations

import contextlib
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any

from antsup.processes.wire import send


class WorkerPeer:
    """A worker's jobs in the order it was sent them.

    The worker runs its jobs first in, first out on `threads` slots and reports each outcome
    before it starts its next job, so the first `threads` outstanding jobs are the ones running
    and the rest are waiting. That is how a crash is pinned on the job that caused it and the
    waiting jobs go back without using an attempt.
    """

    def __init__(self, conn: Connection, pid: int, capacity: int, threads: int) -> None:
        self.conn = conn
        self.pid = pid
        self.capacity = capacity
        self.threads = threads
        #: job id -> when it started running here (None while it waits in the worker).
        self.outstanding: dict[int, float | None] = {}
        self.draining = False
        #: The job whose timeout made us kill this worker, if any.
        self.timed_out: int | None = None

    def free(self) -> int:
        if self.draining or self.timed_out is not None:
            return 0
        return self.capacity - len(self.outstanding)

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

    def send(self, message: Any) -> None:
        """Best effort: a dead worker is noticed (and its jobs handled) when its pipe closes."""
        with contextlib.suppress(OSError):
            send(self.conn, message)
