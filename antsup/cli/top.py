"""`antsup top`: antsup's observer: the process tree, the queues and the latest failures.

Redraws with plain ANSI escapes (clear + home) every `--interval` seconds; `--once` prints a
single snapshot without escapes. Per-queue jobs/s comes from the change in finished counts
between refreshes, so the first frame (and `--once`) shows only the tree-wide rate.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import deque
from typing import Any

import psutil

from antsup.cli import render
from antsup.cli.connection import connect
from antsup.client import Client
from antsup.job import STATUSES, Job

CLEAR = "\x1b[H\x1b[2J"
FAILURES_SHOWN = 8
#: Seconds of history behind each queue's jobs/s.
RATE_WINDOW = 10.0

Sample = tuple[float, dict[str, int]]


def top(args: argparse.Namespace) -> int:
    client = connect(args.data_dir)
    history: deque[Sample] = deque()
    try:
        while True:
            # A terminal is as wide as it is; a pipe or file gets whole lines.
            width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 240
            frame = snapshot(client, history, width)
            if args.once:
                print(frame)
                return 0
            sys.stdout.write(CLEAR + frame + "\n")
            sys.stdout.flush()
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0


def snapshot(client: Client, history: deque[Sample], width: int = 100) -> str:
    """One frame of the view, as text."""
    stats = client.stats()
    now = time.time()
    finished = {
        name: sum(info["counts"].get(s, 0) for s in ("completed", "failed", "cancelled"))
        for name, info in stats["queues"].items()
    }
    history.append((now, finished))
    while len(history) > 2 and now - history[0][0] > RATE_WINDOW:
        history.popleft()
    failures = latest_failures(client)
    totals = stats["totals"]
    header = (
        f"antsup  {time.strftime('%H:%M:%S')}  jobs/s {stats['jobs_per_second']:.1f}  "
        + "  ".join(f"{s} {totals.get(s, 0)}" for s in STATUSES)
    )
    parts = [
        render.shorten(header, width),
        "",
        "PROCESSES",
        processes_table(stats["processes"]),
        "",
        "QUEUES",
        queues_table(stats["queues"], history),
        "",
        f"LATEST FAILURES ({len(failures)} shown)",
        failures_table(failures, width) if failures else "none",
    ]
    return "\n".join(parts)


def tree_order(processes: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(depth, process) parents first, children indented under them, by pid."""
    pids = {proc["pid"] for proc in processes}
    children: dict[int, list[dict[str, Any]]] = {}
    for proc in sorted(processes, key=lambda p: p["pid"]):
        children.setdefault(proc["ppid"], []).append(proc)
    ordered: list[tuple[int, dict[str, Any]]] = []

    def visit(proc: dict[str, Any], depth: int) -> None:
        ordered.append((depth, proc))
        for child in children.get(proc["pid"], []):
            visit(child, depth + 1)

    for proc in sorted(processes, key=lambda p: p["pid"]):
        if proc["ppid"] not in pids:
            visit(proc, 0)
    return ordered


def processes_table(processes: list[dict[str, Any]]) -> str:
    rows = [
        [
            "  " * depth + proc["role"],
            proc["pid"],
            proc["ppid"],
            _status(proc["pid"]),
            proc["restarts"],
            f"{proc['cpu_percent']:.1f}",
            render.size(proc["rss"]),
            render.duration(proc["uptime"]),
        ]
        for depth, proc in tree_order(processes)
    ]
    headers = ["ROLE", "PID", "PPID", "STATUS", "RESTARTS", "CPU%", "RSS", "UPTIME"]
    return render.table(headers, rows)


def _status(pid: int) -> str:
    """What the kernel says of the process (the CLI runs on the tree's machine)."""
    try:
        return str(psutil.Process(pid).status())
    except psutil.Error:
        return "gone"


def queues_table(queues: dict[str, Any], history: deque[Sample]) -> str:
    rows = []
    for name, info in sorted(queues.items()):
        counts = info["counts"]
        rows.append(
            [
                name,
                f"{info['running']}/{info['limit']}",
                "yes" if info["paused"] else "no",
                _rate(name, history),
                *(counts.get(s, 0) for s in STATUSES),
            ]
        )
    headers = ["QUEUE", "RUN/LIMIT", "PAUSED", "JOBS/S", *(s.upper() for s in STATUSES)]
    return render.table(headers, rows)


def _rate(queue: str, history: deque[Sample]) -> str:
    if len(history) < 2:
        return "-"
    (t0, first), (t1, last) = history[0], history[-1]
    done = last.get(queue, 0) - first.get(queue, 0)
    return f"{max(done, 0) / (t1 - t0):.1f}" if t1 > t0 else "-"


def latest_failures(client: Client) -> list[Job]:
    """Failed and retrying jobs, most recently updated first (only the newest few travel)."""
    newest = {"newest": True, "limit": FAILURES_SHOWN}
    jobs = client.list_jobs(status="failed", **newest)
    jobs += client.list_jobs(status="retrying", **newest)
    jobs.sort(key=lambda job: job.updated_at, reverse=True)
    return jobs[:FAILURES_SHOWN]


def failures_table(jobs: list[Job], width: int) -> str:
    """The error comes right after the id and status, so a narrow terminal still shows it."""
    rows = [
        [
            job.id,
            job.status,
            f"{job.attempts}/{job.max_attempts}",
            render.age(job.updated_at),
            render.last_error(job),
            job.worker,
        ]
        for job in jobs
    ]
    headers = ["ID", "STATUS", "ATTEMPTS", "UPDATED", "ERROR", "WORKER"]
    lines = render.table(headers, rows).splitlines()
    return "\n".join(line if len(line) <= width else line[: width - 1] + "…" for line in lines)
