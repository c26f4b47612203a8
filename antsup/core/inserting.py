"""Inserting new jobs: the commands `insert` and `insert_many` of the `Machine`.

Inserts are the enqueue hot path, so a batch without uniqueness is built and indexed in bulk
(`JobState._insert_records`) and a large one is journaled field by field (a "cols" event);
uniqueness takes the one-by-one path, since a job may duplicate one inserted earlier in its
own batch. Every check replay would make is made here first: a live event must always replay.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from itertools import repeat
from typing import Any

from antsup.codec import pack
from antsup.core import events as ev
from antsup.core.columns import (
    CHUNK_BYTES,
    CHUNK_JOBS,
    chunks,
    columns_event,
    columns_event_of,
    records_from_columns,
)
from antsup.core.events import Event
from antsup.core.job import ENQUEUED, SCHEDULED, JobRecord, NewJob, Unique, unique_key
from antsup.core.transitions import JobState
from antsup.errors import UnknownQueue

#: Inserts of at least this many jobs are journaled field by field ("cols" events).
COLUMNS_FROM = 16


class Inserting(JobState):
    """The insert commands; `Machine` adds the others."""

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
        return records, _insert_events(inserted)

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
            [dict(opts) for _ in args_packed] if opts is not None else repeat(None),  # never shared
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
        extra = len(pack(opts)) if opts else 0  # every job's event carries its own copy
        events = [
            columns_event_of([_part(column, start, end) for column in columns], end - start)
            for start, end in _event_bounds(args_packed, extra)
        ]
        return records, events

    def _insert_plain(self, jobs: Sequence[NewJob], now: float) -> list[JobRecord]:
        """Jobs without uniqueness: all inserted, indexed in bulk (the enqueue hot path)."""
        first = self._next_id
        records = [_new_record(first + offset, new, now) for offset, new in enumerate(jobs)]
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
            job = _new_record(self._next_id, new, now, key)
            self._add(job)
            records.append(job)
            inserted.append(job)
        return records, inserted

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


def _event_bounds(args_packed: Sequence[bytes], extra: int) -> list[tuple[int, int]]:
    """Where `columns.chunks` would cut this batch, worked out from the packed args alone
    (no second pass over the records): the journal splits between events, never inside one."""
    count = len(args_packed)
    if count <= CHUNK_JOBS and sum(map(len, args_packed)) + count * extra <= CHUNK_BYTES:
        return [(0, count)]
    bounds, start, size = [], 0, 0
    for index, args in enumerate(args_packed):
        size += len(args) + extra
        if index + 1 - start >= CHUNK_JOBS or size >= CHUNK_BYTES:
            bounds.append((start, index + 1))
            start, size = index + 1, 0
    if start < count:
        bounds.append((start, count))
    return bounds


def _part(column: Sequence[Any] | repeat[Any], start: int, end: int) -> Sequence[Any] | repeat[Any]:
    return column if isinstance(column, repeat) else column[start:end]


def _new_record(job_id: int, new: NewJob, now: float, key: bytes | None = None) -> JobRecord:
    """A job inserted at `now`: enqueued, or scheduled if it is due later."""
    at = new.scheduled_at
    return JobRecord(  # positional: the insert hot path
        job_id,
        sys.intern(new.worker),
        sys.intern(new.queue),
        new.args_packed,
        SCHEDULED if at is not None and at > now else ENQUEUED,
        0,  # attempts
        new.max_attempts,
        now,  # inserted_at
        at,  # scheduled_at
        now,  # updated_at
        (),  # errors
        None,  # result
        new.opts,
        key,  # unique_key
        None,  # worker_pid
    )


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


def _insert_events(records: list[JobRecord]) -> list[Event]:
    """Many new jobs field by field (smaller, faster to pack and replay), in bounded chunks;
    a few job by job (laying out 15 columns costs more than it saves for them)."""
    if len(records) >= COLUMNS_FROM:
        return [columns_event(chunk) for chunk in chunks(records)]
    return [[ev.INSERT, [job.to_wire() for job in records]]]
