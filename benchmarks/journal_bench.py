"""Micro-benchmark of the journal: appends/s (batches of 100 ~100-byte payloads, fsync
"interval") and read_journal records/s over 1,000,000 records.

Run: .venv/bin/python benchmarks/journal_bench.py [records] [directory]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from antsup.codec import pack
from antsup.journal import Journal, read_journal

BATCH = 100


def bench_append(directory: Path, records: int) -> float:
    batch = [
        pack([i, "enqueue", {"email": f"user{i}@example.com", "n": "x" * 61}]) for i in range(BATCH)
    ]
    journal = Journal.open(directory, fsync="interval")
    clock = time.monotonic
    started = clock()
    for _ in range(records // BATCH):
        journal.append(batch)
        if journal.sync_due(clock()):
            journal.sync()
    journal.close()
    return records / (clock() - started)


def bench_read(directory: Path) -> tuple[int, float]:
    started = time.monotonic()
    count = sum(1 for _ in read_journal(directory))
    return count, count / (time.monotonic() - started)


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    parent = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    directory = Path(tempfile.mkdtemp(prefix="journal-bench-", dir=parent))
    try:
        size = len(pack([0, "enqueue", {"email": "user0@example.com", "n": "x" * 61}]))
        appends = bench_append(directory, records)
        print(
            f"append: {appends:,.0f} records/s (batches of {BATCH}, ~{size}-byte payloads, "
            "fsync=interval)"
        )
        count, reads = bench_read(directory)
        print(f"read_journal: {reads:,.0f} records/s over {count:,} records")
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
