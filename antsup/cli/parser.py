"""The `antsup` command line: every subcommand, its options and the function that runs it."""

from __future__ import annotations

import argparse

from antsup.cli import commands, journal, run, top
from antsup.job import STATUSES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="antsup", description="Run and watch antsup background jobs."
    )
    parser.add_argument("--data-dir", default=None, help=_DATA_DIR_HELP)
    parser.set_defaults(handler=None)
    # Subcommands accept --data-dir too; SUPPRESS keeps them from overwriting the top-level one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=_DATA_DIR_HELP)
    listing = argparse.ArgumentParser(add_help=False)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    runner = sub.add_parser("run", parents=[common], help="run a tree in the foreground")
    runner.add_argument("module", help="module defining the Worker classes (and ANTSUP settings)")
    runner.add_argument("--workers", type=_positive, help="worker processes (default: CPUs)")
    runner.add_argument("--threads", type=_positive, help="jobs each worker runs at once")
    runner.add_argument("--queues", help="NAME=LIMIT,... e.g. default=10,mailers=50")
    runner.add_argument("--fsync", choices=["interval", "always", "never"])
    runner.set_defaults(handler=run.run)

    viewer = sub.add_parser("top", parents=[common], help="live view of processes and queues")
    viewer.add_argument("--once", action="store_true", help="print one snapshot and exit")
    viewer.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")
    viewer.set_defaults(handler=top.top)

    jobs = sub.add_parser("jobs", help="list, show, retry, cancel or delete jobs")
    jobs_sub = jobs.add_subparsers(title="actions", metavar="ACTION", required=True)
    lister = jobs_sub.add_parser("list", parents=[common, listing], help="list jobs, oldest first")
    lister.add_argument("--status", choices=STATUSES)
    lister.add_argument("--queue")
    lister.add_argument("--worker", help="dotted worker name, e.g. app.jobs.SendEmail")
    lister.add_argument("--limit", type=_positive)
    lister.set_defaults(handler=commands.jobs_list)
    shower = jobs_sub.add_parser("show", parents=[common, listing], help="every field of a job")
    shower.add_argument("id", type=int)
    shower.set_defaults(handler=commands.jobs_show)
    for action in ("retry", "cancel", "delete"):
        acting = jobs_sub.add_parser(action, parents=[common], help=f"{action} one job")
        acting.add_argument("id", type=int)
        acting.set_defaults(handler=commands.jobs_action, action=action)

    queues = sub.add_parser("queues", parents=[common, listing], help="queues and their counts")
    queues.set_defaults(handler=commands.queues_show)
    queues_sub = queues.add_subparsers(title="actions", metavar="ACTION")
    for action in ("pause", "resume"):
        changing = queues_sub.add_parser(action, parents=[common], help=f"{action} a queue")
        changing.add_argument("name")
        changing.set_defaults(handler=commands.queues_change, action=action)
    scaler = queues_sub.add_parser("scale", parents=[common], help="set a queue's concurrency")
    scaler.add_argument("name")
    scaler.add_argument("limit", type=int)
    scaler.set_defaults(handler=commands.queues_change, action="scale")

    enqueue = sub.add_parser("enqueue", parents=[common], help="insert one job by worker name")
    enqueue.add_argument("worker", help="dotted worker name, e.g. app.jobs.SendEmail")
    enqueue.add_argument("--args", default="null", help="the job's args as JSON")
    enqueue.add_argument("--in", dest="in_seconds", type=float, help="run in SECONDS from now")
    enqueue.add_argument("--queue", default="default")
    enqueue.add_argument("--max-attempts", type=_positive, default=1)
    enqueue.set_defaults(handler=commands.enqueue)

    journaling = sub.add_parser("journal", help="check or repair the journal")
    journal_sub = journaling.add_subparsers(title="actions", metavar="ACTION", required=True)
    verifier = journal_sub.add_parser("verify", parents=[common], help="read-only check")
    verifier.set_defaults(handler=journal.journal_verify)
    repairer = journal_sub.add_parser("repair", parents=[common], help="set damage aside")
    repairer.set_defaults(handler=journal.journal_repair)
    return parser


_DATA_DIR_HELP = "the tree's data directory (default: $ANTSUP_DATA_DIR or ./antsup_data)"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value
