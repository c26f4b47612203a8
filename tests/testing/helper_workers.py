"""Workers the testing-helper tests enqueue."""

from __future__ import annotations

from typing import Any

import antsup


class Echo(antsup.Worker):
    def perform(self, job: antsup.Job) -> Any:
        return {"echo": job.args, "attempt": job.attempts}


class Flaky(antsup.Worker):
    """Fails until its attempt number reaches args["succeed_on"]."""

    max_attempts = 3
    queue = "mailers"

    def perform(self, job: antsup.Job) -> Any:
        if job.attempts < job.args["succeed_on"]:
            raise ValueError(f"attempt {job.attempts} failed")
        return "finally"


class Refuses(antsup.Worker):
    max_attempts = 2

    def perform(self, job: antsup.Job) -> Any:
        return antsup.Fail("no thanks")


class Fanout(antsup.Worker):
    """Enqueues one Echo per item: jobs that enqueue jobs."""

    def perform(self, job: antsup.Job) -> Any:
        return [Echo.perform_async(item).id for item in job.args]


class AsyncEcho(antsup.Worker):
    async def perform(self, job: antsup.Job) -> Any:
        return job.args


class OncePerEmail(antsup.Worker):
    unique = antsup.Unique(args=["email"])

    def perform(self, job: antsup.Job) -> Any:
        return job.args["email"]
