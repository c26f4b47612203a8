"""The machine's events: the journal's records and the only way job state changes.

Each event is a small msgpack-able list whose first item names its kind. Everything that is
not deterministic (times, pids, results, retry times) is inside the event, so replaying the
journal through `Machine.apply` rebuilds exactly the live state. The `parse_*` functions check
an event's whole shape before anything is applied, raising `DecodeError` on garbage.
"""

from __future__ import annotations

from typing import Any

from antsup.core.job import JobRecord, as_count, as_time
from antsup.errors import DecodeError

Event = list[Any]

INSERT = "ins"  # ["ins", [job_wire, ...]]
COLUMNS = "cols"  # ["cols", 1, count, [column, ...]]: jobs inserted, field by field (columns.py)
START = "start"  # ["start", at, pid, [id, ...]]
DONE = "done"  # ["done", at, [[id, result], ...]]
FAIL = "fail"  # ["fail", at, [[id, error, stack_or_None, retry_at_or_None], ...]]
BACK = "back"  # ["back", at, [id, ...]]
CANCEL = "cancel"  # ["cancel", at, [id, ...]]
RETRY = "retry"  # ["retry", at, [id, ...]]
DELETE = "del"  # ["del", [id, ...]]
QUEUE = "queue"  # ["queue", name, limit, paused]
SEQ = "seq"  # ["seq", next_id]

Failure = tuple[int, str, str | None, float | None]


def kind_of(event: Any) -> str:
    """The kind of `event` (its first item), checking it is a list at all."""
    if not isinstance(event, list | tuple) or not event or not isinstance(event[0], str):
        raise DecodeError(f"an event must be a non-empty list starting with its kind: {event!r}")
    return event[0]


def check_fields(event: Any, count: int) -> list[Any] | tuple[Any, ...]:
    """`event` as a list of exactly `count` items whose first is a string (its kind)."""
    kind = kind_of(event)
    if len(event) != count:
        raise DecodeError(f"a {kind!r} event has {count} fields, got {len(event)}")
    fields: list[Any] | tuple[Any, ...] = event
    return fields


def _as_list(value: Any, what: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise DecodeError(f"{what} must be a list, got {type(value).__name__}")
    return value


def parse_ids(value: Any) -> list[int]:
    """A list of job ids."""
    return [as_count(item, "job id") for item in _as_list(value, "job ids")]


def parse_insert(event: Any) -> list[JobRecord]:
    """Records of an "ins" event."""
    wires = _as_list(check_fields(event, 2)[1], "inserted jobs")
    return [JobRecord.from_wire(wire) for wire in wires]


def parse_timed_ids(event: Any) -> tuple[float, list[int]]:
    """(at, ids) of a "back", "cancel" or "retry" event."""
    _, at, ids = check_fields(event, 3)
    return as_time(at, "at"), parse_ids(ids)


def parse_start(event: Any) -> tuple[float, int, list[int]]:
    """(at, pid, ids) of a "start" event."""
    _, at, pid, ids = check_fields(event, 4)
    return as_time(at, "at"), as_count(pid, "pid"), parse_ids(ids)


def parse_done(event: Any) -> tuple[float, list[tuple[int, Any]]]:
    """(at, [(id, result), ...]) of a "done" event."""
    _, at, items = check_fields(event, 3)
    outcomes = []
    for item in _as_list(items, "outcomes"):
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise DecodeError(f"an outcome is [id, result], got {item!r}")
        outcomes.append((as_count(item[0], "job id"), item[1]))
    return as_time(at, "at"), outcomes


def parse_fail(event: Any) -> tuple[float, list[Failure]]:
    """(at, [(id, error, stack, retry_at), ...]) of a "fail" event."""
    _, at, items = check_fields(event, 3)
    failures: list[Failure] = []
    for item in _as_list(items, "failures"):
        if not isinstance(item, list | tuple) or len(item) != 4:
            raise DecodeError(f"a failure is [id, error, stack, retry_at], got {item!r}")
        job_id, error, stack, retry_at = item
        if not isinstance(error, str) or not (stack is None or isinstance(stack, str)):
            raise DecodeError("a failure's error and stack trace must be strings")
        retry = None if retry_at is None else as_time(retry_at, "retry_at")
        failures.append((as_count(job_id, "job id"), error, stack, retry))
    return as_time(at, "at"), failures


def parse_queue(event: Any) -> tuple[str, int, bool]:
    """(name, limit, paused) of a "queue" event."""
    _, name, limit, paused = check_fields(event, 4)
    if not isinstance(name, str) or not name:
        raise DecodeError("a queue name must be a non-empty string")
    if not isinstance(paused, bool):
        raise DecodeError("a queue's paused flag must be a boolean")
    return name, as_count(limit, "queue limit"), paused


def parse_seq(event: Any) -> int:
    """next_id of a "seq" event."""
    return as_count(check_fields(event, 2)[1], "next id")


def parse_delete(event: Any) -> list[int]:
    """ids of a "del" event."""
    return parse_ids(check_fields(event, 2)[1])


#: Kinds whose last field is a list of items each applied on its own: such an event splits
#: into two of the same kind, and applying both is applying the original.
_ITEM_LISTS = frozenset({INSERT, START, DONE, FAIL, BACK, CANCEL, RETRY, DELETE})


def split(events: list[Event]) -> tuple[list[Event], list[Event]] | None:
    """Two halves that apply exactly as `events` does, or None if it is one indivisible event.

    The journal bounds its records; a batch too large for one (many big results finishing in
    one loop of the queue manager) is written as several."""
    if len(events) > 1:
        middle = len(events) // 2
        return events[:middle], events[middle:]
    if len(events) == 1 and events[0][0] in _ITEM_LISTS and len(events[0][-1]) > 1:
        event = events[0]
        head, items = event[:-1], event[-1]
        middle = len(items) // 2
        return [[*head, items[:middle]]], [[*head, items[middle:]]]
    return None
