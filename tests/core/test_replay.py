"""Replay equals live: random command sequences, their events replayed (through msgpack) on a
fresh machine, and the same through `snapshot()`, must give identical state."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from antsup.codec import pack, unpack
from antsup.core import Machine, Retention, Unique
from antsup.core.columns import parse_columns
from antsup.core.events import Event, split
from antsup.errors import InvalidTransition, JobNotFound, UnknownQueue

from .helpers import T0, new, replay, state_of

QUEUES = {"default": 3, "a": 2}
RETENTION = Retention(completed=20, cancelled=10, failed=40)
NAMES = ["default", "a", "b"]

small_args = st.fixed_dictionaries({"k": st.integers(0, 3)}, optional={"x": st.booleans()})
inserts = st.tuples(
    st.just("insert"),
    st.lists(
        st.tuples(
            small_args,
            st.sampled_from(NAMES),
            st.integers(1, 3),
            st.one_of(st.none(), st.integers(-5, 60)),
            st.sampled_from([None, Unique(), Unique(args=["k"])]),
        ),
        min_size=1,
        max_size=4,
    ),
)
dispatches = st.tuples(st.just("dispatch"), st.integers(0, 5), st.integers(1, 3))
completes = st.tuples(st.just("complete"), st.integers(0, 9))
fails = st.tuples(st.just("fail"), st.integers(0, 9), st.integers(0, 30))
rare = st.one_of(
    st.tuples(st.just("back"), st.integers(0, 9)),
    st.tuples(st.sampled_from(["cancel", "retry", "delete"]), st.integers(1, 30)),
    st.tuples(st.sampled_from(["tick", "prune"])),
    st.tuples(st.just("scale"), st.sampled_from(NAMES), st.integers(0, 4)),
    st.tuples(st.sampled_from(["pause", "resume"]), st.sampled_from(NAMES)),
)
waits = st.tuples(st.just("wait"), st.integers(1, 30))
# Weighted so that jobs travel far through their lives: mostly insert, run, finish, wait.
WEIGHTED = (
    [inserts] * 3 + [dispatches] * 4 + [completes] * 2 + [fails] * 3 + [waits] * 2 + [rare] * 3
)
commands = st.integers(0, len(WEIGHTED) - 1).flatmap(lambda n: WEIGHTED[n])
scripts = st.lists(commands, min_size=10, max_size=80)


def run(m: Machine, command: tuple[Any, ...], now: float) -> list[Event]:
    """Perform one generated command on `m`; return the events it produced."""
    kind = command[0]
    running = [job.id for job in m.running_jobs()]
    index = command[1] if len(command) > 1 and isinstance(command[1], int) else 0
    pick = running[index % len(running)] if running else None
    try:
        if kind == "insert":
            jobs = [new(a, queue=q, max_attempts=n, scheduled_at=None if s is None else now + s,
                        unique=u) for a, q, n, s, u in command[1]]  # fmt: skip
            return m.insert(jobs, now)[1]
        if kind == "dispatch":
            return m.dispatch(command[1], command[2], now)[1]
        if kind == "complete" and pick is not None:
            return m.complete([(pick, {"r": pick})], now)
        if kind == "fail" and pick is not None:
            return m.fail([(pick, f"err {pick}", None, float(command[2]))], now)
        if kind == "back" and pick is not None:
            return m.put_back([pick], now)
        if kind in ("cancel", "retry", "delete"):
            known = [job.id for job in m.list_jobs()]
            target = known[index % len(known)] if known and index < 25 else 10**6 + index
            if kind == "cancel":
                return m.cancel(target, now)
            return m.retry(target, now) if kind == "retry" else m.delete(target)
        if kind == "tick":
            m.tick(now)
        if kind == "prune":
            return m.prune(now)
        if kind == "scale":
            return m.scale_queue(command[1], command[2])
        if kind == "pause":
            return m.pause_queue(command[1])
        if kind == "resume":
            return m.resume_queue(command[1])
    except (InvalidTransition, JobNotFound, UnknownQueue):
        pass
    return []


def live_run(script: list[tuple[Any, ...]]) -> tuple[Machine, list[Event], float]:
    machine = Machine(QUEUES, RETENTION)
    events: list[Event] = []
    now = T0
    for command in script:
        if command[0] == "wait":
            now += command[1]
        else:
            events += run(machine, command, now)
    machine.tick(now)
    return machine, events, now


def assert_same_future(a: Machine, b: Machine, now: float) -> None:
    """Both machines dispatch and prune the same jobs from here on."""
    started_a = sorted(job.id for job in a.dispatch(1000, 9, now)[0])
    started_b = sorted(job.id for job in b.dispatch(1000, 9, now)[0])
    assert started_a == started_b
    later = now + 1000
    assert a.prune(later) == b.prune(later)
    assert state_of(a) == state_of(b)


@settings(max_examples=150, deadline=None)
@given(scripts)
def test_replaying_the_events_rebuilds_the_live_state(script: list[tuple[Any, ...]]) -> None:
    live, events, now = live_run(script)
    rebuilt = replay(events, QUEUES)
    rebuilt.retention = RETENTION
    rebuilt.tick(now)
    assert state_of(rebuilt) == state_of(live)
    assert_same_future(live, rebuilt, now)


@settings(max_examples=150, deadline=None)
@given(scripts)
def test_a_snapshot_rebuilds_the_live_state(script: list[tuple[Any, ...]]) -> None:
    live, _, now = live_run(script)
    snapshot = list(live.snapshot())
    assert {event[0] for event in snapshot} <= {"queue", "seq", "cols"}  # jobs by field
    restored = replay(snapshot, {})
    restored.retention = RETENTION
    restored.tick(now)
    assert state_of(restored) == state_of(live)
    assert_same_future(live, restored, now)


def test_a_machine_is_freed_without_the_cyclic_collector() -> None:
    """Replay freezes what it built (gc.freeze): a machine must then still be freed when
    dropped, which reference counting alone only does if it holds no reference cycle."""
    live, _, _ = live_run([("insert", [({"k": 1}, "default", 2, None, None)]), ("dispatch", 1, 1)])
    gone = weakref.ref(live)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del live
        assert gone() is None
    finally:
        if enabled:
            gc.enable()


def _as_rows(event: Event) -> Event:
    """A snapshot event as antsup wrote it before "cols": one "ins" list per job."""
    if event[0] != "cols":
        return event
    return ["ins", [job.to_wire() for job in parse_columns(unpack(pack(event))).records]]


@settings(max_examples=100, deadline=None)
@given(scripts)
def test_an_old_snapshot_of_ins_events_still_rebuilds_the_live_state(
    script: list[tuple[Any, ...]],
) -> None:
    live, _, now = live_run(script)
    restored = replay([_as_rows(event) for event in live.snapshot()], {})
    restored.retention = RETENTION
    restored.tick(now)
    assert state_of(restored) == state_of(live)
    assert_same_future(live, restored, now)


def split_to_pieces(events: list[Event]) -> list[Event]:
    """`events` split as far as `split` goes: what a journal with a tiny record limit holds."""
    halves = split(events)
    if halves is None:
        return events
    return split_to_pieces(halves[0]) + split_to_pieces(halves[1])


@settings(max_examples=100, deadline=None)
@given(scripts)
def test_events_split_into_records_replay_as_the_whole(script: list[tuple[Any, ...]]) -> None:
    live, events, now = live_run(script)
    pieces = split_to_pieces(events)
    assert all(len(event[-1]) <= 1 for event in pieces if event[0] in ("done", "start", "ins"))
    rebuilt = replay(pieces, QUEUES)
    rebuilt.retention = RETENTION
    rebuilt.tick(now)
    assert state_of(rebuilt) == state_of(live)
    assert_same_future(live, rebuilt, now)


def test_snapshot_events_stay_far_below_the_record_limit() -> None:
    machine = Machine({"default": 10})
    big = "x" * 1_000_000  # 1 MB of args each: 1000 of them would be a 1 GB record
    machine.insert([new({"pad": big, "n": n}) for n in range(40)], T0)
    started, _ = machine.dispatch(20, 1, T0)
    machine.complete([(job.id, big) for job in started], T0)  # 1 MB results too
    jobs = [event for event in machine.snapshot() if event[0] == "cols"]
    assert sum(event[2] for event in jobs) == 40
    assert max(len(pack(event)) for event in jobs) < 8_000_000
    assert state_of(replay(list(machine.snapshot()), {})) == state_of(machine)
