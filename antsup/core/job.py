"""A job as the queue manager keeps it: compact in memory, a plain list on the wire.

Records are many and long-lived (finished jobs are retained for hours), so the record is a
slotted dataclass, args stay msgpack-packed, worker and queue names are interned and an
empty error history is one shared tuple. `from_wire` validates everything because its input
comes from the journal or a pipe and must never corrupt the table.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from antsup.codec import pack, unpack
from antsup.errors import DecodeError


class Status(StrEnum):
    """Ant's seven job statuses."""

    ENQUEUED = "enqueued"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Plain module constants: on Python 3.11 `Status.RUNNING` costs a descriptor call each time,
# too slow for the dispatch path.
ENQUEUED = Status.ENQUEUED
SCHEDULED = Status.SCHEDULED
RUNNING = Status.RUNNING
RETRYING = Status.RETRYING
COMPLETED = Status.COMPLETED
FAILED = Status.FAILED
CANCELLED = Status.CANCELLED

FINISHED = frozenset({COMPLETED, FAILED, CANCELLED})
#: Statuses whose jobs wait for a due time (kept in the machine's due-time heap).
WAITING = frozenset({Status.SCHEDULED, Status.RETRYING})
#: Statuses a uniqueness check looks at unless told otherwise: every unfinished one.
UNFINISHED = (Status.ENQUEUED, Status.SCHEDULED, Status.RUNNING, Status.RETRYING)

_STATUS_BY_VALUE = {status.value: status for status in Status}
_WIRE_FIELDS = 15


@dataclass(frozen=True, slots=True)
class Unique:
    """Ant's uniqueness: a new job matching an existing one on these args, in one of these
    statuses, is not inserted (the existing job is returned). `args=None` means all args."""

    args: list[str] | None = None
    statuses: tuple[Status, ...] = UNFINISHED


@dataclass(slots=True)
class NewJob:
    """What a client asks to insert; the machine turns it into a `JobRecord`.

    Not frozen: one is built per job on the enqueue hot path, and frozen construction costs
    twice as much. Treat it as read-only."""

    worker: str
    queue: str
    args_packed: bytes
    max_attempts: int = 1
    scheduled_at: float | None = None
    unique: Unique | None = None
    opts: dict[str, Any] | None = None


@dataclass(slots=True)
class JobRecord:
    """One job's full state. Records handed out by the machine are live: treat as read-only."""

    id: int
    worker: str
    queue: str
    args_packed: bytes
    status: Status
    attempts: int
    max_attempts: int
    inserted_at: float
    scheduled_at: float | None
    updated_at: float
    errors: tuple[dict[str, Any], ...] = ()
    result: Any = None
    opts: dict[str, Any] | None = None
    unique_key: bytes | None = None
    worker_pid: int | None = None

    @property
    def args(self) -> Any:
        """The job's arguments, decoded on demand (they are stored packed to save memory)."""
        return unpack(self.args_packed)

    def to_wire(self) -> list[Any]:
        """All fields as one msgpack-able list, in declaration order."""
        return [
            self.id,
            self.worker,
            self.queue,
            self.args_packed,
            self.status._value_,
            self.attempts,
            self.max_attempts,
            self.inserted_at,
            self.scheduled_at,
            self.updated_at,
            list(self.errors),
            self.result,
            self.opts,
            self.unique_key,
            self.worker_pid,
        ]

    @classmethod
    def from_wire(cls, data: Any) -> JobRecord:
        """Rebuild a record from `to_wire` output; anything malformed raises `DecodeError`.

        Replay rebuilds every job this way, so the common well-formed record takes one flat
        check; anything that fails it goes through `_checked_from_wire` for a precise error.
        """
        if type(data) is list and len(data) == _WIRE_FIELDS:
            (job_id, worker, queue, args, status_name, attempts, max_attempts, inserted_at,
             scheduled_at, updated_at, errors, result, opts, key, pid) = data  # fmt: skip
            status = _STATUS_BY_VALUE.get(status_name) if type(status_name) is str else None
            if (
                status is not None
                and type(job_id) is int and job_id >= 0
                and type(worker) is str and worker
                and type(queue) is str and queue
                and type(args) is bytes
                and type(attempts) is int and attempts >= 0
                and type(max_attempts) is int and max_attempts >= 0
                and type(inserted_at) is float and math.isfinite(inserted_at)
                and type(updated_at) is float and math.isfinite(updated_at)
                and ((scheduled_at is None and status not in WAITING)
                     or (type(scheduled_at) is float and math.isfinite(scheduled_at)))
                and errors == []
                and (opts is None or type(opts) is dict)
                and (key is None or type(key) is bytes)
                and (pid is None or (type(pid) is int and pid >= 0))
            ):  # fmt: skip
                return cls(
                    job_id, sys.intern(worker), sys.intern(queue), args, status, attempts,
                    max_attempts, inserted_at, scheduled_at, updated_at, (), result, opts, key,
                    pid,
                )  # fmt: skip
        return cls._checked_from_wire(data)

    @classmethod
    def _checked_from_wire(cls, data: Any) -> JobRecord:
        if not isinstance(data, list | tuple) or len(data) != _WIRE_FIELDS:
            _bad(f"expected a list of {_WIRE_FIELDS} fields")
        status = _STATUS_BY_VALUE.get(data[4]) if isinstance(data[4], str) else None
        if status is None:
            _bad(f"unknown status {data[4]!r}")
        scheduled_at = None if data[8] is None else as_time(data[8], "scheduled_at")
        if status in WAITING and scheduled_at is None:
            _bad(f"a {status} job needs scheduled_at")
        return cls(
            id=as_count(data[0], "id"),
            worker=_as_name(data[1], "worker"),
            queue=_as_name(data[2], "queue"),
            args_packed=_as_optional_bytes(data[3], "args", allow_none=False) or b"",
            status=status,
            attempts=as_count(data[5], "attempts"),
            max_attempts=as_count(data[6], "max_attempts"),
            inserted_at=as_time(data[7], "inserted_at"),
            scheduled_at=scheduled_at,
            updated_at=as_time(data[9], "updated_at"),
            errors=_as_errors(data[10]),
            result=data[11],
            opts=_as_opts(data[12]),
            unique_key=_as_optional_bytes(data[13], "unique_key", allow_none=True),
            worker_pid=None if data[14] is None else as_count(data[14], "worker_pid"),
        )


def error_entry(error: str, attempt: int, stack_trace: str | None, at: float) -> dict[str, Any]:
    """One entry of a job's error history (newest first in `JobRecord.errors`)."""
    return {"error": error, "attempt": attempt, "stack_trace": stack_trace, "attempted_at": at}


def unique_key(worker: str, queue: str, args_packed: bytes, unique: Unique) -> bytes:
    """The bytes two jobs share when `unique` says they are duplicates.

    Top-level dict keys are put in a canonical order so {"a": 1, "b": 2} and {"b": 2, "a": 1}
    are the same job; nested values are compared as given.
    """
    args = unpack(args_packed)
    if isinstance(args, dict):
        keys = sorted(args, key=repr) if unique.args is None else sorted(unique.args)
        selected: Any = ["map", [[key, args.get(key)] for key in keys]]
    elif unique.args is None:
        selected = ["value", args]
    else:
        selected = ["map", [[key, None] for key in sorted(unique.args)]]
    return pack([worker, queue, selected])


def _bad(reason: str) -> NoReturn:
    raise DecodeError(f"malformed job record: {reason}")


def as_count(value: Any, what: str) -> int:
    """A non-negative int (bool refused): ids, attempts, pids."""
    if type(value) is not int or value < 0:
        raise DecodeError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def as_time(value: Any, what: str) -> float:
    """A finite epoch-seconds number (bool refused)."""
    if type(value) not in (int, float) or not math.isfinite(value):
        raise DecodeError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _as_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        _bad(f"{what} must be a non-empty string")
    return sys.intern(value)


def _as_optional_bytes(value: Any, what: str, *, allow_none: bool) -> bytes | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, bytes):
        _bad(f"{what} must be bytes")
    return value


def _as_opts(value: Any) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        _bad("opts must be a map or nil")
    return value


def _as_errors(value: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, list | tuple):
        _bad("errors must be a list")
    if not value:
        return ()
    entries = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {
            "error",
            "attempt",
            "stack_trace",
            "attempted_at",
        }:
            _bad("each error must be a map of error, attempt, stack_trace, attempted_at")
        stack = entry["stack_trace"]
        if not isinstance(entry["error"], str) or not (stack is None or isinstance(stack, str)):
            _bad("error and stack_trace must be strings")
        entries.append(
            error_entry(
                entry["error"],
                as_count(entry["attempt"], "attempt"),
                stack,
                as_time(entry["attempted_at"], "attempted_at"),
            )
        )
    return tuple(entries)
