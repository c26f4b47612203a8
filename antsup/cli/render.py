"""Turning jobs, queues and stats into what a person reads (tables) or a script reads (JSON).

Kept apart from the commands so `antsup top` and `antsup jobs` print the same things alike.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from antsup.job import STATUSES, Job


def to_json(value: Any) -> str:
    """JSON text for jobs, dicts and lists; datetimes as ISO 8601, bytes as base64."""
    return json.dumps(_plain(value), indent=2, sort_keys=False, default=_default)


def _plain(value: Any) -> Any:
    if isinstance(value, Job):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return repr(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain left-aligned text table (numbers right-aligned), no trailing spaces."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    numeric = [
        bool(rows) and all(_is_number(row[index]) for row in rows) for index in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(widths[i]) if numeric[i] else value.ljust(widths[i])
            for i, value in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def age(moment: datetime | None, now: float | None = None) -> str:
    """How long ago `moment` was ("12s ago"), or how far ahead ("in 5m")."""
    if moment is None:
        return "-"
    delta = (now if now is not None else time.time()) - moment.timestamp()
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def duration(seconds: float) -> str:
    """Seconds as a short human span: 4.2s, 3m10s, 2h05m, 3d04h."""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def size(count: float) -> str:
    """Bytes as KiB/MiB/GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f}{unit}" if unit == "B" else f"{count:.1f}{unit}"
        count /= 1024
    raise AssertionError("unreachable")


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def last_error(job: Job) -> str:
    return job.errors[0]["error"] if job.errors else ""


def jobs_table(jobs: Sequence[Job], error_width: int = 60) -> str:
    rows = [
        [
            job.id,
            job.status,
            job.queue,
            job.worker,
            f"{job.attempts}/{job.max_attempts}",
            age(job.updated_at),
            shorten(last_error(job), error_width),
        ]
        for job in jobs
    ]
    headers = ["ID", "STATUS", "QUEUE", "WORKER", "ATTEMPTS", "UPDATED", "LAST ERROR"]
    return table(headers, rows)


def job_detail(job: Job) -> str:
    """Every field of a job, then its errors (newest first) with their stack traces."""
    fields = [
        ("id", job.id),
        ("worker", job.worker),
        ("queue", job.queue),
        ("status", job.status),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("args", _compact(job.args)),
        ("result", _compact(job.result)),
        ("opts", _compact(job.opts)),
        ("inserted_at", f"{_iso(job.inserted_at)} ({age(job.inserted_at)})"),
        ("scheduled_at", f"{_iso(job.scheduled_at)} ({age(job.scheduled_at)})"),
        ("updated_at", f"{_iso(job.updated_at)} ({age(job.updated_at)})"),
    ]
    lines = [f"{name:<13} {value}" for name, value in fields]
    lines.append(f"{'errors':<13} {len(job.errors)}" + (" (newest first)" if job.errors else ""))
    for error in job.errors:
        lines.append(f"  attempt {error['attempt']} at {_iso(error['attempted_at'])}:")
        lines.append(f"    {error['error']}")
        trace = error.get("stack_trace")
        if trace:
            lines.extend("    | " + row for row in trace.rstrip("\n").splitlines())
    return "\n".join(lines)


def _iso(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="milliseconds")


def _compact(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False)


def queues_table(queues: dict[str, Any]) -> str:
    """One row per queue: limit, paused, and the count of every status."""
    rows = []
    for name, info in sorted(queues.items()):
        counts = info.get("counts", {})
        paused = "yes" if info["paused"] else "no"
        rows.append([name, info["limit"], paused, *(counts.get(s, 0) for s in STATUSES)])
    return table(["QUEUE", "LIMIT", "PAUSED", *(s.upper() for s in STATUSES)], rows)
