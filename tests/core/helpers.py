"""Helpers shared by the core tests: build jobs tersely and compare machines field by field."""

from __future__ import annotations

from typing import Any

from antsup.codec import pack, unpack
from antsup.core import Machine, NewJob, Unique
from antsup.core.events import Event

T0 = 1_000_000.0


def new(
    args: Any = None,
    *,
    worker: str = "app.Mailer",
    queue: str = "default",
    max_attempts: int = 1,
    scheduled_at: float | None = None,
    unique: Unique | None = None,
) -> NewJob:
    return NewJob(
        worker=worker,
        queue=queue,
        args_packed=pack({} if args is None else args),
        max_attempts=max_attempts,
        scheduled_at=scheduled_at,
        unique=unique,
    )


def state_of(machine: Machine) -> tuple[Any, ...]:
    """Everything observable about a machine, as plain comparable data."""
    jobs = [job.to_wire() for job in machine.list_jobs()]
    return jobs, machine.counts(), machine.queues(), machine.next_id


def replay(events: list[Event], queues: dict[str, int] | None = None) -> Machine:
    """A fresh machine fed `events` after a msgpack round trip, as the journal would."""
    machine = Machine(queues)
    for event in events:
        machine.apply(unpack(pack(event)))
    return machine


def busy_machine() -> Machine:
    """A machine with jobs in most statuses: enqueued, scheduled, running, completed, retrying."""
    m = Machine({"default": 5, "mailers": 2})
    m.insert([new({"n": n}, max_attempts=2) for n in range(6)], T0)
    m.insert([new(scheduled_at=T0 + 50, queue="mailers")], T0)
    m.dispatch(3, 11, T0)
    m.complete([(1, "ok")], T0 + 1)
    m.fail([(2, "boom", "tb", 10.0)], T0 + 1)
    return m
