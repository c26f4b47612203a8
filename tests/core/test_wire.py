"""Records and events from the outside world: round trips, and garbage refused cleanly."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antsup.codec import pack, unpack
from antsup.core import JobRecord, Machine, Status
from antsup.core.columns import columns_event
from antsup.errors import DecodeError

from .helpers import T0, busy_machine, new, state_of


def msgpack_trees(allow_nan: bool) -> st.SearchStrategy[Any]:
    """Any value msgpack can carry (NaN only where equality does not matter)."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.floats(allow_nan=allow_nan)
        | st.text(max_size=8)
        | st.binary(max_size=8),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner),
        max_leaves=20,
    )


msgpack_values = msgpack_trees(allow_nan=True)
comparable_values = msgpack_trees(allow_nan=False)
times = st.floats(0, 2e9, allow_nan=False)
records = st.builds(
    JobRecord,
    id=st.integers(0, 2**40),
    worker=st.sampled_from(["app.A", "app.B"]),
    queue=st.sampled_from(["default", "mailers"]),
    args_packed=msgpack_values.map(pack),
    status=st.sampled_from([s for s in Status if s not in (Status.SCHEDULED, Status.RETRYING)]),
    attempts=st.integers(0, 5),
    max_attempts=st.integers(1, 5),
    inserted_at=times,
    scheduled_at=st.none() | times,
    updated_at=times,
    errors=st.lists(
        st.fixed_dictionaries(
            {
                "error": st.text(max_size=10),
                "attempt": st.integers(0, 5),
                "stack_trace": st.none() | st.text(max_size=10),
                "attempted_at": times,
            }
        ),
        max_size=3,
    ).map(tuple),
    result=comparable_values,
    opts=st.none() | st.dictionaries(st.text(max_size=4), st.integers(-(2**63), 2**63)),
    unique_key=st.none() | st.binary(max_size=8),
    worker_pid=st.none() | st.integers(0, 2**22),
)


@settings(max_examples=100, deadline=None)
@given(records)
def test_record_round_trips_through_msgpack(record: JobRecord) -> None:
    assert JobRecord.from_wire(unpack(pack(record.to_wire()))) == record


@settings(max_examples=200, deadline=None)
@given(msgpack_values)
def test_from_wire_refuses_garbage_with_decode_error(garbage: Any) -> None:
    with contextlib.suppress(DecodeError):
        JobRecord.from_wire(garbage)


@settings(max_examples=200, deadline=None)
@given(records, st.integers(0, 14), msgpack_values)
def test_from_wire_refuses_a_corrupted_field(record: JobRecord, index: int, value: Any) -> None:
    wire = record.to_wire()
    wire[index] = value
    with contextlib.suppress(DecodeError):
        JobRecord.from_wire(wire)


_one = JobRecord(51, "app.A", "default", b"\x80", Status.ENQUEUED, 0, 1, T0, None, T0)
valid_events: list[list[Any]] = [
    ["ins", [new().args_packed]],
    ["start", T0, 12, [4, 5]],
    ["done", T0, [[3, None]]],
    ["fail", T0, [[3, "e", None, T0 + 5]]],
    ["back", T0, [3]],
    ["cancel", T0, [4]],
    ["retry", T0, [1]],
    ["del", [6]],
    ["queue", "default", 3, True],
    ["seq", 100],
    columns_event([_one]),
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(valid_events),
    st.integers(0, 4),
    msgpack_values,
    st.booleans(),
)
def test_apply_refuses_malformed_events_without_touching_state(
    event: list[Any], index: int, value: Any, append: bool
) -> None:
    m = busy_machine()
    before = state_of(m)
    corrupted = [*event, value] if append else list(event)
    if not append:
        corrupted[min(index, len(event) - 1)] = value
    try:
        m.apply(corrupted)
    except DecodeError:
        assert state_of(m) == before


@settings(max_examples=200, deadline=None)
@given(msgpack_values)
def test_apply_refuses_arbitrary_values(garbage: Any) -> None:
    m = busy_machine()
    before = state_of(m)
    try:
        m.apply(garbage)
    except DecodeError:
        assert state_of(m) == before


@pytest.mark.parametrize(
    "event",
    [
        [],
        "ins",
        ["nope"],
        ["start", T0, -1, [1]],
        ["start", T0, 1, [True]],
        ["done", float("nan"), []],
        ["fail", T0, [[1, 2, None, None]]],
        ["queue", "", 1, False],
        ["queue", "q", 1, 0],
        ["seq", "9"],
        ["ins", [[1, 2, 3]]],
    ],
)
def test_apply_known_bad_shapes(event: Any) -> None:
    with pytest.raises(DecodeError):
        Machine().apply(event)


def test_every_event_kind_applies() -> None:
    m = busy_machine()
    wire = m.list_jobs()[0].to_wire()
    wire[0] = 50
    for event in [["ins", [wire]], *valid_events[1:]]:
        m.apply(unpack(pack(event)))
    assert m.next_id == 100
    assert m.queues()["default"] == (3, True, 1)
    assert m.get(6) is None and m.get(50) is not None and m.get(51) is not None
