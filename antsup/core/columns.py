"""Snapshot chunks laid out by field, so that a restart on a large journal is quick.

A snapshot holds every live job and a restart decodes and checks each one, so a snapshot chunk
is one list per `JobRecord` field rather than one list per job: a field is then checked with a
pass or two over a list of one type, and a field that every job of the chunk has in common (one
worker, one queue, one status, no error, no result...) is written, decoded and checked once.

    ["cols", 1, count, [column, ...]]

1 is the layout version: the 15 columns are the fields of `JobRecord.to_wire`, in that order.
A column is [SAME, value] (all `count` jobs have that value) or [EACH, [value, ...]] (one per
job). Ids are never shared (so `count` is bounded by the payload's size); nor is any value a
record could change in place: results, opts and errors are shared only when there are none.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any

from antsup.codec import pack
from antsup.core.events import COLUMNS
from antsup.core.job import (
    _STATUS_BY_VALUE,
    WAITING,
    JobRecord,
    _as_errors,
    _as_name,
    _as_optional_bytes,
    _as_opts,
    as_count,
    as_time,
)
from antsup.errors import DecodeError

LAYOUT = 1
SAME = 0
EACH = 1

FIELDS = (
    "id",
    "worker",
    "queue",
    "args_packed",
    "status",
    "attempts",
    "max_attempts",
    "inserted_at",
    "scheduled_at",
    "updated_at",
    "errors",
    "result",
    "opts",
    "unique_key",
    "worker_pid",
)
_ID, _STATUS, _ERRORS = FIELDS.index("id"), FIELDS.index("status"), FIELDS.index("errors")
_SCHEDULED = FIELDS.index("scheduled_at")
_TIMES = frozenset(FIELDS.index(name) for name in ("inserted_at", "scheduled_at", "updated_at"))
#: Fields whose value may be a mutable container: shared only when there is none.
_NONE_ONLY = frozenset(FIELDS.index(name) for name in ("result", "opts"))
_get_fields = attrgetter(*FIELDS)


@dataclass(slots=True)
class Chunk:
    """A decoded "cols" event: its records, and the fields they all share."""

    records: list[JobRecord]
    columns: list[list[Any]]  # the checked values, field by field
    same: dict[str, Any]

    def column(self, name: str) -> list[Any]:
        return self.columns[FIELDS.index(name)]


# ---- writing -----------------------------------------------------------------------------


#: Most jobs, and about the most bytes of their own data, in one "cols" event: a journal
#: record (64 MiB at most) holds whole events, so events must stay well under it.
CHUNK_JOBS = 1000
CHUNK_BYTES = 4 << 20


def chunks(jobs: Iterable[JobRecord]) -> Iterator[list[JobRecord]]:
    """`jobs` in runs of at most CHUNK_JOBS jobs and about CHUNK_BYTES of their data."""
    chunk: list[JobRecord] = []
    size = 0
    for job in jobs:
        chunk.append(job)
        size += data_bytes(job)
        if len(chunk) >= CHUNK_JOBS or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def data_bytes(job: JobRecord) -> int:
    """About how many bytes a job's own data (args, result, options, errors) takes."""
    size = len(job.args_packed)
    if job.result is not None:
        size += len(pack(job.result))
    if job.opts:
        size += len(pack(job.opts))
    for error in job.errors:
        size += len(error["error"]) + len(error["stack_trace"] or "")
    return size


def columns_event(jobs: Sequence[JobRecord]) -> list[Any]:
    """One "cols" event inserting `jobs` (at least one), as `Machine.snapshot` writes them."""
    rows = map(_get_fields, jobs)
    columns = [_column(index, values) for index, values in enumerate(zip(*rows, strict=True))]
    return [COLUMNS, LAYOUT, len(jobs), columns]


def columns_event_of(columns: Sequence[Sequence[Any] | repeat[Any]], count: int) -> list[Any]:
    """The same event, straight from the columns a batch of `count` new jobs was built from
    (see `records_from_columns`): a repeated value is written once, without a scan."""
    written = []
    for index, column in enumerate(columns):
        if isinstance(column, repeat):
            value = next(column)
            if _shareable(index, value):
                written.append([SAME, _to_wire(index, value)])
                continue
            column = [value] * count
        written.append(_column(index, tuple(column)))
    return [COLUMNS, LAYOUT, count, written]


def _column(index: int, values: tuple[Any, ...]) -> list[Any]:
    first = values[0]
    if _shareable(index, first) and values.count(first) == len(values):
        return [SAME, _to_wire(index, first)]
    if index == _STATUS:
        return [EACH, [status._value_ for status in values]]
    if index == _ERRORS:
        return [EACH, [list(errors) for errors in values]]
    return [EACH, list(values)]


def _shareable(index: int, first: Any) -> bool:
    """Whether `first` may stand for a column that compares equal to it throughout: never an
    id, never a container (the records would share it), never a zero time (0.0 == -0.0)."""
    if index == _ID:
        return False
    if index in _NONE_ONLY:
        return first is None
    if index == _ERRORS:
        return not first  # no error at all (errors is a tuple)
    return not (index in _TIMES and first is not None and first == 0)


def _to_wire(index: int, value: Any) -> Any:
    if index == _STATUS:
        return value._value_
    return [] if index == _ERRORS else value


# ---- reading -----------------------------------------------------------------------------


def parse_columns(event: Any) -> Chunk:
    """Records of a "cols" event; anything malformed raises `DecodeError`."""
    if not isinstance(event, list | tuple) or len(event) != 4:
        raise DecodeError("a 'cols' event has 4 fields")
    _, layout, count, columns = event
    if type(layout) is not int or layout != LAYOUT:
        raise DecodeError(f"unknown job column layout {layout!r}")
    if type(count) is not int or count < 1:
        raise DecodeError(f"a 'cols' event holds at least one job, got {count!r}")
    if type(columns) is not list or len(columns) != len(FIELDS):
        raise DecodeError(f"a 'cols' event has {len(FIELDS)} columns")
    values: list[Any] = []
    same: dict[str, Any] = {}
    for index, column in enumerate(columns):
        if type(column) is not list or len(column) != 2:
            raise DecodeError(f"column {FIELDS[index]} is not [how, values]")
        how, data = column
        if how == SAME and type(how) is int:
            value = _shared_value(index, data)
            same[FIELDS[index]] = value
            values.append([value] * count)
        elif how == EACH and type(how) is int:
            if type(data) is not list or len(data) != count:
                raise DecodeError(f"column {FIELDS[index]} must hold {count} values")
            values.append(_each(index, data))
        else:
            raise DecodeError(f"column {FIELDS[index]}: unknown layout {how!r}")
    _check_waiting(values, same)
    return Chunk(records_from_columns(values), values, same)


def records_from_columns(columns: Sequence[Sequence[Any] | repeat[Any]]) -> list[JobRecord]:
    """`list(map(JobRecord, *columns))`, a quarter faster: calling the class from C goes
    through a slow generic path to its `__init__` on Python 3.11 (JobRecord has no `__new__`).
    The id column sets the count; the others may be endless (`itertools.repeat`)."""
    ids = columns[_ID]
    assert not isinstance(ids, repeat), "the id column sets the count"
    records = list(map(object.__new__, repeat(JobRecord, len(ids))))
    deque(map(JobRecord.__init__, records, *columns), 0)
    return records


def _shared_value(index: int, data: Any) -> Any:
    if index == _ID:
        raise DecodeError("job ids are never a shared column")
    if (index in _NONE_ONLY and data is not None) or (index == _ERRORS and data != []):
        raise DecodeError(f"column {FIELDS[index]} can only be shared when empty")
    return _CHECKS[index][1](data)


def _each(index: int, data: list[Any]) -> list[Any]:
    """The column's values checked (and converted), in one pass in the common case."""
    fast, one = _CHECKS[index]
    checked = fast(data)
    return [one(value) for value in data] if checked is None else checked


def _check_waiting(values: list[Any], same: Mapping[str, Any]) -> None:
    """A scheduled or retrying job needs its due time (the one check across two fields)."""
    if same.get("scheduled_at") is not None or ("status" in same and same["status"] not in WAITING):
        return
    for status, scheduled_at in zip(values[_STATUS], values[_SCHEDULED], strict=True):
        if scheduled_at is None and status in WAITING:
            raise DecodeError(f"malformed job record: a {status} job needs scheduled_at")


def _types(data: list[Any]) -> set[type]:
    return set(map(type, data))


def _counts(data: list[Any]) -> list[Any] | None:
    return data if _types(data) == {int} and min(data) >= 0 else None


def _names(data: list[Any]) -> list[Any] | None:
    return list(map(sys.intern, data)) if _types(data) == {str} and all(data) else None


def _statuses(data: list[Any]) -> list[Any] | None:
    try:
        return list(map(_STATUS_BY_VALUE.__getitem__, data))
    except (KeyError, TypeError):
        return None


def _times(data: list[Any]) -> list[Any] | None:
    return data if _types(data) == {float} and all(map(math.isfinite, data)) else None


def _optional_times(data: list[Any]) -> list[Any] | None:
    kinds = _types(data)
    if kinds == {type(None)}:
        return data
    if kinds <= {float, type(None)} and all(t is None or math.isfinite(t) for t in data):
        return data
    return None


def _of_types(*kinds: type) -> Callable[[list[Any]], list[Any] | None]:
    allowed = set(kinds)
    return lambda data: data if _types(data) <= allowed else None


def _no_errors(data: list[Any]) -> list[Any] | None:
    return [()] * len(data) if _types(data) == {list} and not any(data) else None


def _pids(data: list[Any]) -> list[Any] | None:
    kinds = _types(data)
    if kinds == {type(None)}:
        return data
    if kinds <= {int, type(None)} and all(pid is None or pid >= 0 for pid in data):
        return data
    return None


def _status_of(value: Any) -> Any:
    status = _STATUS_BY_VALUE.get(value) if isinstance(value, str) else None
    if status is None:
        raise DecodeError(f"malformed job record: unknown status {value!r}")
    return status


def _args(value: Any) -> Any:
    return _as_optional_bytes(value, "args", allow_none=False)


#: Per field: (check of a whole column: the checked values, or None to check them one by one;
#: check of one value, raising DecodeError).
_CHECKS: list[tuple[Callable[[list[Any]], list[Any] | None], Callable[[Any], Any]]] = [
    (_counts, lambda v: as_count(v, "id")),
    (_names, lambda v: _as_name(v, "worker")),
    (_names, lambda v: _as_name(v, "queue")),
    (_of_types(bytes), _args),
    (_statuses, _status_of),
    (_counts, lambda v: as_count(v, "attempts")),
    (_counts, lambda v: as_count(v, "max_attempts")),
    (_times, lambda v: as_time(v, "inserted_at")),
    (_optional_times, lambda v: None if v is None else as_time(v, "scheduled_at")),
    (_times, lambda v: as_time(v, "updated_at")),
    (_no_errors, _as_errors),
    (lambda data: data, lambda v: v),
    (_of_types(dict, type(None)), _as_opts),
    (_of_types(bytes, type(None)), lambda v: _as_optional_bytes(v, "unique_key", allow_none=True)),
    (_pids, lambda v: None if v is None else as_count(v, "worker_pid")),
]
