"""The public view of a job, as the application sees it: plain fields, UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from antsup.codec import unpack
from antsup.core.job import JobRecord

STATUSES = ("enqueued", "scheduled", "running", "retrying", "completed", "failed", "cancelled")


def to_datetime(epoch: float | None) -> datetime | None:
    """Epoch seconds (how antsup stores time) to a timezone-aware UTC datetime."""
    return None if epoch is None else _utc(epoch)


@dataclass(frozen=True, slots=True)
class Fail:
    """Return `Fail(reason)` from `perform` to fail the attempt without a stack trace.

    It is Ant's `{:error, reason}`: an expected failure that follows the retry rules.
    """

    reason: Any


@dataclass(slots=True)
class Job:
    """A snapshot of one job: what `perform_async`, `get_job` and `list_jobs` return.

    Changing it changes nothing in the queue. Not frozen: one is built per job on both hot
    paths (enqueue, and every run in a worker), and a frozen dataclass costs four times as
    much to build."""

    id: int
    worker: str
    queue: str
    args: Any
    status: str
    attempts: int
    max_attempts: int
    inserted_at: datetime
    scheduled_at: datetime | None
    updated_at: datetime
    errors: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    opts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: JobRecord) -> Job:
        """The application's view of the queue manager's record."""
        errors = [
            {**error, "attempted_at": to_datetime(error.get("attempted_at"))}
            for error in record.errors
        ]
        return cls(
            id=record.id,
            worker=record.worker,
            queue=record.queue,
            args=record.args,
            status=str(record.status),
            attempts=record.attempts,
            max_attempts=record.max_attempts,
            inserted_at=_utc(record.inserted_at),
            scheduled_at=to_datetime(record.scheduled_at),
            updated_at=_utc(record.updated_at),
            errors=errors,
            result=record.result,
            opts=dict(record.opts or {}),
        )

    @classmethod
    def inserted(
        cls,
        job_id: int,
        worker: str,
        queue: str,
        args: Any,
        max_attempts: int,
        scheduled_at: float | None,
        opts: dict[str, Any] | None,
        now: float,
        at: datetime | None = None,
    ) -> Job:
        """A job just inserted at `now` (`at`, as a datetime), as the queue manager recorded it."""
        at = at or _utc(now)
        due = scheduled_at is not None and scheduled_at > now
        return cls(
            id=job_id,
            worker=worker,
            queue=queue,
            args=args,
            status="scheduled" if due else "enqueued",
            attempts=0,
            max_attempts=max_attempts,
            inserted_at=at,
            scheduled_at=to_datetime(scheduled_at),
            updated_at=at,
            opts=dict(opts or {}),
        )

    @classmethod
    def from_run_wire(cls, wire: list[Any]) -> Job:
        """A job as the queue manager hands it to a worker (see `run_wire`): running now."""
        (job_id, worker, queue, args, attempts, max_attempts, inserted_at, scheduled_at,
         updated_at, errors, opts) = wire  # fmt: skip
        return cls(
            id=job_id,
            worker=worker,
            queue=queue,
            args=unpack(args),
            status="running",
            attempts=attempts,
            max_attempts=max_attempts,
            inserted_at=_utc(inserted_at),
            scheduled_at=to_datetime(scheduled_at),
            updated_at=_utc(updated_at),
            errors=[{**e, "attempted_at": to_datetime(e["attempted_at"])} for e in errors],
            opts=opts or {},
        )

    @classmethod
    def from_wire(cls, wire: Any) -> Job:
        """From `JobRecord.to_wire()` output, as the queue manager sends it."""
        return cls.from_record(JobRecord.from_wire(wire))


def run_wire(record: JobRecord) -> list[Any]:
    """What a worker needs of a job it is about to run: less than `JobRecord.to_wire`."""
    return [
        record.id,
        record.worker,
        record.queue,
        record.args_packed,
        record.attempts,
        record.max_attempts,
        record.inserted_at,
        record.scheduled_at,
        record.updated_at,
        list(record.errors),
        record.opts,
    ]


@lru_cache(maxsize=1024)
def _utc(epoch: float) -> datetime:
    """Cached: the jobs of one batch share their insertion and dispatch times."""
    return datetime.fromtimestamp(epoch, UTC)
