"""`antsup jobs ...`, `antsup queues ...` and `antsup enqueue`: thin wrappers over client calls."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from antsup.cli import render
from antsup.cli.connection import connect
from antsup.client import Client, jobs_from_insert
from antsup.codec import pack
from antsup.job import Job


def jobs_list(args: argparse.Namespace) -> int:
    client = connect(args.data_dir)
    jobs = client.list_jobs(
        status=args.status, queue=args.queue, worker=args.worker, limit=args.limit
    )
    if args.json:
        print(render.to_json(jobs))
    elif jobs:
        print(render.jobs_table(jobs))
    else:
        print("no jobs match")
    return 0


def jobs_show(args: argparse.Namespace) -> int:
    job = connect(args.data_dir).get_job(args.id)
    print(render.to_json(job) if args.json else render.job_detail(job))
    return 0


def jobs_action(args: argparse.Namespace) -> int:
    client = connect(args.data_dir)
    if args.action == "delete":
        client.delete_job(args.id)
        print(f"job {args.id} deleted")
        return 0
    job = client.retry_job(args.id) if args.action == "retry" else client.cancel_job(args.id)
    print(f"job {job.id} {'retried' if args.action == 'retry' else 'cancelled'}: now {job.status}")
    return 0


def queues_show(args: argparse.Namespace) -> int:
    queues = connect(args.data_dir).stats()["queues"]
    print(render.to_json(queues) if args.json else render.queues_table(queues))
    return 0


def queues_change(args: argparse.Namespace) -> int:
    client = connect(args.data_dir)
    limit = getattr(args, "limit", None)
    queues = client.queue(args.action, args.name, limit)
    info = queues[args.name]
    state = "paused" if info["paused"] else "running"
    print(f"queue {args.name}: limit {info['limit']}, {state}")
    return 0


def enqueue(args: argparse.Namespace) -> int:
    """Insert one job by worker name: the CLI never imports the application's code."""
    if "." not in args.worker:
        raise ValueError(f"WORKER is a dotted name like app.jobs.SendEmail, not {args.worker!r}")
    try:
        job_args = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--args is not valid JSON: {exc}") from None
    scheduled_at = None if args.in_seconds is None else time.time() + args.in_seconds
    job = insert_by_name(
        connect(args.data_dir), args.worker, job_args, args.queue, args.max_attempts, scheduled_at
    )
    when = "" if scheduled_at is None else f", due in {args.in_seconds:g}s"
    print(f"job {job.id} {job.status} on queue {job.queue}{when}")
    return 0


def insert_by_name(
    client: Client,
    worker: str,
    args: Any,
    queue: str,
    max_attempts: int,
    scheduled_at: float | None,
) -> Job:
    """The insert request `Worker.perform_async` would send, built from a name, not a class."""
    batch = [worker, queue, max_attempts, scheduled_at, None, None, [pack(args)]]
    return jobs_from_insert(client.call("insert", *batch), batch, [args])[0]
