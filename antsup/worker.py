"""`antsup.Worker`: subclass it, implement `perform`, enqueue with `perform_async`.

Subclasses register themselves by dotted name. Worker processes run only registered classes, so a
job that names any other import path is refused: antsup never imports what a job record names.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from antsup.core.backoff import default_backoff
from antsup.core.job import Unique

if TYPE_CHECKING:
    from antsup.job import Job

_registry: dict[str, type[Worker]] = {}


def worker_name(cls: type) -> str:
    """The dotted name a job records; a script's `__main__` keeps one name in every process."""
    module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__
    return f"{module}.{cls.__qualname__}"


def registered_worker(name: str) -> type[Worker] | None:
    """The Worker class registered under `name`, or None: never imports anything."""
    return _registry.get(name)


def registered_modules() -> tuple[str, ...]:
    """Modules that define the registered workers: worker processes import these at start."""
    return tuple(sorted({cls.__module__ for cls in _registry.values()} - {"__main__"}))


class Worker:
    """Base class of every job worker. Override `perform`; tune with class attributes."""

    queue: ClassVar[str] = "default"
    #: Tries in all: 1 means no retry, as Ant.
    max_attempts: ClassVar[int] = 1
    #: Seconds an attempt may run before its process is killed and the attempt fails.
    timeout: ClassVar[float | None] = None
    unique: ClassVar[Unique | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _registry[worker_name(cls)] = cls

    def perform(self, job: Job) -> Any:
        """Do the work. Return a value to complete, raise or return `antsup.Fail` to fail."""
        raise NotImplementedError(f"{type(self).__name__} must implement perform(self, job)")

    def backoff(self, job: Job) -> float:
        """Seconds to wait before the next attempt after attempt number `job.attempts` failed."""
        return default_backoff(job.attempts)

    # Enqueueing: thin wrappers around the client so call sites read like Ant's.
    @classmethod
    def perform_async(cls, args: Any = None, **opts: Any) -> Job:
        """Enqueue one job to run as soon as a worker is free; returns it as recorded."""
        from antsup.client import current

        return current().insert(cls, [args], None, opts)[0]

    @classmethod
    def perform_in(cls, seconds: float, args: Any = None, **opts: Any) -> Job:
        """Enqueue one job to run `seconds` from now (status `scheduled`)."""
        import time

        from antsup.client import current

        return current().insert(cls, [args], time.time() + seconds, opts)[0]

    @classmethod
    def perform_at(cls, when: datetime, args: Any = None, **opts: Any) -> Job:
        """Enqueue one job to run at `when` (a timezone-aware datetime)."""
        from antsup.client import current

        if when.tzinfo is None:
            raise ValueError("perform_at needs a timezone-aware datetime (e.g. datetime.now(UTC))")
        return current().insert(cls, [args], when.timestamp(), opts)[0]

    @classmethod
    def perform_many(cls, many_args: Iterable[Any], **opts: Any) -> list[Job]:
        """Enqueue many jobs in one request and one journal commit."""
        from antsup.client import current

        return current().insert(cls, list(many_args), None, opts)
