"""antsup.testing: inline and manual modes over the core Machine, in this process only."""

from __future__ import annotations

import asyncio

import pytest

import antsup
from antsup import testing
from testing.helper_workers import AsyncEcho, Echo, Fanout, Flaky, OncePerEmail, Refuses


def test_inline_runs_the_job_at_once_and_returns_it_finished() -> None:
    with testing.inline():
        job = Echo.perform_async({"n": 1})
        assert job.status == "completed"
        assert job.result == {"echo": {"n": 1}, "attempt": 1}
        assert antsup.get_job(job.id) == job
        assert antsup.stats()["totals"]["completed"] == 1


def test_inline_retries_up_to_max_attempts() -> None:
    with testing.inline():
        recovered = Flaky.perform_async({"succeed_on": 3})
        assert (recovered.status, recovered.attempts, recovered.result) == (
            "completed",
            3,
            "finally",
        )
        assert [e["error"] for e in recovered.errors] == [
            "ValueError: attempt 2 failed",
            "ValueError: attempt 1 failed",
        ]
        assert "Traceback" in recovered.errors[0]["stack_trace"]
        given_up = Flaky.perform_async({"succeed_on": 9})
        assert (given_up.status, given_up.attempts) == ("failed", 3)
        refused = Refuses.perform_async()
        assert refused.status == "failed" and refused.errors[0]["error"] == "no thanks"
        again = antsup.retry_job(refused.id)  # one more attempt, run at once too
        assert (again.status, again.attempts) == ("failed", 3)


def test_inline_scheduled_nested_many_async_and_unique() -> None:
    with testing.inline():
        assert Echo.perform_in(3600, "later").status == "completed"
        parent = Fanout.perform_async(["a", "b"])
        children = [antsup.get_job(child) for child in parent.result]
        assert [(c.args, c.status) for c in children] == [("a", "completed"), ("b", "completed")]
        assert [job.status for job in Echo.perform_many([1, 2, 3])] == ["completed"] * 3
        assert AsyncEcho.perform_async({"x": 1}).result == {"x": 1}
        first = OncePerEmail.perform_async({"email": "a@b.c"})
        # unique looks at unfinished jobs by default: the first one has completed already
        assert OncePerEmail.perform_async({"email": "a@b.c"}).id == first.id + 1


def test_inline_async_worker_from_an_async_test() -> None:
    async def scenario() -> antsup.Job:
        return AsyncEcho.perform_async({"in": "loop"})

    with testing.inline():
        assert asyncio.run(scenario()).result == {"in": "loop"}


def test_manual_records_jobs_and_drain_runs_them_with_retries() -> None:
    with testing.manual():
        Echo.perform_async({"email": "a@b.c", "name": "Ann"})
        Flaky.perform_async({"succeed_on": 2})
        Echo.perform_in(60, {"email": "later@b.c"})
        testing.assert_enqueued(Echo, args={"email": "a@b.c"})
        testing.assert_enqueued("testing.helper_workers.Flaky", queue="mailers")
        testing.refute_enqueued(Echo, args={"email": "nobody@b.c"})
        testing.refute_enqueued(Flaky, queue="default")
        assert len(testing.all_enqueued()) == 3
        first = OncePerEmail.perform_async({"email": "a@b.c", "n": 1})
        assert OncePerEmail.perform_async({"email": "a@b.c", "n": 2}).id == first.id
        antsup.delete_job(first.id)
        assert len(testing.all_enqueued(Echo)) == 2
        with pytest.raises(AssertionError, match="no enqueued job matches"):
            testing.assert_enqueued(Refuses)
        with pytest.raises(AssertionError, match="expected no enqueued job"):
            testing.refute_enqueued(Echo)

        mailers = testing.drain_queue("mailers")
        assert [(j.status, j.attempts) for j in mailers.jobs] == [("completed", 2)]
        assert testing.all_enqueued(queue="mailers") == []
        now_only = testing.drain_queue("default", with_scheduled=False)
        assert [j.args["email"] for j in now_only.completed] == ["a@b.c"]
        everything = testing.drain_queue("default")
        assert [j.args["email"] for j in everything.completed] == ["later@b.c"]
        assert testing.all_enqueued() == []


def test_drain_runs_jobs_enqueued_by_jobs_and_reports_failures() -> None:
    with testing.manual():
        Fanout.perform_async([1, 2])
        Refuses.perform_async()
        drained = testing.drain_queue()
        assert [j.worker.rsplit(".", 1)[1] for j in drained.completed] == ["Fanout", "Echo", "Echo"]
        assert [(j.status, j.attempts) for j in drained.failed] == [("failed", 2)]


def test_drain_leaves_a_paused_queue_alone() -> None:
    with testing.manual():
        Echo.perform_async()
        antsup.pause_queue("default")
        assert testing.drain_queue().jobs == []
        antsup.resume_queue("default")
        assert len(testing.drain_queue().completed) == 1


def test_modes_restore_the_previous_client_and_refuse_outside() -> None:
    with pytest.raises(RuntimeError, match="no antsup testing mode is active"):
        testing.all_enqueued()
    with testing.manual() as outer:
        with testing.inline():
            assert Echo.perform_async().status == "completed"
        assert testing.current() is outer
        assert Echo.perform_async().status == "enqueued"


def test_plugin_fixtures(antsup_inline: testing.TestingClient) -> None:
    assert Echo.perform_async(7).result == {"echo": 7, "attempt": 1}
    assert antsup_inline.machine.counts()["default"]["completed"] == 1


def test_plugin_manual_fixture(antsup_manual: testing.TestingClient) -> None:
    Echo.perform_async(8)
    testing.assert_enqueued(Echo, args=8)
    assert antsup_manual.drain_queue().completed[0].result == {"echo": 8, "attempt": 1}
