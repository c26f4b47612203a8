"""Every job by id, with the indexes that keep queries and counts off a full-table scan.

One set of ids per (queue, status) serves status queries, queue queries and the counts at
once (a count is a set's length, so it is exact after every transition at O(1) cost); one set
per worker serves worker queries; running jobs are also indexed by worker pid, and jobs with
a uniqueness key by that key. Sets hold the record's own id object, so an index entry costs
only its slot.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from antsup.core.job import RUNNING, JobRecord, Status


class JobTable:
    """The job records and their indexes; the only code that touches both."""

    __slots__ = ("_by_pid", "_by_queue", "_by_unique", "_by_worker", "jobs")

    def __init__(self) -> None:
        self.jobs: dict[int, JobRecord] = {}
        self._by_queue: dict[str, dict[Status, set[int]]] = {}
        self._by_worker: dict[str, set[int]] = {}
        self._by_pid: dict[int, set[int]] = {}
        self._by_unique: dict[bytes, set[int]] = {}

    def __len__(self) -> int:
        return len(self.jobs)

    def get(self, job_id: int) -> JobRecord | None:
        return self.jobs.get(job_id)

    def add(self, job: JobRecord) -> None:
        """Index a new record (the caller removed any older record with the same id)."""
        job_id = job.id
        self.jobs[job_id] = job
        self.statuses_of(job.queue)[job.status].add(job_id)
        _add(self._by_worker, job.worker, job_id)
        if job.status is RUNNING and job.worker_pid is not None:
            _add(self._by_pid, job.worker_pid, job_id)
        if job.unique_key is not None:
            _add(self._by_unique, job.unique_key, job_id)

    def add_new(self, jobs: list[JobRecord], ids: list[int], same: Mapping[str, Any]) -> None:
        """Index many records as `add` would, when their `ids` are new and distinct. `same` maps
        fields that every record has in common to their value (one set update for them all)."""
        self.jobs.update(zip(ids, jobs, strict=True))
        if "queue" in same and "status" in same:
            self.statuses_of(same["queue"])[same["status"]].update(ids)
        else:
            for job in jobs:
                self.statuses_of(job.queue)[job.status].add(job.id)
        if "worker" in same:
            self._by_worker.setdefault(same["worker"], set()).update(ids)
        else:
            for job in jobs:
                _add(self._by_worker, job.worker, job.id)
        maybe_running = same.get("status", RUNNING) is RUNNING
        if (maybe_running and same.get("worker_pid", 0) is not None) or same.get(
            "unique_key", b""
        ) is not None:
            for job in jobs:
                if job.status is RUNNING and job.worker_pid is not None:
                    _add(self._by_pid, job.worker_pid, job.id)
                if job.unique_key is not None:
                    _add(self._by_unique, job.unique_key, job.id)

    def remove(self, job: JobRecord) -> None:
        """Forget a record and every index entry pointing at it."""
        del self.jobs[job.id]
        self._by_queue[job.queue][job.status].discard(job.id)
        _discard(self._by_worker, job.worker, job.id)
        if job.status is RUNNING and job.worker_pid is not None:
            _discard(self._by_pid, job.worker_pid, job.id)
        if job.unique_key is not None:
            _discard(self._by_unique, job.unique_key, job.id)

    def move(self, job: JobRecord, status: Status, pid: int | None = None) -> None:
        """Change a job's status; `pid` is the worker running it when `status` is RUNNING."""
        job_id = job.id
        statuses = self._by_queue[job.queue]
        statuses[job.status].discard(job_id)
        statuses[status].add(job_id)
        if job.worker_pid is not None:
            _discard(self._by_pid, job.worker_pid, job_id)
        job.status = status
        if status is RUNNING and pid is not None:
            job.worker_pid = pid
            _add(self._by_pid, pid, job_id)
        else:
            job.worker_pid = None

    def statuses_of(self, queue: str) -> dict[Status, set[int]]:
        """The per-status id sets of `queue`, created empty on first use."""
        statuses = self._by_queue.get(queue)
        if statuses is None:
            statuses = self._by_queue[queue] = {status: set() for status in Status}
        return statuses

    def running_count(self, queue: str) -> int:
        statuses = self._by_queue.get(queue)
        return 0 if statuses is None else len(statuses[RUNNING])

    def with_unique_key(self, key: bytes) -> Iterable[int]:
        return self._by_unique.get(key, ())

    def running_on(self, pid: int) -> list[JobRecord]:
        return [self.jobs[job_id] for job_id in sorted(self._by_pid.get(pid, ()))]

    def counts(self) -> dict[str, dict[str, int]]:
        """queue -> status -> number of jobs, for every queue that ever held a job."""
        return {
            queue: {status.value: len(ids) for status, ids in statuses.items()}
            for queue, statuses in self._by_queue.items()
        }

    def select(
        self,
        status: Status | None,
        queue: str | None,
        worker: str | None,
        args: dict[str, Any] | None,
        limit: int | None,
    ) -> list[JobRecord]:
        """Jobs matching every given filter, ascending id, at most `limit` of them."""
        if limit is not None and limit <= 0:
            return []
        candidates = self._smallest_candidate_set(status, queue, worker)
        matches = (
            job_id
            for job_id in candidates
            if _matches(self.jobs[job_id], status, queue, worker, args)
        )
        ids = sorted(matches) if limit is None else heapq.nsmallest(limit, matches)
        return [self.jobs[job_id] for job_id in ids]

    def _smallest_candidate_set(
        self, status: Status | None, queue: str | None, worker: str | None
    ) -> Iterable[int]:
        options: list[Iterable[int]] = []
        if queue is not None:
            statuses = self._by_queue.get(queue, {})
            if status is not None:
                options.append(statuses.get(status, ()))
            else:
                options.append(_union(statuses.values()))
        elif status is not None:
            options.append(_union(s[status] for s in self._by_queue.values()))
        if worker is not None:
            options.append(self._by_worker.get(worker, ()))
        if not options:
            return self.jobs.keys()
        return min(options, key=lambda ids: len(ids))  # type: ignore[arg-type]


class _Union:
    """Several disjoint id sets seen as one, without copying them."""

    __slots__ = ("_parts",)

    def __init__(self, parts: Iterable[set[int]]) -> None:
        self._parts = list(parts)

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts)

    def __iter__(self) -> Iterator[int]:
        for part in self._parts:
            yield from part


def _union(parts: Iterable[set[int]]) -> _Union:
    return _Union(parts)


def _matches(
    job: JobRecord,
    status: Status | None,
    queue: str | None,
    worker: str | None,
    args: dict[str, Any] | None,
) -> bool:
    if status is not None and job.status is not status:
        return False
    if queue is not None and job.queue != queue:
        return False
    if worker is not None and job.worker != worker:
        return False
    if not args:
        return True
    job_args = job.args
    if not isinstance(job_args, dict):
        return False
    return all(key in job_args and job_args[key] == value for key, value in args.items())


def _add(index: dict[Any, set[int]], key: Any, job_id: int) -> None:
    ids = index.get(key)
    if ids is None:
        index[key] = {job_id}
    else:
        ids.add(job_id)


def _discard(index: dict[Any, set[int]], key: Any, job_id: int) -> None:
    ids = index.get(key)
    if ids is not None:
        ids.discard(job_id)
        if not ids:
            del index[key]
