"""The queue manager's pure heart: every job's state, changed only by events.

No I/O and no clock: each method takes `now`. A command (insert, dispatch, complete...)
decides what happens, writes it down as events, applies them to itself through the same
transition code `apply` uses, and returns them for the journal. Replaying the journal is then
a fold of `apply` over its events, and `tick(now)` redoes the one thing that has no event:
scheduled and retrying jobs becoming due.

The state itself and the transitions live in `transitions.JobState`, the insert commands in
`inserting.Inserting`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from antsup.core import events as ev
from antsup.core.columns import chunks, columns_event
from antsup.core.events import Event, Failure
from antsup.core.inserting import Inserting
from antsup.core.job import (
    ENQUEUED,
    FINISHED,
    RUNNING,
    WAITING,
    JobRecord,
    Status,
)
from antsup.core.retention import Retention
from antsup.errors import InvalidTransition, JobNotFound, UnknownQueue


class Machine(Inserting):
    """Jobs, queues, scheduling and retention as a deterministic state machine.

    Contract for the caller (the queue manager): `now` is a finite epoch time; records returned
    are the live ones (read them, never mutate them); returned events may share values (args,
    results, opts) with those records, so pack them before anything could change. Replayed
    jobs naming a queue that is not configured are kept, counted and listed, but not
    dispatched until `scale_queue` creates that queue.
    """

    def __init__(
        self, queues: Mapping[str, int] | None = None, retention: Retention | None = None
    ) -> None:
        super().__init__(retention)
        for name, limit in (queues if queues is not None else {"default": 10}).items():
            self._set_queue(name, _check_limit(limit), False)

    # ---- commands -------------------------------------------------------------------------

    def dispatch(
        self, limit: int, pid: int, now: float, concurrency: int | None = None
    ) -> tuple[list[JobRecord], list[Event]]:
        """Start up to `limit` ready jobs on worker `pid`: round-robin across queues, FIFO
        within each, never past a queue's concurrency limit, never from a paused queue.

        `concurrency` is the most jobs the workers can run at once (workers x threads). A
        queue whose limit is at least that can never be overrun, so its jobs are handed out
        past the limit: workers hold them ahead (prefetch) instead of idling between jobs.
        """
        if limit <= 0:
            return [], []
        self._promote(now)
        names = [n for n, (_, paused) in self._queues.items() if not paused and self._ready[n]]
        if not names:
            return [], []
        turn = self._turn % len(names)
        self._turn += 1
        names = names[turn:] + names[:turn]
        room = {name: self._room(name, limit, concurrency) for name in names}
        started: list[JobRecord] = []
        while names and len(started) < limit:
            # Each round gives every open queue an equal share of what is left to start.
            share = max(1, (limit - len(started)) // len(names))
            still_open = []
            for name in names:
                wanted = min(share, room[name], limit - len(started))
                taken = self._start_ready(name, wanted, now, pid, started)
                room[name] -= taken
                if taken == wanted and room[name] > 0:
                    still_open.append(name)
                if len(started) >= limit:
                    break
            names = still_open
        if not started:
            return [], []
        return started, [[ev.START, now, pid, [job.id for job in started]]]

    def _room(self, name: str, wanted: int, concurrency: int | None) -> int:
        queue_limit = self._queues[name][0]
        if concurrency is not None and queue_limit >= concurrency:
            return wanted
        return queue_limit - self._table.running_count(name)

    def complete(self, outcomes: Sequence[tuple[int, Any]], now: float) -> list[Event]:
        """Record successful attempts; outcomes for jobs no longer running are ignored."""
        done = [[job_id, result] for job_id, result in outcomes if self._is_running(job_id)]
        if not done:
            return []
        self._complete(now, [(job_id, result) for job_id, result in done])
        return [[ev.DONE, now, done]]

    def fail(
        self, failures: Sequence[tuple[int, str, str | None, float]], now: float
    ) -> list[Event]:
        """Record failed attempts: retrying after `retry_in` seconds while attempts are left,
        else failed. Failures of jobs no longer running are ignored."""
        items: list[Failure] = []
        for job_id, error, stack, retry_in in failures:
            job = self._jobs.get(job_id)
            if job is None or job.status is not RUNNING:
                continue
            if not isinstance(error, str) or not (stack is None or isinstance(stack, str)):
                raise TypeError(f"job {job_id}: error and stack trace must be strings")
            retry_at = now + retry_in if job.attempts < job.max_attempts else None
            if retry_at is not None and not math.isfinite(retry_at):
                raise ValueError(f"job {job_id}: retry_in must be a finite number of seconds")
            items.append((job_id, error, stack, retry_at))
        if not items:
            return []
        self._fail(now, items)
        return [[ev.FAIL, now, [list(item) for item in items]]]

    def put_back(self, ids: Sequence[int], now: float) -> list[Event]:
        """Return running jobs to their queue without using an attempt."""
        running = [job_id for job_id in ids if self._is_running(job_id)]
        return self._command(ev.BACK, now, running, self._put_back)

    def cancel(self, job_id: int, now: float) -> list[Event]:
        """Cancel an unfinished job (a running one's later outcome is ignored)."""
        job = self._require(job_id)
        if job.status in FINISHED:
            raise InvalidTransition(
                f"job {job_id} is already {job.status}; only unfinished jobs can be cancelled"
            )
        return self._command(ev.CANCEL, now, [job_id], self._cancel)

    def retry(self, job_id: int, now: float) -> list[Event]:
        """Enqueue a finished, scheduled or retrying job now, granting one more attempt if it
        has used them all; an enqueued job is left as it is, a running one is refused."""
        job = self._require(job_id)
        if job.status is RUNNING:
            raise InvalidTransition(f"job {job_id} is running; it can be retried once it ends")
        if job.status is ENQUEUED:
            return []
        return self._command(ev.RETRY, now, [job_id], self._retry)

    def delete(self, job_id: int) -> list[Event]:
        """Forget a job in any status (a running one's later outcome is ignored)."""
        self._require(job_id)
        self._delete([job_id])
        return [[ev.DELETE, [job_id]]]

    def tick(self, now: float) -> float | None:
        """Make due scheduled/retrying jobs enqueued; return the next due time, if any."""
        self._promote(now)
        while self._due:
            at, job_id = self._due[0]
            job = self._jobs.get(job_id)
            if job is not None and job.status in WAITING and job.scheduled_at == at:
                return at
            heapq.heappop(self._due)
        return None

    def prune(self, now: float) -> list[Event]:
        """Delete finished jobs older than their status's retention (one "del" event)."""
        pruned: list[int] = []
        for status, finished in self._finished.items():
            keep_for = self.retention.seconds_for(status)
            while finished:
                job = self._jobs.get(finished[0])
                if job is not None and job.status is status:
                    if job.updated_at + keep_for > now:
                        break
                    self._table.remove(job)
                    pruned.append(job.id)
                finished.popleft()
        return [[ev.DELETE, pruned]] if pruned else []

    def scale_queue(self, name: str, limit: int) -> list[Event]:
        """Set a queue's concurrency limit, creating the queue if it is new."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a queue name must be a non-empty string, got {name!r}")
        paused = self._queues.get(name, (0, False))[1]
        return self._queue_change(name, _check_limit(limit), paused)

    def pause_queue(self, name: str) -> list[Event]:
        """Stop dispatching from a queue (running jobs carry on)."""
        return self._queue_change(name, self._require_queue(name)[0], True)

    def resume_queue(self, name: str) -> list[Event]:
        """Dispatch from a paused queue again."""
        return self._queue_change(name, self._require_queue(name)[0], False)

    # ---- queries --------------------------------------------------------------------------

    @property
    def next_id(self) -> int:
        """The id the next inserted job will get."""
        return self._next_id

    def get(self, job_id: int) -> JobRecord | None:
        return self._jobs.get(job_id)

    def list_jobs(
        self,
        status: Status | str | None = None,
        queue: str | None = None,
        worker: str | None = None,
        args: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        """Jobs matching every given filter (`args` matches on the given keys), by id."""
        wanted = None if status is None else Status(status)
        return self._table.select(wanted, queue, worker, args, limit)

    def counts(self) -> dict[str, dict[str, int]]:
        """queue -> status -> number of jobs (every status present, zeros included)."""
        return self._table.counts()

    def queues(self) -> dict[str, tuple[int, bool, int]]:
        """queue -> (concurrency limit, paused, running jobs)."""
        return {
            name: (limit, paused, self._table.running_count(name))
            for name, (limit, paused) in self._queues.items()
        }

    def running_jobs(self, pid: int | None = None) -> list[JobRecord]:
        """Running jobs, all or only those of worker `pid`, by id."""
        if pid is None:
            return self._table.select(RUNNING, None, None, None, None)
        return self._table.running_on(pid)

    def snapshot(self) -> Iterator[Event]:
        """Events rebuilding this state on an empty machine. Finished jobs come last, in the
        order they finished, so the rebuilt machine prunes them in the same order."""
        for name, (limit, paused) in self._queues.items():
            yield [ev.QUEUE, name, limit, paused]
        yield [ev.SEQ, self._next_id]
        for chunk in chunks(self._snapshot_order()):
            yield columns_event(chunk)

    def _is_running(self, job_id: int) -> bool:
        job = self._jobs.get(job_id)
        return job is not None and job.status is RUNNING

    def _require(self, job_id: int) -> JobRecord:
        job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job with id {job_id}")
        return job

    def _require_queue(self, name: str) -> tuple[int, bool]:
        config = self._queues.get(name)
        if config is None:
            raise UnknownQueue(f"no queue named {name!r}; known: {sorted(self._queues)}")
        return config

    def _command(
        self, kind: str, now: float, ids: list[int], transition: Callable[[float, list[int]], None]
    ) -> list[Event]:
        if not ids:
            return []
        transition(now, ids)
        return [[kind, now, ids]]

    def _queue_change(self, name: str, limit: int, paused: bool) -> list[Event]:
        if self._queues.get(name) == (limit, paused):
            return []
        self._set_queue(name, limit, paused)
        return [[ev.QUEUE, name, limit, paused]]


def _check_limit(limit: int) -> int:
    if type(limit) is not int or limit < 0:
        raise ValueError(f"a queue's concurrency limit must be a non-negative int, got {limit!r}")
    return limit
