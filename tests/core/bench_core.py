"""Measure the pure machine: jobs/s through insert -> dispatch -> complete, bytes per job.

Run: .venv/bin/python -m tests.core.bench_core   (not collected by pytest: no test_ prefix)
Throughput is the best of several runs, since other processes share the machine.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

from antsup.codec import pack, unpack
from antsup.core import Machine, NewJob

BATCH = 100


def _batch(start: int, count: int) -> list[NewJob]:
    return [
        NewJob("app.Mailer", "default", pack({"email": f"jane.smith{n}@yahoo.com"}))
        for n in range(start, start + count)
    ]


def throughput(total: int = 200_000, prebuilt: bool = True) -> float:
    """Jobs per second through the full happy path, in batches of BATCH."""
    machine = Machine({"default": 1000})
    batches = [_batch(n, BATCH) for n in range(0, total, BATCH)] if prebuilt else []
    now = 1000.0
    began = time.perf_counter()
    for index in range(total // BATCH):
        jobs = batches[index] if prebuilt else _batch(index * BATCH, BATCH)
        machine.insert(jobs, now)
        started, _ = machine.dispatch(BATCH, 42, now)
        machine.complete([(job.id, None) for job in started], now)
        now += 0.001
    return total / (time.perf_counter() - began)


def replay_rate(total: int = 200_000) -> float:
    """Jobs per second rebuilt by applying the happy path's events (after a msgpack trip)."""
    machine = Machine({"default": 1000})
    events = []
    now = 1000.0
    for start in range(0, total, BATCH):
        events += machine.insert(_batch(start, BATCH), now)[1]
        started, more = machine.dispatch(BATCH, 42, now)
        events += more + machine.complete([(job.id, None) for job in started], now)
    decoded = [unpack(pack(event)) for event in events]
    rebuilt = Machine({"default": 1000})
    began = time.perf_counter()
    for event in decoded:
        rebuilt.apply(event)
    return total / (time.perf_counter() - began)


def bytes_per_job(count: int = 100_000, finish: bool = True) -> float:
    """Traced memory the machine holds per retained job (completed, or still enqueued)."""
    gc.collect()
    tracemalloc.start()
    machine = Machine({"default": count})
    before = tracemalloc.get_traced_memory()[0]
    now = 1000.0
    for start in range(0, count, BATCH):
        machine.insert(_batch(start, BATCH), now)
        if finish:
            started, _ = machine.dispatch(BATCH, 42, now)
            machine.complete([(job.id, None) for job in started], now)
        now += 0.001
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / count


def main() -> None:
    best = max(throughput() for _ in range(5))
    best_with_newjob = max(throughput(prebuilt=False) for _ in range(3))
    print(f"insert -> dispatch -> complete: {best:,.0f} jobs/s (NewJobs prebuilt)")
    print(f"same, building the NewJobs too: {best_with_newjob:,.0f} jobs/s")
    print(f"replay of those events: {max(replay_rate() for _ in range(3)):,.0f} jobs/s")
    print(f"memory per completed job at 100k: {bytes_per_job(finish=True):.0f} bytes")
    print(f"memory per enqueued job at 100k: {bytes_per_job(finish=False):.0f} bytes")


if __name__ == "__main__":
    main()
