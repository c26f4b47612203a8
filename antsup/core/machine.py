"""The queue manager's pure heart: every job's state, changed only by events.

No I/O and no clock: each method takes `now`. A command (insert, dispatch, complete...)
decides what happens, writes it down as events, applies them to itself through the same
transition code `apply` uses, and returns them for the journal. Replaying the journal is then
a fold of `apply` over its events, and `tick(now)` redoes the one thing that has no event:
scheduled and retrying jobs becoming due.

The state itself and the transitions live in `transitions.JobState`.
"""

from __future__ import annotations

import heapq
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any

from antsup.codec import pack
from antsup.core import events as ev
from antsup.core.columns import columns_event, columns_event_of, records_from_columns
from antsup.core.events import Event, Failure
from antsup.core.job import (
    ENQUEUED,
    FINISHED,
    RUNNING,
    SCHEDULED,
    WAITING,
    JobRecord,
    NewJob,
    Status,
    Unique,
    unique_key,
)
from antsup.core.retention import Retention
from antsup.core.transitions import JobState
from antsup.errors import InvalidTransition, JobNotFound, UnknownQueue

#: Largest number of jobs in one "cols" event written by `snapshot`, and about the most bytes
#: of their own data (args, results, errors): a journal record must stay under its 64 MiB limit.
SNAPSHOT_CHUNK = 1000
SNAPSHOT_CHUNK_BYTES = 4 << 20
#: Inserts of at least this many jobs are journaled field by field ("cols" events).
COLUMNS_FROM = 16


class Machine(JobState):
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

    def insert(self, jobs: Sequence[NewJob], now: float) -> tuple[list[JobRecord], list[Event]]:
        """Insert new jobs; returns one record per input (an existing one for a duplicate)."""
        for new in jobs:
            self._check_new_job(new)
        if any(new.unique is not None for new in jobs):
            records, inserted = self._insert_unique(jobs, now)
        else:
            records = inserted = self._insert_plain(jobs, now)
        if not inserted:
            return records, []
        return records, [_insert_event(inserted)]

    def insert_many(
        self, template: NewJob, args_packed: Sequence[bytes], now: float
    ) -> tuple[list[JobRecord], list[Event]]:
        """`insert` of one job per packed args, alike in everything else (what `perform_many`
        sends): the shared fields are checked once and the records built field by field."""
        self._check_new_job(template)
        if not isinstance(args_packed, list | tuple) or not set(map(type, args_packed)) <= {bytes}:
            raise TypeError("args_packed must be the bytes of antsup.codec.pack(args)")
        if template.unique is not None or len(args_packed) < COLUMNS_FROM:
            return self.insert([_alike(template, args) for args in args_packed], now)
        first, count = self._next_id, len(args_packed)
        at = template.scheduled_at
        status = SCHEDULED if at is not None and at > now else ENQUEUED
        opts = template.opts
        ids = list(range(first, first + count))
        columns: list[Sequence[Any] | repeat[Any]] = [
            ids,
            repeat(sys.intern(template.worker)),
            repeat(sys.intern(template.queue)),
            args_packed,
            repeat(status),
            repeat(0),  # attempts
            repeat(template.max_attempts),
            repeat(now),  # inserted_at
            repeat(at),
            repeat(now),  # updated_at
            repeat(()),  # errors
            repeat(None),  # result
            [dict(opts) for _ in args_packed] if opts else repeat(None),  # never shared
            repeat(None),  # unique_key
            repeat(None),  # worker_pid
        ]
        records = records_from_columns(columns)
        same = {
            "worker": records[0].worker,
            "queue": records[0].queue,
            "status": status,
            "unique_key": None,
            "worker_pid": None,
        }
        ready_keys = [now if at is None else at] * count  # see `_ready_key`
        self._insert_records(records, ids, same, ready_keys)
        return records, [columns_event_of(columns, count)]

    def _insert_plain(self, jobs: Sequence[NewJob], now: float) -> list[JobRecord]:
        """Jobs without uniqueness: all inserted, indexed in bulk (the enqueue hot path)."""
        first = self._next_id
        intern = sys.intern
        records = [
            JobRecord(  # positional: this is the insert hot path
                first + offset,
                intern(new.worker),
                intern(new.queue),
                new.args_packed,
                SCHEDULED if new.scheduled_at is not None and new.scheduled_at > now else ENQUEUED,
                0,  # attempts
                new.max_attempts,
                now,  # inserted_at
                new.scheduled_at,
                now,  # updated_at
                (),  # errors
                None,  # result
                new.opts,
                None,  # unique_key
                None,  # worker_pid
            )
            for offset, new in enumerate(jobs)
        ]
        same: dict[str, Any] = {"unique_key": None, "worker_pid": None}
        for field in ("worker", "queue", "status"):
            values = {getattr(job, field) for job in records}
            if len(values) == 1:
                same[field] = values.pop()
        self._insert_records(records, list(range(first, first + len(records))), same)
        return records

    def _insert_unique(
        self, jobs: Sequence[NewJob], now: float
    ) -> tuple[list[JobRecord], list[JobRecord]]:
        """One by one: a job may be a duplicate of one inserted earlier in the same batch."""
        records: list[JobRecord] = []
        inserted: list[JobRecord] = []
        for new in jobs:
            key = None
            if new.unique is not None:
                key = unique_key(new.worker, new.queue, new.args_packed, new.unique)
                existing = self._find_duplicate(key, new.unique)
                if existing is not None:
                    records.append(existing)
                    continue
            scheduled_at = new.scheduled_at
            status = SCHEDULED if scheduled_at is not None and scheduled_at > now else ENQUEUED
            job = JobRecord(
                self._next_id,
                sys.intern(new.worker),
                sys.intern(new.queue),
                new.args_packed,
                status,
                0,  # attempts
                new.max_attempts,
                now,  # inserted_at
                scheduled_at,
                now,  # updated_at
                (),  # errors
                None,  # result
                new.opts,
                key,  # unique_key
                None,  # worker_pid
            )
            self._add(job)
            records.append(job)
            inserted.append(job)
        return records, inserted

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
        chunk: list[JobRecord] = []
        chunk_bytes = 0
        for job in self._snapshot_order():
            chunk.append(job)
            chunk_bytes += _data_bytes(job)
            if len(chunk) >= SNAPSHOT_CHUNK or chunk_bytes >= SNAPSHOT_CHUNK_BYTES:
                yield columns_event(chunk)
                chunk, chunk_bytes = [], 0
        if chunk:
            yield columns_event(chunk)

    def _find_duplicate(self, key: bytes, unique: Unique) -> JobRecord | None:
        matches = [
            job_id
            for job_id in self._table.with_unique_key(key)
            if self._table.jobs[job_id].status in unique.statuses
        ]
        return self._table.jobs[min(matches)] if matches else None

    def _check_new_job(self, new: NewJob) -> None:
        """Refuse now what replay would refuse later: a live event must always replay."""
        if new.queue not in self._queues:
            raise UnknownQueue(f"no queue named {new.queue!r}; known: {sorted(self._queues)}")
        if not isinstance(new.worker, str) or not new.worker:
            raise ValueError(f"a worker must be a non-empty dotted name, got {new.worker!r}")
        if not isinstance(new.args_packed, bytes):
            raise TypeError("args_packed must be the bytes of antsup.codec.pack(args)")
        if type(new.max_attempts) is not int or new.max_attempts < 1:
            raise ValueError(f"max_attempts must be an int of at least 1, got {new.max_attempts!r}")
        at = new.scheduled_at
        if at is not None and (type(at) not in (int, float) or not math.isfinite(at)):
            raise ValueError(f"scheduled_at must be a finite epoch time or None, got {at!r}")
        if new.opts is not None and not isinstance(new.opts, dict):
            raise TypeError(f"opts must be a dict or None, got {type(new.opts).__name__}")

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


def _alike(template: NewJob, args_packed: bytes) -> NewJob:
    """`template` with these args (and opts of its own: a record never shares a dict)."""
    opts = template.opts
    return NewJob(
        template.worker,
        template.queue,
        args_packed,
        template.max_attempts,
        template.scheduled_at,
        template.unique,
        dict(opts) if opts else opts,
    )


def _insert_event(records: list[JobRecord]) -> Event:
    """Many new jobs field by field (smaller, faster to pack and replay), a few job by job
    (laying out 15 columns costs more than it saves for them)."""
    if len(records) >= COLUMNS_FROM:
        return columns_event(records)
    return [ev.INSERT, [job.to_wire() for job in records]]


def _data_bytes(job: JobRecord) -> int:
    """About how many bytes a job's own data takes in a snapshot."""
    size = len(job.args_packed)
    if job.result is not None:
        size += len(pack(job.result))
    for error in job.errors:
        size += len(error["error"]) + len(error["stack_trace"] or "")
    return size


def _check_limit(limit: int) -> int:
    if type(limit) is not int or limit < 0:
        raise ValueError(f"a queue's concurrency limit must be a non-negative int, got {limit!r}")
    return limit
