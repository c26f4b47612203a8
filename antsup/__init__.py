"""antsup: background jobs on a supervised tree of OS processes, kept in a msgpack journal.

class SendPromotion(antsup.Worker):
    max_attempts = 3
    def perform(self, job): ...

with antsup.start(workers=2):
    SendPromotion.perform_async({"email": "jane@example.com"})
"""

from __future__ import annotations

from typing import Any

from antsup.client import current as _client
from antsup.core.job import Unique
from antsup.errors import (
    AntsupError,
    ConnectionLost,
    DataDirLocked,
    EncodeError,
    InvalidTransition,
    JobNotFound,
    JournalCorrupt,
    JournalWriteError,
    NotRunning,
    UnknownQueue,
)
from antsup.job import Fail, Job
from antsup.tree import Tree, start
from antsup.worker import Worker

__version__ = "0.1.0"


def get_job(job_id: int) -> Job:
    """The job with that id; raises JobNotFound."""
    return _client().get_job(job_id)


def list_jobs(
    status: str | None = None,
    queue: str | None = None,
    worker: str | type | None = None,
    args: dict[str, Any] | None = None,
    limit: int | None = None,
) -> list[Job]:
    """Jobs matching every filter given (`args` matches the keys given), oldest first."""
    if isinstance(worker, type):
        from antsup.worker import worker_name

        worker = worker_name(worker)
    return _client().list_jobs(status=status, queue=queue, worker=worker, args=args, limit=limit)


def cancel_job(job_id: int) -> Job:
    return _client().cancel_job(job_id)


def retry_job(job_id: int) -> Job:
    return _client().retry_job(job_id)


def delete_job(job_id: int) -> None:
    _client().delete_job(job_id)


def stats() -> dict[str, Any]:
    """Counts per queue and status, jobs/s, and the process tree (pid, role, CPU, RSS...)."""
    return _client().stats()


def scale_queue(name: str, limit: int) -> dict[str, Any]:
    return _client().queue("scale", name, limit)


def pause_queue(name: str) -> dict[str, Any]:
    return _client().queue("pause", name)


def resume_queue(name: str) -> dict[str, Any]:
    return _client().queue("resume", name)


__all__ = [
    "AntsupError",
    "ConnectionLost",
    "DataDirLocked",
    "EncodeError",
    "Fail",
    "InvalidTransition",
    "Job",
    "JobNotFound",
    "JournalCorrupt",
    "JournalWriteError",
    "NotRunning",
    "Tree",
    "Unique",
    "UnknownQueue",
    "Worker",
    "cancel_job",
    "delete_job",
    "get_job",
    "list_jobs",
    "pause_queue",
    "resume_queue",
    "retry_job",
    "scale_queue",
    "start",
    "stats",
]
