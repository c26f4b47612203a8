"""`make demo`: the seed's scenario end to end, 400,000 leads, with progress and a summary.

python -m examples.leads [--leads N] [--workers N]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import antsup
from examples.leads.app import ANTSUP
from examples.leads.enqueue import enqueue_leads
from examples.leads.generate import generate_leads
from examples.leads.workers import SendPromotionWorker

STATUSES = ("enqueued", "scheduled", "running", "retrying", "completed", "failed", "cancelled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=400_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", default="antsup_data/leads-demo")
    options = parser.parse_args()

    started = time.monotonic()
    leads = Path("leads.txt")
    generate_leads(leads, options.leads)
    print(f"1. generated {leads} with {options.leads:,} leads")
    shutil.rmtree(options.data_dir, ignore_errors=True)  # a fresh run every time
    with antsup.start(workers=options.workers, data_dir=options.data_dir, **ANTSUP) as tree:
        print(f"   tree started: root supervisor pid {tree.pid}, {options.workers} workers")
        count = enqueue_leads(leads)
        print(f"2-4. enqueued {count:,} SendPromotionWorker jobs in {elapsed(started)}")
        wait_for_the_end(count, started)
        summary()
    print(f"done in {elapsed(started)}")


def wait_for_the_end(count: int, started: float) -> None:
    """Print progress once a second until every job is completed or failed."""
    while True:
        stats = antsup.stats()
        totals = stats["totals"]
        done = totals.get("completed", 0) + totals.get("failed", 0)
        cells = "  ".join(f"{s} {totals.get(s, 0):>7,}" for s in STATUSES[:6])
        rate = stats["jobs_per_second"]
        print(f"   [{elapsed(started)}] {cells}  ({rate:,.0f} jobs/s)", flush=True)
        if done >= count:
            return
        time.sleep(1.0)  # a progress display, not synchronisation


def summary() -> None:
    totals = antsup.stats()["totals"]
    print("\nJobs per status")
    for status in STATUSES:
        print(f"  {status:<10} {totals.get(status, 0):>9,}")
    failed = antsup.list_jobs(status="failed", worker=SendPromotionWorker, limit=1)
    if failed:
        job = failed[0]
        print(f"\nA failed job (as Ant.Workers.get_worker({job.id}) would show it):")
        print(f"  id={job.id} worker={job.worker} queue={job.queue} args={job.args}")
        print(f"  status={job.status} attempts={job.attempts}/{job.max_attempts}")
        for error in job.errors:
            print(f"  - attempt {error['attempt']} at {error['attempted_at']:%H:%M:%S}: ", end="")
            print(f"{error['error']}" + (" (with stack trace)" if error["stack_trace"] else ""))


def elapsed(since: float) -> str:
    seconds = time.monotonic() - since
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


if __name__ == "__main__":
    main()
