"""Every command and transition of the machine, stepped by hand with an injected clock."""

from __future__ import annotations

from dataclasses import replace

import pytest

from antsup.codec import pack
from antsup.core import JobRecord, Machine, NewJob, Retention, Status, Unique, default_backoff
from antsup.core.columns import columns_event
from antsup.core.events import Event
from antsup.errors import InvalidTransition, JobNotFound, UnknownQueue

from .helpers import T0, new, replay, state_of


def ids(jobs: list[JobRecord]) -> list[int]:
    return [job.id for job in jobs]


def run_one(m: Machine, now: float = T0, pid: int = 7) -> int:
    started, _ = m.dispatch(1, pid, now)
    assert len(started) == 1
    return started[0].id


def test_insert_assigns_increasing_ids_and_enqueues() -> None:
    m = Machine()
    jobs, events = m.insert([new({"n": 1}), new({"n": 2})], T0)
    assert [job.id for job in jobs] == [1, 2]
    assert [job.status for job in jobs] == [Status.ENQUEUED, Status.ENQUEUED]
    assert jobs[0].args == {"n": 1}
    assert jobs[0].inserted_at == jobs[0].updated_at == T0
    assert jobs[0].attempts == 0 and jobs[0].errors == () and jobs[0].scheduled_at is None
    assert events[0][0] == "ins" and len(events[0][1]) == 2
    assert m.next_id == 3
    assert m.counts()["default"]["enqueued"] == 2


def test_insert_in_the_future_is_scheduled_and_tick_promotes_it() -> None:
    m = Machine()
    (job,), _ = m.insert([new(scheduled_at=T0 + 30)], T0)
    assert job.status is Status.SCHEDULED
    assert m.tick(T0 + 29) == T0 + 30
    assert job.status is Status.SCHEDULED
    assert m.dispatch(5, 1, T0 + 29) == ([], [])
    assert m.tick(T0 + 30) is None
    assert job.status is Status.ENQUEUED
    assert job.updated_at == T0  # promotion is not an event: nothing else changes


def test_insert_in_the_past_is_enqueued() -> None:
    (job,), _ = Machine().insert([new(scheduled_at=T0 - 5)], T0)
    assert job.status is Status.ENQUEUED


def test_unknown_queue_inserts_nothing_of_the_batch() -> None:
    m = Machine()
    with pytest.raises(UnknownQueue, match="mailers"):
        m.insert([new(), new(queue="mailers")], T0)
    assert m.list_jobs() == [] and m.next_id == 1


def test_max_attempts_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Machine().insert([new(max_attempts=0)], T0)


def test_dispatch_starts_jobs_fifo_and_counts_the_attempt() -> None:
    m = Machine()
    m.insert([new({"n": n}) for n in range(3)], T0)
    started, events = m.dispatch(2, 42, T0 + 1)
    assert [job.id for job in started] == [1, 2]
    assert events == [["start", T0 + 1, 42, [1, 2]]]
    assert all(job.status is Status.RUNNING and job.attempts == 1 for job in started)
    assert all(job.worker_pid == 42 and job.updated_at == T0 + 1 for job in started)
    assert [job.id for job in m.running_jobs(42)] == [1, 2]
    assert m.running_jobs(43) == []
    assert [job.id for job in m.running_jobs()] == [1, 2]


def test_dispatch_respects_the_queue_limit() -> None:
    m = Machine({"default": 2})
    m.insert([new() for _ in range(5)], T0)
    assert len(m.dispatch(10, 1, T0)[0]) == 2
    assert m.dispatch(10, 1, T0) == ([], [])
    assert m.queues() == {"default": (2, False, 2)}
    m.complete([(1, None)], T0)
    assert [job.id for job in m.dispatch(10, 1, T0)[0]] == [3]


def test_a_limit_the_workers_cannot_reach_lets_them_hold_jobs_ahead() -> None:
    m = Machine({"default": 4, "serial": 1})
    m.insert([new() for _ in range(20)], T0)
    m.insert([new(queue="serial") for _ in range(5)], T0)
    started, _ = m.dispatch(30, 1, T0, concurrency=4)  # 2 workers x 2 threads
    by_queue = [job.queue for job in started]
    assert by_queue.count("default") == 20  # 4 >= 4: never more than 4 can run at once
    assert by_queue.count("serial") == 1  # 1 < 4: the limit itself bounds what is handed out
    assert m.dispatch(30, 1, T0, concurrency=5) == ([], [])  # nothing ready but serial jobs


def test_dispatch_with_nothing_to_do() -> None:
    m = Machine()
    assert m.dispatch(0, 1, T0) == ([], [])
    assert m.dispatch(3, 1, T0) == ([], [])


def test_dispatch_is_fair_across_queues() -> None:
    m = Machine({"a": 10, "b": 10, "c": 10})
    m.insert([new(queue="a") for _ in range(6)], T0)
    m.insert([new(queue="b") for _ in range(6)], T0)
    m.insert([new(queue="c") for _ in range(1)], T0)
    started, _ = m.dispatch(7, 1, T0)
    queues = [job.queue for job in started]
    assert queues.count("c") == 1 and queues.count("a") == 3 and queues.count("b") == 3


def test_dispatch_one_at_a_time_rotates_between_queues() -> None:
    m = Machine({"a": 10, "b": 10})
    m.insert([new(queue="a") for _ in range(4)], T0)
    m.insert([new(queue="b") for _ in range(4)], T0)
    firsts = [m.dispatch(1, 1, T0)[0][0].queue for _ in range(4)]
    assert sorted(firsts) == ["a", "a", "b", "b"]


def test_pause_resume_and_scale() -> None:
    m = Machine()
    m.insert([new() for _ in range(4)], T0)
    assert m.pause_queue("default") == [["queue", "default", 10, True]]
    assert m.pause_queue("default") == []
    assert m.dispatch(4, 1, T0) == ([], [])
    assert m.resume_queue("default") == [["queue", "default", 10, False]]
    assert m.scale_queue("default", 1) == [["queue", "default", 1, False]]
    assert len(m.dispatch(4, 1, T0)[0]) == 1
    assert m.scale_queue("mailers", 3) == [["queue", "mailers", 3, False]]
    assert m.queues()["mailers"] == (3, False, 0)
    assert m.counts()["mailers"]["enqueued"] == 0
    with pytest.raises(UnknownQueue):
        m.pause_queue("nope")
    with pytest.raises(UnknownQueue):
        m.resume_queue("nope")
    with pytest.raises(ValueError):
        m.scale_queue("default", -1)


def test_complete_keeps_the_result() -> None:
    m = Machine()
    m.insert([new()], T0)
    job_id = run_one(m)
    events = m.complete([(job_id, {"ok": True})], T0 + 2)
    assert events == [["done", T0 + 2, [[job_id, {"ok": True}]]]]
    job = m.get(job_id)
    assert job is not None and job.status is Status.COMPLETED
    assert job.result == {"ok": True} and job.worker_pid is None and job.updated_at == T0 + 2
    assert m.complete([(job_id, 1)], T0 + 3) == []


def test_fail_with_attempts_left_retries_after_the_delay() -> None:
    m = Machine()
    m.insert([new(max_attempts=2)], T0)
    job_id = run_one(m)
    events = m.fail([(job_id, "boom", "trace", 16.0)], T0 + 1)
    assert events == [["fail", T0 + 1, [[job_id, "boom", "trace", T0 + 17]]]]
    job = m.get(job_id)
    assert job is not None and job.status is Status.RETRYING and job.scheduled_at == T0 + 17
    assert job.errors == (
        {"error": "boom", "attempt": 1, "stack_trace": "trace", "attempted_at": T0 + 1},
    )
    assert m.tick(T0 + 16) == T0 + 17
    assert m.dispatch(1, 7, T0 + 16) == ([], [])
    assert run_one(m, T0 + 17) == job_id
    m.fail([(job_id, "again", None, 31.0)], T0 + 18)
    assert job.status is Status.FAILED and job.attempts == 2
    assert [e["error"] for e in job.errors] == ["again", "boom"]
    assert m.tick(T0 + 1000) is None


def test_outcomes_of_jobs_not_running_are_ignored() -> None:
    m = Machine()
    m.insert([new(), new()], T0)
    assert m.complete([(1, None), (99, None)], T0) == []
    assert m.fail([(1, "x", None, 1.0), (99, "x", None, 1.0)], T0) == []
    assert m.put_back([1, 99], T0) == []
    job_id = run_one(m)
    m.cancel(job_id, T0)
    assert m.complete([(job_id, 5)], T0) == []
    assert m.fail([(job_id, "late", None, 1.0)], T0) == []
    job = m.get(job_id)
    assert job is not None and job.status is Status.CANCELLED and job.result is None


def test_put_back_returns_the_attempt() -> None:
    m = Machine()
    m.insert([new(), new()], T0)
    job_id = run_one(m)
    assert m.put_back([job_id], T0 + 1) == [["back", T0 + 1, [job_id]]]
    job = m.get(job_id)
    assert job is not None and job.status is Status.ENQUEUED and job.attempts == 0
    assert job.worker_pid is None and m.running_jobs(7) == []
    assert run_one(m) == job_id  # keeps its place at the head of the queue


def test_cancel_rules() -> None:
    m = Machine()
    m.insert([new(), new(scheduled_at=T0 + 60)], T0)
    assert m.cancel(2, T0 + 1) == [["cancel", T0 + 1, [2]]]
    job = m.get(2)
    assert job is not None and job.status is Status.CANCELLED
    with pytest.raises(InvalidTransition, match="already cancelled"):
        m.cancel(2, T0)
    with pytest.raises(JobNotFound):
        m.cancel(99, T0)
    assert m.tick(T0 + 100) is None  # the cancelled scheduled job is not promoted


def test_retry_rules() -> None:
    m = Machine()
    m.insert([new(), new(scheduled_at=T0 + 60)], T0)
    running = run_one(m)
    with pytest.raises(InvalidTransition, match="running"):
        m.retry(running, T0)
    with pytest.raises(JobNotFound):
        m.retry(99, T0)
    m.fail([(running, "boom", None, 5.0)], T0)
    job = m.get(running)
    assert job is not None and job.status is Status.FAILED and job.max_attempts == 1
    assert m.retry(running, T0 + 1) == [["retry", T0 + 1, [running]]]
    assert job.status is Status.ENQUEUED and job.max_attempts == 2 and job.attempts == 1
    assert job.scheduled_at == T0 + 1
    assert m.retry(running, T0 + 2) == []  # already enqueued: nothing to do
    assert m.retry(2, T0 + 3) != []  # scheduled: run it now
    scheduled = m.get(2)
    assert scheduled is not None and scheduled.status is Status.ENQUEUED
    assert scheduled.max_attempts == 1  # attempts left, no extra one granted


def test_retry_of_a_completed_job_clears_its_result() -> None:
    m = Machine()
    m.insert([new()], T0)
    job_id = run_one(m)
    m.complete([(job_id, 3)], T0)
    m.retry(job_id, T0 + 1)
    job = m.get(job_id)
    assert job is not None and job.result is None and job.max_attempts == 2


def test_delete_any_job() -> None:
    m = Machine()
    m.insert([new(), new(), new(scheduled_at=T0 + 9)], T0)
    running = run_one(m)
    for job_id in (running, 2, 3):
        assert m.delete(job_id) == [["del", [job_id]]]
        assert m.get(job_id) is None
    with pytest.raises(JobNotFound):
        m.delete(1)
    assert m.complete([(running, None)], T0) == []
    assert m.running_jobs() == [] and m.tick(T0 + 10) is None
    assert m.dispatch(5, 1, T0) == ([], [])
    assert sum(m.counts()["default"].values()) == 0


def test_uniqueness_within_and_across_batches() -> None:
    m = Machine()
    once = Unique(args=["email"])
    jobs, events = m.insert(
        [new({"email": "a", "n": 1}, unique=once), new({"email": "a", "n": 2}, unique=once)], T0
    )
    assert jobs[0] is jobs[1] and len(events[0][1]) == 1
    again, events = m.insert([new({"email": "a", "n": 3}, unique=once)], T0)
    assert again[0] is jobs[0] and events == []
    other, _ = m.insert([new({"email": "b"}, unique=once)], T0)
    assert other[0].id != jobs[0].id
    elsewhere, _ = m.insert([new({"email": "a"}, unique=once, worker="app.Other")], T0)
    assert elsewhere[0].id != jobs[0].id


def test_uniqueness_on_all_args_ignores_key_order() -> None:
    m = Machine()
    first, _ = m.insert([new({"a": 1, "b": 2}, unique=Unique())], T0)
    second, _ = m.insert([new({"b": 2, "a": 1}, unique=Unique())], T0)
    third, _ = m.insert([new({"a": 1, "b": 3}, unique=Unique())], T0)
    assert first[0] is second[0] and third[0] is not first[0]
    plain, _ = m.insert([new([1, 2], unique=Unique()), new([1, 2], unique=Unique())], T0)
    assert plain[0] is plain[1]


def test_uniqueness_honours_statuses_and_ignores_finished_jobs_by_default() -> None:
    m = Machine()
    m.insert([new({"k": 1}, unique=Unique())], T0)
    job_id = run_one(m)
    dup, _ = m.insert([new({"k": 1}, unique=Unique())], T0)
    assert dup[0].id == job_id  # running counts
    m.complete([(job_id, None)], T0)
    fresh, _ = m.insert([new({"k": 1}, unique=Unique())], T0)
    assert fresh[0].id != job_id  # completed does not count by default
    strict = Unique(statuses=(Status.COMPLETED,))
    found, _ = m.insert([new({"k": 1}, unique=strict)], T0)
    assert found[0].id == job_id
    m.delete(job_id)
    gone, _ = m.insert([new({"k": 1}, unique=strict)], T0)
    assert gone[0].id not in (job_id, fresh[0].id)


def test_prune_deletes_only_expired_finished_jobs() -> None:
    m = Machine({"default": 10}, Retention(completed=100, cancelled=50, failed=1000))
    m.insert([new() for _ in range(4)], T0)
    started, _ = m.dispatch(3, 1, T0)
    m.complete([(started[0].id, None)], T0)
    m.fail([(started[1].id, "x", None, 1.0)], T0)
    m.cancel(started[2].id, T0 + 10)
    assert m.prune(T0 + 59) == []
    assert m.prune(T0 + 60) == [["del", [3]]]
    assert m.prune(T0 + 100) == [["del", [1]]]
    assert m.prune(T0 + 999) == []
    assert m.prune(T0 + 1000) == [["del", [2]]]
    assert [job.id for job in m.list_jobs()] == [4]


def test_prune_skips_jobs_that_moved_on() -> None:
    m = Machine({"default": 10}, Retention(completed=100))
    m.insert([new(), new()], T0)
    first = run_one(m)
    m.complete([(first, None)], T0)
    m.retry(first, T0 + 50)
    assert m.prune(T0 + 200) == []
    m.delete(2)
    assert m.prune(T0 + 300) == []
    assert run_one(m, T0 + 300) == first
    m.complete([(first, None)], T0 + 300)
    assert m.prune(T0 + 399) == []
    assert m.prune(T0 + 400) == [["del", [first]]]


def test_retention_defaults_are_documented_values() -> None:
    retention = Retention()
    assert (retention.completed, retention.cancelled, retention.failed) == (3600, 3600, 604800)
    with pytest.raises(ValueError):
        retention.seconds_for(Status.RUNNING)


def test_default_backoff_grows_polynomially() -> None:
    assert [default_backoff(n) for n in (1, 2, 3, 10)] == [16.0, 31.0, 96.0, 10015.0]
    assert default_backoff(0) == 15.0


def test_list_jobs_filters_and_limits() -> None:
    m = Machine({"a": 10, "b": 10})
    m.insert([new({"n": n, "p": n % 2}, queue="a") for n in range(6)], T0)
    m.insert([new({"n": n}, queue="b", worker="app.Other") for n in range(3)], T0)
    m.dispatch(2, 1, T0)
    assert ids(m.list_jobs()) == list(range(1, 10))
    assert ids(m.list_jobs(queue="b")) == [7, 8, 9]
    assert ids(m.list_jobs(worker="app.Other", limit=2)) == [7, 8]
    assert ids(m.list_jobs(status="running")) == ids(m.running_jobs())
    assert ids(m.list_jobs(status=Status.ENQUEUED, queue="a", args={"p": 1})) != []
    assert all(job.args["p"] == 1 for job in m.list_jobs(args={"p": 1}))
    assert ids(m.list_jobs(args={"n": 2})) == [3, 9]
    assert ids(m.list_jobs(args={"missing": 1})) == []
    assert m.list_jobs(queue="zzz") == [] and m.list_jobs(worker="zzz") == []
    assert m.list_jobs(limit=0) == []
    with pytest.raises(ValueError):
        m.list_jobs(status="bogus")


def test_counts_follow_every_transition() -> None:
    m = Machine({"default": 10}, Retention(completed=1))
    m.insert([new(max_attempts=2) for _ in range(5)], T0)
    m.dispatch(4, 1, T0)
    m.complete([(1, None)], T0)
    m.fail([(2, "x", None, 5.0), (3, "y", None, 5.0)], T0)
    m.cancel(4, T0)
    counts = m.counts()["default"]
    assert counts == {
        "enqueued": 1,
        "scheduled": 0,
        "running": 0,
        "retrying": 2,
        "completed": 1,
        "failed": 0,
        "cancelled": 1,
    }
    m.prune(T0 + 5)
    assert m.counts()["default"]["completed"] == 0


def test_ids_keep_increasing_after_snapshot_and_prune() -> None:
    m = Machine({"default": 10}, Retention(completed=1))
    m.insert([new() for _ in range(3)], T0)
    m.dispatch(3, 1, T0)
    m.complete([(i, None) for i in (1, 2, 3)], T0)
    m.prune(T0 + 10)
    assert m.list_jobs() == []
    rebuilt = replay(list(m.snapshot()))
    assert rebuilt.next_id == 4
    (job,), _ = rebuilt.insert([new()], T0 + 11)
    assert job.id == 4


def test_snapshot_chunks_inserts() -> None:
    m = Machine()
    m.insert([new() for _ in range(2500)], T0)
    events = list(m.snapshot())
    assert [event[0] for event in events] == ["queue", "seq", "cols", "cols", "cols"]
    assert [event[2] for event in events[2:]] == [1000, 1000, 500]


def test_replayed_start_of_a_not_yet_promoted_job() -> None:
    m = Machine()
    events: list[Event] = []
    events += m.insert([new(max_attempts=3)], T0)[1]
    events += m.dispatch(1, 1, T0)[1]
    events += m.fail([(1, "x", None, 10.0)], T0)
    events += m.dispatch(1, 2, T0 + 10)[1]
    rebuilt = replay(events)
    assert state_of(rebuilt) == state_of(m)


@pytest.mark.parametrize(
    ("job", "error"),
    [
        (new(worker=""), ValueError),
        (new(max_attempts=True), ValueError),
        (new(scheduled_at=float("inf")), ValueError),
        (NewJob("app.A", "default", "not bytes"), TypeError),  # type: ignore[arg-type]
        (NewJob("app.A", "default", b"\x80", opts=[1]), TypeError),  # type: ignore[arg-type]
    ],
)
def test_insert_refuses_what_replay_would_refuse(job: NewJob, error: type[Exception]) -> None:
    m = Machine()
    with pytest.raises(error):
        m.insert([new(), job], T0)
    assert m.list_jobs() == []


def test_fail_refuses_bad_values_and_scale_refuses_bad_names() -> None:
    m = Machine()
    m.insert([new(max_attempts=2)], T0)
    job_id = run_one(m)
    with pytest.raises(TypeError):
        m.fail([(job_id, 42, None, 1.0)], T0)  # type: ignore[list-item]
    with pytest.raises(ValueError):
        m.fail([(job_id, "x", None, float("nan"))], T0)
    assert m.running_jobs()[0].id == job_id
    with pytest.raises(ValueError):
        m.scale_queue("", 3)


@pytest.mark.parametrize("scheduled_at", [None, T0 - 5, T0 + 30])
def test_insert_many_is_insert_of_alike_jobs(scheduled_at: float | None) -> None:
    template = new(max_attempts=3, scheduled_at=scheduled_at)
    template.opts = {"timeout": 5.0}
    args = [pack({"n": n}) for n in range(40)]  # enough for the bulk path
    one_by_one, many = Machine(), Machine()
    expected, _ = one_by_one.insert([replace(template, args_packed=a) for a in args], T0)
    records, events = many.insert_many(template, args, T0)
    assert [job.to_wire() for job in records] == [job.to_wire() for job in expected]
    assert len({id(job.opts) for job in records}) == 40  # never one dict shared by two jobs
    assert state_of(replay(events)) == state_of(many) == state_of(one_by_one)
    assert events == [columns_event(records)]  # as a snapshot would write these jobs
    started, _ = many.dispatch(100, 1, T0 + 60, concurrency=1)
    assert [job.id for job in started] == list(range(1, 41))


def test_insert_many_refuses_bad_args_and_changes_nothing() -> None:
    m = Machine()
    for bad in ([b"\x80", "not bytes"], b"\x80\x80", 5):
        with pytest.raises(TypeError, match="args_packed"):
            m.insert_many(new(), bad, T0)  # type: ignore[arg-type]
    with pytest.raises(UnknownQueue):
        m.insert_many(new(queue="nope"), [b"\x80"], T0)
    assert m.list_jobs() == [] and m.next_id == 1
    assert m.insert_many(new(), [], T0) == ([], [])


def test_insert_many_with_uniqueness_skips_duplicates_within_the_batch() -> None:
    m = Machine()
    once = new(unique=Unique())
    records, _ = m.insert_many(once, [pack({"a": 1}), pack({"a": 1}), pack({"a": 2})], T0)
    assert records[0] is records[1] and records[2].id == 2


def test_a_large_insert_is_journaled_field_by_field() -> None:
    records, events = Machine().insert([new({"n": n}) for n in range(16)], T0)
    assert events[0][0] == "cols" and events[0][2] == 16
    assert state_of(replay(events)) == state_of(replay([["ins", [r.to_wire() for r in records]]]))
