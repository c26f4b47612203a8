"""The pure core of antsup: job records, events and the state machine, with no I/O."""

from antsup.core.backoff import default_backoff
from antsup.core.events import Event
from antsup.core.job import FINISHED, JobRecord, NewJob, Status, Unique
from antsup.core.machine import Machine
from antsup.core.retention import Retention

__all__ = [
    "FINISHED",
    "Event",
    "JobRecord",
    "Machine",
    "NewJob",
    "Retention",
    "Status",
    "Unique",
    "default_backoff",
]
