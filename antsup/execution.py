"""Running one attempt of a job and turning what happened into an outcome message.

Shared by the worker process and `antsup.testing`'s inline mode, so both judge a job alike.
"""

from __future__ import annotations

import asyncio
import inspect
import traceback
from typing import Any

from antsup.codec import pack
from antsup.errors import EncodeError
from antsup.job import Fail, Job
from antsup.worker import registered_worker

#: outcome = [id, "done", result] | [id, "fail", error, stack_trace | None, retry_in | None]
Outcome = list[Any]


def resolve(job: Job) -> Any:
    """The registered Worker instance for `job`, or a Fail naming why there is none."""
    cls = registered_worker(job.worker)
    if cls is None:
        return Fail(
            f"unknown worker {job.worker!r}: not a registered antsup.Worker subclass in this "
            "process (antsup runs only registered workers and never imports a job's path)"
        )
    return cls()


def is_async(job: Job) -> bool:
    cls = registered_worker(job.worker)
    if cls is None:
        return False
    known = _ASYNC_PERFORM.get(cls)
    if known is None:
        known = _ASYNC_PERFORM[cls] = inspect.iscoroutinefunction(cls.perform)
    return known


#: Worker class -> whether its perform is `async def` (asked for every job).
_ASYNC_PERFORM: dict[type, bool] = {}


def judge(job: Job, worker: Any, returned: Any) -> Outcome:
    """Map what `perform` returned to an outcome."""
    if isinstance(returned, Fail):
        return _failure(job, worker, str(returned.reason), None)
    try:
        pack(returned)
    except EncodeError:
        returned = repr(returned)  # keep something readable rather than lose the completion
    return [job.id, "done", returned]


def judge_exception(job: Job, worker: Any, exc: BaseException) -> Outcome:
    stack = "".join(traceback.format_exception(exc))
    return _failure(job, worker, f"{type(exc).__name__}: {exc}", stack)


def _failure(job: Job, worker: Any, error: str, stack: str | None) -> Outcome:
    retry_in: float | None = None
    if worker is not None and not isinstance(worker, Fail):
        try:
            retry_in = float(worker.backoff(job))
        except Exception:  # a broken backoff must not lose the failure itself
            retry_in = None
    return [job.id, "fail", error, stack, retry_in]


def run_sync(job: Job) -> Outcome:
    """One attempt of a job whose `perform` is a plain function (or async: run to completion)."""
    worker = resolve(job)
    if isinstance(worker, Fail):
        return [job.id, "fail", str(worker.reason), None, None]
    try:
        returned = worker.perform(job)
        if inspect.isawaitable(returned):
            returned = asyncio.run(_await(returned))
    except Exception as exc:
        return judge_exception(job, worker, exc)
    return judge(job, worker, returned)


async def run_async(job: Job) -> Outcome:
    """One attempt of a job whose `perform` is `async def`, on the caller's event loop."""
    worker = resolve(job)
    if isinstance(worker, Fail):
        return [job.id, "fail", str(worker.reason), None, None]
    try:
        returned = await worker.perform(job)
    except Exception as exc:
        return judge_exception(job, worker, exc)
    return judge(job, worker, returned)


async def _await(awaitable: Any) -> Any:
    return await awaitable
