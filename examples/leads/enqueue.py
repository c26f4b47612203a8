"""Enqueue one SendPromotionWorker job per line of leads.txt into a running tree."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from examples.leads.generate import generate_leads
from examples.leads.workers import SendPromotionWorker

BATCH = 2_000


def batches(path: Path) -> Iterator[list[dict[str, str]]]:
    with path.open() as lines:
        while chunk := list(islice(lines, BATCH)):
            yield [{"email": line.strip()} for line in chunk]


def enqueue_leads(path: Path) -> int:
    """One job per lead, sent in batches (perform_many: one request, one journal commit each)."""
    count = 0
    for batch in batches(path):
        count += len(SendPromotionWorker.perform_many(batch))
    return count


if __name__ == "__main__":
    leads = Path(sys.argv[1] if len(sys.argv) > 1 else "leads.txt")
    if not leads.exists():
        generate_leads(leads)
    print(f"enqueued {enqueue_leads(leads)} jobs")
