"""How long finished jobs are kept before pruning (Ant's DatabaseCleaner, Oban's Pruner).

Retention keeps memory and the journal bounded under a steady stream of jobs while leaving
recent outcomes visible: completed and cancelled jobs for an hour, failed jobs, which someone
usually needs to look at, for a week.
"""

from __future__ import annotations

from dataclasses import dataclass

from antsup.core.job import Status

HOUR = 3600.0
DAY = 24 * HOUR


@dataclass(frozen=True, slots=True)
class Retention:
    """Seconds a finished job is kept after it finished, per final status."""

    completed: float = HOUR
    cancelled: float = HOUR
    failed: float = 7 * DAY

    def seconds_for(self, status: Status) -> float:
        """Retention of a job that finished with `status`."""
        if status is Status.COMPLETED:
            return self.completed
        if status is Status.CANCELLED:
            return self.cancelled
        if status is Status.FAILED:
            return self.failed
        raise ValueError(f"{status} is not a finished status")
