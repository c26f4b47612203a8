"""How events change job state: the transitions replay and live commands share.

`JobState` holds every job, the queue settings, the dispatch and due-time heaps and the
finish-order logs used by retention; `apply` checks an event's whole shape, then runs the one
transition method for its kind. `Machine` adds the commands that decide which events happen.

Heaps and logs are cleaned lazily: an entry whose job has moved on is skipped when reached,
so no transition ever costs time proportional to the table.
"""

from __future__ import annotations

import heapq
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from antsup.core import events as ev
from antsup.core.columns import Chunk, parse_columns
from antsup.core.events import Failure
from antsup.core.job import (
    CANCELLED,
    COMPLETED,
    ENQUEUED,
    FAILED,
    FINISHED,
    RETRYING,
    RUNNING,
    WAITING,
    JobRecord,
    Status,
    error_entry,
)
from antsup.core.retention import Retention
from antsup.core.table import JobTable
from antsup.errors import DecodeError

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
#: Fewest inserted jobs worth the bulk path (below, its set-up costs more than it saves).
_BULK = 16


class JobState:
    """Jobs, queues and their indexes, changed only through the transition methods."""

    def __init__(self, retention: Retention | None = None) -> None:
        self.retention = retention or Retention()
        self._table = JobTable()
        self._jobs = self._table.jobs  # the id -> record dict, read directly on hot paths
        self._queues: dict[str, tuple[int, bool]] = {}  # name -> (concurrency limit, paused)
        self._ready: dict[str, list[tuple[float, int]]] = {}  # per queue: (ready key, id)
        self._unheaped: set[str] = set()  # queues whose ready list needs heapify (bulk insert)
        self._due: list[tuple[float, int]] = []  # scheduled/retrying: (scheduled_at, id)
        self._finished: dict[Status, deque[int]] = {status: deque() for status in FINISHED}
        self._next_id = 1
        self._turn = 0  # rotates which queue dispatch serves first

    # ---- replay ---------------------------------------------------------------------------

    def apply(self, event: Any) -> None:
        """Apply one journal event; a malformed one raises `DecodeError` and changes nothing."""
        kind = ev.kind_of(event)
        applier = _APPLIERS.get(kind)
        if applier is None:
            raise DecodeError(f"unknown event kind {kind!r}")
        applier(self, event)

    # ---- transitions: shared by commands and replay ---------------------------------------

    def _add(self, job: JobRecord) -> None:
        old = self._jobs.get(job.id)
        if old is not None:
            self._table.remove(old)
        self._table.add(job)
        self._next_id = max(self._next_id, job.id + 1)
        if job.status is ENQUEUED:
            self._push_ready(job)
        elif job.status in WAITING:
            heapq.heappush(self._due, (job.scheduled_at or 0.0, job.id))
        elif job.status in FINISHED:
            self._finished[job.status].append(job.id)

    def _insert_records(
        self,
        records: list[JobRecord],
        ids: list[int] | None = None,
        same: Mapping[str, Any] = _NO_FIELDS,
        ready_keys: list[float] | None = None,
    ) -> None:
        """`_add` each record, in bulk when their ids are new and distinct (as in a snapshot).

        The caller may know more: `ids` are the records' ids, `same` maps fields that every
        record has in common to their value (one set update instead of many), `ready_keys`
        are the records' `_ready_key`s."""
        if len(records) >= _BULK:
            ids = [job.id for job in records] if ids is None else ids
            if len(set(ids)) == len(ids) and self._jobs.keys().isdisjoint(ids):
                self._insert_new(records, ids, same, ready_keys)
                return
        for job in records:  # few jobs, or replaced jobs (one by one, in order)
            self._add(job)

    def _insert_new(
        self,
        records: list[JobRecord],
        ids: list[int],
        same: Mapping[str, Any],
        ready_keys: list[float] | None,
    ) -> None:
        """What `_add` does for each record, for many whose ids are new and distinct."""
        self._table.add_new(records, ids, same)
        self._next_id = max(self._next_id, max(ids) + 1)
        status = same.get("status")
        if status is ENQUEUED and "queue" in same:
            if ready_keys is None:
                ready_keys = [_ready_key(job) for job in records]
            self._extend_ready(same["queue"], list(zip(ready_keys, ids, strict=True)))
        elif status in FINISHED:
            self._finished[status].extend(ids)
        elif status is not RUNNING:
            self._index_mixed(records)

    def _insert_chunk(self, chunk: Chunk) -> None:
        same = chunk.same
        unscheduled = "scheduled_at" in same and same["scheduled_at"] is None
        ready_keys = chunk.column("inserted_at") if unscheduled else None  # see `_ready_key`
        self._insert_records(chunk.records, chunk.column("id"), same, ready_keys)

    def _index_mixed(self, records: list[JobRecord]) -> None:
        """The end of `_add` (ready, due and finished jobs) for many records of any statuses."""
        ready: dict[str, list[tuple[float, int]]] = {}
        for job in records:
            status = job.status
            if status is ENQUEUED:
                ready.setdefault(job.queue, []).append((_ready_key(job), job.id))
            elif status in WAITING:
                heapq.heappush(self._due, (job.scheduled_at or 0.0, job.id))
            elif status in FINISHED:
                self._finished[status].append(job.id)
        for queue, entries in ready.items():
            self._extend_ready(queue, entries)

    def _start(self, at: float, pid: int, ids: list[int]) -> None:
        for job_id in ids:
            job = self._jobs.get(job_id)
            # Scheduled and retrying count as startable: replay has not promoted them yet.
            if job is not None and (job.status is ENQUEUED or job.status in WAITING):
                self._start_one(job, at, pid)

    def _start_one(self, job: JobRecord, at: float, pid: int) -> None:
        job.attempts += 1
        job.updated_at = at
        self._table.move(job, RUNNING, pid)

    def _complete(self, at: float, outcomes: list[tuple[int, Any]]) -> None:
        for job_id, result in outcomes:
            job = self._jobs.get(job_id)
            if job is not None and job.status is RUNNING:
                job.result = result
                job.updated_at = at
                self._finish(job, COMPLETED)

    def _fail(self, at: float, failures: list[Failure]) -> None:
        for job_id, error, stack, retry_at in failures:
            job = self._jobs.get(job_id)
            if job is None or job.status is not RUNNING:
                continue
            job.errors = (error_entry(error, job.attempts, stack, at), *job.errors)
            job.updated_at = at
            if retry_at is None:
                self._finish(job, FAILED)
            else:
                job.scheduled_at = retry_at
                self._table.move(job, RETRYING)
                heapq.heappush(self._due, (retry_at, job.id))

    def _put_back(self, at: float, ids: list[int]) -> None:
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is not None and job.status is RUNNING:
                job.attempts = max(job.attempts - 1, 0)
                job.updated_at = at
                self._table.move(job, ENQUEUED)
                self._push_ready(job)

    def _cancel(self, at: float, ids: list[int]) -> None:
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is not None and job.status not in FINISHED:
                job.updated_at = at
                self._finish(job, CANCELLED)

    def _retry(self, at: float, ids: list[int]) -> None:
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is None or not (job.status in FINISHED or job.status in WAITING):
                continue
            job.scheduled_at = at
            job.updated_at = at
            job.result = None
            job.max_attempts = max(job.max_attempts, job.attempts + 1)
            self._table.move(job, ENQUEUED)
            self._push_ready(job)

    def _delete(self, ids: list[int]) -> None:
        for job_id in ids:
            job = self._jobs.get(job_id)
            if job is not None:
                self._table.remove(job)

    def _set_queue(self, name: str, limit: int, paused: bool) -> None:
        name = sys.intern(name)
        self._queues[name] = (limit, paused)
        self._ready.setdefault(name, [])
        self._table.statuses_of(name)

    def _advance_seq(self, next_id: int) -> None:
        self._next_id = max(self._next_id, next_id)

    # ---- helpers --------------------------------------------------------------------------

    def _finish(self, job: JobRecord, status: Status) -> None:
        self._table.move(job, status)
        self._finished[status].append(job.id)

    def _push_ready(self, job: JobRecord) -> None:
        queue = job.queue  # the insert hot path: `_ready_heap` only when a heapify is due
        if queue in self._unheaped:
            heap = self._ready_heap(queue)
        else:
            heap = self._ready.setdefault(queue, [])
        heapq.heappush(heap, (_ready_key(job), job.id))

    def _extend_ready(self, queue: str, entries: list[tuple[float, int]]) -> None:
        """Add many ready entries (replay). Many next to the heap (a snapshot's chunks) are
        appended and the heap order is restored once, when next needed; a few are pushed, so a
        heapify never costs much more than what was appended since the last one."""
        heap = self._ready.setdefault(queue, [])
        if queue in self._unheaped or len(entries) * 16 >= len(heap):
            heap.extend(entries)
            self._unheaped.add(queue)
        else:
            for entry in entries:
                heapq.heappush(heap, entry)

    def _ready_heap(self, queue: str) -> list[tuple[float, int]]:
        """`queue`'s ready heap, heapified first if entries were added in bulk (once, O(n))."""
        heap = self._ready.setdefault(queue, [])
        if queue in self._unheaped:
            heapq.heapify(heap)
            self._unheaped.discard(queue)
        return heap

    def _start_ready(
        self, queue: str, count: int, at: float, pid: int, started: list[JobRecord]
    ) -> int:
        """Start up to `count` jobs from the head of `queue`'s ready heap; append them to
        `started` and return how many there were (fewer when the heap runs dry)."""
        heap = self._ready_heap(queue)
        jobs = self._jobs
        taken = 0
        while taken < count and heap:
            key, job_id = heapq.heappop(heap)
            job = jobs.get(job_id)
            if job is not None and job.status is ENQUEUED and _ready_key(job) == key:
                self._start_one(job, at, pid)
                started.append(job)
                taken += 1
        return taken

    def _promote(self, now: float) -> None:
        due = self._due
        while due and due[0][0] <= now:
            at, job_id = heapq.heappop(due)
            job = self._jobs.get(job_id)
            if job is not None and job.status in WAITING and job.scheduled_at == at:
                self._table.move(job, ENQUEUED)
                self._push_ready(job)

    def _snapshot_order(self) -> Iterator[JobRecord]:
        for job in self._table.jobs.values():
            if job.status not in FINISHED:
                yield job
        seen: set[int] = set()
        for status, finished in self._finished.items():
            for job_id in finished:
                done = self._jobs.get(job_id)
                if done is not None and done.status is status and job_id not in seen:
                    seen.add(job_id)
                    yield done


#: One transition per event kind. Kept outside the instances: bound methods stored on the state
#: would make it a reference cycle, which only the cyclic collector frees (see `replay`).
_APPLIERS: dict[str, Callable[[JobState, Any], None]] = {
    ev.INSERT: lambda s, e: s._insert_records(ev.parse_insert(e)),
    ev.COLUMNS: lambda s, e: s._insert_chunk(parse_columns(e)),
    ev.START: lambda s, e: s._start(*ev.parse_start(e)),
    ev.DONE: lambda s, e: s._complete(*ev.parse_done(e)),
    ev.FAIL: lambda s, e: s._fail(*ev.parse_fail(e)),
    ev.BACK: lambda s, e: s._put_back(*ev.parse_timed_ids(e)),
    ev.CANCEL: lambda s, e: s._cancel(*ev.parse_timed_ids(e)),
    ev.RETRY: lambda s, e: s._retry(*ev.parse_timed_ids(e)),
    ev.DELETE: lambda s, e: s._delete(ev.parse_delete(e)),
    ev.QUEUE: lambda s, e: s._set_queue(*ev.parse_queue(e)),
    ev.SEQ: lambda s, e: s._advance_seq(ev.parse_seq(e)),
}


def _ready_key(job: JobRecord) -> float:
    """Dispatch order within a queue: when the job became due, then its id."""
    return job.inserted_at if job.scheduled_at is None else job.scheduled_at
