"""Workers of the observability tests, importable by the tree's worker processes."""

from __future__ import annotations

import logging
import os
from typing import Any

import antsup


class Chatty(antsup.Worker):
    """Logs one warning through the application's own logger; returns its pid to compare."""

    def perform(self, job: antsup.Job) -> Any:
        logging.getLogger("myapp.mailer").warning("sent %d mails to %s", 3, job.args["to"])
        return os.getpid()
