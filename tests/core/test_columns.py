"""Snapshot chunks by field ("cols" events): exact round trips, the same state as the per-job
"ins" events they replace, and garbage refused cleanly without touching the state."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antsup.codec import pack, unpack
from antsup.core import JobRecord, Machine, Status
from antsup.core.columns import EACH, SAME, columns_event, parse_columns
from antsup.core.job import WAITING
from antsup.errors import DecodeError

from .helpers import T0, busy_machine, new, replay, state_of
from .test_wire import msgpack_values, records


def _fixed(record: JobRecord, job_id: int, status: Status) -> JobRecord:
    """`record` with that id and status (a waiting one needs a due time)."""
    record = copy.copy(record)
    record.id = job_id
    record.status = status
    if status in WAITING and record.scheduled_at is None:
        record.scheduled_at = record.inserted_at
    return record


@st.composite
def some_records(draw: st.DrawFn) -> list[JobRecord]:
    """Few distinct records repeated (so columns are often shared), up to 40 of them (so
    both the one-by-one and the bulk insert run), with ids that may collide or not."""
    pool = draw(st.lists(st.tuples(records, st.sampled_from(list(Status))), min_size=1, max_size=3))
    picks = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=40))
    if draw(st.booleans()):
        start = draw(st.integers(1, 12))
        ids = list(range(start, start + len(picks)))
    else:
        ids = draw(st.lists(st.integers(1, 60), min_size=len(picks), max_size=len(picks)))
    pairs = zip(picks, ids, strict=True)
    return [_fixed(record, job_id, status) for (record, status), job_id in pairs]


def _exact(job: JobRecord) -> tuple[bytes, Any]:
    """A record as comparable data that tells 1 from 1.0 and True (errors: their dicts are
    rebuilt in a canonical key order, as `JobRecord.from_wire` does)."""
    wire = job.to_wire()
    return pack(wire[:10] + wire[11:]), wire[10]


def _future(m: Machine, now: float) -> tuple[Any, ...]:
    """What the machine does from here on: what it dispatches, promotes and prunes."""
    first = sorted(job.id for job in m.dispatch(1000, 9, now)[0])
    m.tick(now + 100)
    later = sorted(job.id for job in m.dispatch(1000, 9, now + 100)[0])
    return first, later, m.prune(now + 10**6), state_of(m)


@settings(max_examples=200, deadline=None)
@given(some_records())
def test_columns_round_trip_exactly(jobs: list[JobRecord]) -> None:
    chunk = parse_columns(unpack(pack(columns_event(jobs))))
    assert chunk.column("id") == [job.id for job in jobs]
    assert [_exact(job) for job in chunk.records] == [_exact(job) for job in jobs]
    for name, value in chunk.same.items():
        assert all(getattr(job, name) == value for job in jobs)


def test_shared_fields_are_written_once() -> None:
    m = Machine()
    m.insert([new({"n": n}) for n in range(3)], T0)
    event = columns_event(m.list_jobs())
    how = [column[0] for column in event[3]]
    # id and args differ, everything else is the same for the three jobs
    assert how == [EACH, SAME, SAME, EACH, *[SAME] * 11]
    assert parse_columns(unpack(pack(event))).same["queue"] == "default"


@settings(max_examples=200, deadline=None)
@given(some_records())
def test_a_cols_event_applies_like_the_ins_event_it_replaces(jobs: list[JobRecord]) -> None:
    by_rows, by_columns = busy_machine(), busy_machine()
    by_rows.apply(unpack(pack(["ins", [job.to_wire() for job in jobs]])))
    by_columns.apply(unpack(pack(columns_event(jobs))))
    assert state_of(by_columns) == state_of(by_rows)
    assert by_columns.next_id == by_rows.next_id
    assert _future(by_columns, T0 + 5) == _future(by_rows, T0 + 5)


def _valid_event() -> list[Any]:
    return unpack(pack(columns_event(busy_machine().list_jobs())))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 14), st.integers(0, 20), st.sampled_from(["column", "data", "item"]),
       msgpack_values)  # fmt: skip
def test_a_corrupted_cols_event_is_refused_without_touching_state(
    index: int, item: int, where: str, value: Any
) -> None:
    m = busy_machine()
    before = state_of(m)
    event = _valid_event()
    column = event[3][index]
    if where == "column":
        event[3][index] = value
    elif where == "data" or column[0] == SAME:
        column[1] = value
    else:
        column[1][item % len(column[1])] = value
    try:
        m.apply(event)
    except DecodeError:
        assert state_of(m) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e.__setitem__(1, 2),  # unknown layout
        lambda e: e.__setitem__(2, 0),  # no job
        lambda e: e.__setitem__(2, e[2] + 1),  # columns shorter than the count
        lambda e: e.__setitem__(3, e[3][:14]),
        lambda e: e.__setitem__(3, [*e[3], [SAME, None]]),
        lambda e: e[3].__setitem__(0, [SAME, 3]),  # a shared id
        lambda e: e[3].__setitem__(1, [2, "app.Mailer"]),  # unknown column layout
        lambda e: e[3].__setitem__(1, [SAME, ""]),
        lambda e: e[3].__setitem__(4, [SAME, "sleeping"]),
        lambda e: e[3].__setitem__(5, [SAME, -1]),
        lambda e: e[3].__setitem__(6, [SAME, True]),
        lambda e: e[3].__setitem__(7, [SAME, float("inf")]),
        lambda e: e[3].__setitem__(8, [SAME, None]),  # the scheduled job needs a due time
        lambda e: e[3].__setitem__(10, [SAME, [{"error": "x"}]]),  # shared errors
        lambda e: e[3].__setitem__(11, [SAME, {"shared": "result"}]),
        lambda e: e[3].__setitem__(12, [SAME, {}]),  # shared opts
        lambda e: e[3].__setitem__(14, [SAME, -5]),
        lambda e: e[3][0][1].__setitem__(0, 1.5),
        lambda e: e[3][3][1].__setitem__(0, "not bytes"),
    ],
)
def test_known_bad_cols_events(change: Any) -> None:
    m = busy_machine()
    before = state_of(m)
    event = _valid_event()
    change(event)
    with pytest.raises(DecodeError):
        m.apply(event)
    assert state_of(m) == before


@settings(max_examples=200, deadline=None)
@given(msgpack_values)
def test_cols_garbage_is_refused_with_decode_error(garbage: Any) -> None:
    for event in (["cols", *garbage] if isinstance(garbage, list) else ["cols", garbage],
                  ["cols", 1, 1, garbage]):  # fmt: skip
        with contextlib.suppress(DecodeError):
            parse_columns(event)


@pytest.mark.parametrize("batches", [[(20, T0 - 5)], [(20, T0 - 5), (500, T0 - 10), (20, T0 + 1)]])
def test_bulk_inserts_keep_the_dispatch_order_whatever_the_heap_size(
    batches: list[tuple[int, float]],
) -> None:
    """Ready entries inserted in bulk are appended and heapified when next needed, or pushed
    when they are few next to the heap: either way jobs start in the live order."""
    live = Machine({"default": 2000})
    events = live.insert([new({"n": n}) for n in range(400)], T0)[1]
    started, more = live.dispatch(1, 1, T0)
    events += more + live.put_back([started[0].id], T0)  # heapifies the 400 on replay
    for count, at in batches:  # earlier ones jump ahead
        events += live.insert([new({"n": n}) for n in range(count)], at)[1]
    rebuilt = replay(events, {"default": 2000})
    order = [job.id for job in rebuilt.dispatch(2000, 1, T0 + 2)[0]]
    assert order == [job.id for job in live.dispatch(2000, 1, T0 + 2)[0]]
    assert len(order) == 400 + sum(count for count, _ in batches)
