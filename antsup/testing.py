"""Testing helpers for the application's own tests: run jobs in the test process, no tree.

    def test_signup():
        with antsup.testing.inline():
            job = SendWelcome.perform_async({"email": "a@b.c"})
        assert job.status == "completed"

    def test_signup_enqueues():
        with antsup.testing.manual():
            signup("a@b.c")
            antsup.testing.assert_enqueued(SendWelcome, args={"email": "a@b.c"})
            assert antsup.testing.drain_queue("default").completed

Both modes install a `TestingClient` as the process's client: a `Client` whose requests are
answered by an in-process `antsup.core.Machine` (the queue manager's own state machine) instead
of a socket, so uniqueness, statuses, retries and errors behave as in a real tree. Attempts run
through `antsup.execution`, as in a worker process. Differences: no journal, no processes,
timeouts are not enforced, retries and scheduled jobs run at once (the testing clock jumps to
their due time), and queues are created on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from antsup import client as client_module
from antsup.client import Client
from antsup.codec import pack, unpack
from antsup.core import JobRecord, Machine, Status
from antsup.execution import Outcome, run_sync
from antsup.job import Job
from antsup.processes.wire import insert_template
from antsup.worker import worker_name

Mode = Literal["inline", "manual"]
#: Concurrency of queues in tests: never the reason a job does not run.
_TEST_QUEUE_LIMIT = 1_000_000
_PID = 1  # the "worker pid" jobs run on in tests


@dataclass
class Drained:
    """What `drain_queue` ran: every job once, in its final state, by id."""

    jobs: list[Job] = field(default_factory=list)

    @property
    def completed(self) -> list[Job]:
        return [job for job in self.jobs if job.status == "completed"]

    @property
    def failed(self) -> list[Job]:
        return [job for job in self.jobs if job.status == "failed"]


class TestingClient(Client):
    """A Client answered by an in-process Machine; `inline` runs each job as it is inserted."""

    __test__ = False  # not a pytest test class

    def __init__(self, mode: Mode = "manual") -> None:
        super().__init__("<antsup.testing>", b"")
        self.mode = mode
        self.machine = Machine({})
        self._clock = 0.0
        #: Ids of the jobs attempted so far, once per attempt, in order.
        self.attempted: list[int] = []

    def now(self) -> float:
        """Wall-clock time, except that it never goes back after a jump to a due time."""
        self._clock = max(self._clock, time.time())
        return self._clock

    # ---- the queue manager's requests, answered in process ----------------------------------

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            raise ValueError(f"antsup.testing does not support the {op!r} request")
        return handler(*args)

    def close(self) -> None:
        pass

    def _op_insert(self, *batch: Any) -> list[Any]:
        """The request `Client.insert` sends (see `wire.insert_template`)."""
        *shared, packed_args = batch
        template = insert_template(*shared)
        if template.queue not in self.machine.queues():
            self.machine.scale_queue(template.queue, _TEST_QUEUE_LIMIT)
        first_new_id = self.machine.next_id
        records, _ = self.machine.insert_many(template, packed_args, self.now())
        if self.mode == "inline":
            inserted = dict.fromkeys(job.id for job in records if job.id >= first_new_id)
            for job_id in inserted:  # not duplicates that uniqueness returned instead
                self._run_to_the_end(job_id)
        wires = [_wire(self.machine.get(record.id)) or record.to_wire() for record in records]
        return [self.now(), wires]

    def _op_get(self, job_id: int) -> list[Any] | None:
        return _wire(self.machine.get(job_id))

    def _op_list(self, filters: dict[str, Any]) -> list[list[Any]]:
        filters = dict(filters)
        newest, limit = filters.pop("newest", False), filters.pop("limit", None)
        records = self.machine.list_jobs(**filters, limit=None if newest else limit)
        if newest:
            records = records[::-1][:limit]
        return [record.to_wire() for record in records]

    def _op_cancel(self, job_id: int) -> list[Any] | None:
        self.machine.cancel(job_id, self.now())
        return _wire(self.machine.get(job_id))

    def _op_retry(self, job_id: int) -> list[Any] | None:
        self.machine.retry(job_id, self.now())
        if self.mode == "inline":
            self._run_to_the_end(job_id)
        return _wire(self.machine.get(job_id))

    def _op_delete(self, job_id: int) -> None:
        self.machine.delete(job_id)

    def _op_queue(self, action: str, name: str, limit: int | None) -> dict[str, Any]:
        if action == "scale":
            self.machine.scale_queue(name, limit)  # type: ignore[arg-type]
        elif action in ("pause", "resume"):
            change = self.machine.pause_queue if action == "pause" else self.machine.resume_queue
            change(name)
        else:
            raise ValueError(f"unknown queue action {action!r}")
        return self._queues()

    def _op_stats(self) -> dict[str, Any]:
        totals: dict[str, int] = {}
        for per_status in self.machine.counts().values():
            for status, count in per_status.items():
                totals[status] = totals.get(status, 0) + count
        return {"queues": self._queues(), "totals": totals, "jobs_per_second": 0.0, "processes": []}

    def _op_ping(self) -> str:
        return "pong"

    def _queues(self) -> dict[str, Any]:
        counts = self.machine.counts()
        return {
            name: {
                "limit": limit,
                "paused": paused,
                "running": running,
                "counts": counts.get(name, {}),
            }
            for name, (limit, paused, running) in self.machine.queues().items()
        }

    # ---- running jobs ---------------------------------------------------------------------

    def drain_queue(self, queue: str = "default", with_scheduled: bool = True) -> Drained:
        """Run every job of `queue` until none is left to run, retries included (at once);
        jobs those jobs enqueue in the same queue run too. `with_scheduled=False` leaves jobs
        scheduled for later (`perform_in`/`perform_at`) alone. A paused queue runs nothing.
        The result lists the jobs by id."""
        first = len(self.attempted)
        progress = True
        while progress:
            due = [
                record.id
                for status in ("enqueued", "retrying", "scheduled")
                if with_scheduled or status != "scheduled"
                for record in self.machine.list_jobs(status=status, queue=queue)
            ]
            before = len(self.attempted)
            for job_id in sorted(due):
                self._run_once(job_id)
            progress = len(self.attempted) > before
        ran = set(self.attempted[first:])
        jobs = [self.machine.get(job_id) for job_id in sorted(ran)]
        return Drained([Job.from_record(record) for record in jobs if record is not None])

    def all_enqueued(
        self, worker: type | str | None = None, queue: str | None = None, args: Any = None
    ) -> list[Job]:
        """Jobs waiting to run (enqueued or scheduled) matching every filter given."""
        name = worker_name(worker) if isinstance(worker, type) else worker
        found: list[JobRecord] = []
        for status in ("enqueued", "scheduled"):
            found += self.machine.list_jobs(status=status, queue=queue, worker=name)
        matching = [r for r in sorted(found, key=lambda r: r.id) if _args_match(r.args, args)]
        return [Job.from_record(record) for record in matching]

    def _run_to_the_end(self, job_id: int) -> None:
        while self._run_once(job_id):
            pass

    def _run_once(self, job_id: int) -> bool:
        """One attempt of `job_id` (and of any job due before it in its queue); False when it
        cannot run: finished, running (a job re-enqueueing itself), gone or its queue paused."""
        while True:
            record = self.machine.get(job_id)
            if record is None or record.status not in _RUNNABLE:
                return False
            if record.scheduled_at is not None:
                self._clock = max(self.now(), record.scheduled_at)
            started = self._dispatch_one(record.queue)
            if started is None:
                return False
            self._attempt(started)
            if started.id == job_id:
                return True

    def _dispatch_one(self, queue: str) -> JobRecord | None:
        """Start the next ready job of `queue` only: other queues are paused meanwhile."""
        others = [
            name
            for name, (_, paused, _) in self.machine.queues().items()
            if name != queue and not paused
        ]
        for name in others:
            self.machine.pause_queue(name)
        try:
            started, _ = self.machine.dispatch(1, _PID, self.now())
        finally:
            for name in others:
                self.machine.resume_queue(name)
        return started[0] if started else None

    def _attempt(self, record: JobRecord) -> None:
        """Run one attempt and record its outcome, as the queue manager would."""
        self.attempted.append(record.id)
        outcome = unpack(pack(_run(Job.from_record(record))))  # as if it crossed the wire
        now = self.now()
        if outcome[1] == "done":
            self.machine.complete([(record.id, outcome[2])], now)
        else:
            retry_in = outcome[4] if outcome[4] is not None else 0.0
            self.machine.fail([(record.id, outcome[2], outcome[3], float(retry_in))], now)


_RUNNABLE = (Status.ENQUEUED, Status.SCHEDULED, Status.RETRYING)


def _run(job: Job) -> Outcome:
    """run_sync here, or in a helper thread when this thread already runs an event loop (an
    async test), since an async `perform` needs a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_sync(job)
    outcomes: list[Outcome] = []
    helper = threading.Thread(target=lambda: outcomes.append(run_sync(job)))
    helper.start()
    helper.join()
    return outcomes[0]


def _wire(record: JobRecord | None) -> list[Any] | None:
    return None if record is None else record.to_wire()


def _args_match(job_args: Any, wanted: Any) -> bool:
    """None matches anything; a dict matches on the keys it gives; anything else is equality."""
    if wanted is None:
        return True
    if isinstance(wanted, dict) and isinstance(job_args, dict):
        return all(key in job_args and job_args[key] == value for key, value in wanted.items())
    return bool(job_args == wanted)


# ---- modes and assertions ----------------------------------------------------------------------


@contextlib.contextmanager
def inline() -> Iterator[TestingClient]:
    """`perform_async` (and perform_in/at/many, retry_job) run the job at once, retries
    included, and return it finished."""
    with _installed(TestingClient("inline")) as testing:
        yield testing


@contextlib.contextmanager
def manual() -> Iterator[TestingClient]:
    """Jobs are only recorded; `drain_queue` runs them."""
    with _installed(TestingClient("manual")) as testing:
        yield testing


@contextlib.contextmanager
def _installed(testing: TestingClient) -> Iterator[TestingClient]:
    previous = client_module._current
    client_module.set_current(testing)
    try:
        yield testing
    finally:
        client_module.set_current(previous)


def current() -> TestingClient:
    """The TestingClient installed by `inline()`/`manual()`; RuntimeError outside them."""
    installed = client_module._current
    if not isinstance(installed, TestingClient):
        raise RuntimeError(
            "no antsup testing mode is active: use antsup.testing.manual() or inline()"
        )
    return installed


def drain_queue(queue: str = "default", with_scheduled: bool = True) -> Drained:
    """Run the jobs of `queue` (see `TestingClient.drain_queue`)."""
    return current().drain_queue(queue, with_scheduled)


def all_enqueued(
    worker: type | str | None = None, queue: str | None = None, args: Any = None
) -> list[Job]:
    """Jobs waiting to run (enqueued or scheduled), oldest first, matching the filters given."""
    return current().all_enqueued(worker, queue, args)


def assert_enqueued(
    worker: type | str | None = None, queue: str | None = None, args: Any = None
) -> Job:
    """Fail unless a matching job waits to run; returns the first one. A dict `args` matches
    on the keys it gives."""
    found = all_enqueued(worker, queue, args)
    if not found:
        waiting = [(job.worker, job.queue, job.args) for job in all_enqueued()]
        raise AssertionError(
            f"no enqueued job matches worker={_name(worker)} queue={queue} args={args!r}; "
            f"waiting jobs: {waiting}"
        )
    return found[0]


def refute_enqueued(
    worker: type | str | None = None, queue: str | None = None, args: Any = None
) -> None:
    """Fail if a matching job waits to run."""
    found = all_enqueued(worker, queue, args)
    if found:
        raise AssertionError(
            f"expected no enqueued job matching worker={_name(worker)} queue={queue} "
            f"args={args!r}, found ids {[job.id for job in found]}"
        )


def _name(worker: type | str | None) -> str | None:
    return worker_name(worker) if isinstance(worker, type) else worker


__all__ = [
    "Drained",
    "TestingClient",
    "all_enqueued",
    "assert_enqueued",
    "current",
    "drain_queue",
    "inline",
    "manual",
    "refute_enqueued",
]
