"""antsup's side of the suite: each measurement starts its own tree on a fresh directory.

Every function takes a parent directory for its data and returns a dict of figures. Trees are
always stopped (context manager), so a benchmark leaves no process behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

import antsup
from antsup.codec import pack
from antsup.config import Config
from antsup.core import Machine, NewJob
from antsup.journal import Journal, read_journal
from antsup.processes.queue_manager import replay
from benchmarks.jobs import Noop, Stamp

#: Every benchmark tree has the default queue and a "probe" queue for timing jobs.
QUEUES = {"default": 10, "probe": 10}
BATCH = 1000


@contextlib.contextmanager
def tree(data_dir: Path, workers: int = 2, **settings: Any) -> Iterator[antsup.Tree]:
    with antsup.start(
        workers=workers,
        data_dir=data_dir,
        queues=dict(QUEUES),
        modules=["benchmarks.jobs"],
        **settings,
    ) as running:
        yield running


def fresh_dir(parent: Path, name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))


def completed_count() -> int:
    """Costly: stats() also walks the process tree with psutil (~15 ms of the queue manager's
    time), so loops poll `all_completed` instead and call this once at the end."""
    return int(antsup.stats()["totals"].get("completed", 0))


def wait_all_completed(last_id: int, total: int, timeout: float) -> None:
    """Jobs run oldest first: once the last one is completed the others are (or are about to
    be, on the other worker); one stats() call then confirms the total."""
    wait_for(lambda: antsup.get_job(last_id).status == "completed", timeout, interval=0.005)
    wait_for(lambda: completed_count() >= total, timeout)


def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> None:
    """Poll `predicate` until true; a benchmark that cannot finish says so instead of hanging."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark condition not met within {timeout} s")
        time.sleep(interval)


def role_pids(role: str) -> list[int]:
    return [row["pid"] for row in antsup.stats()["processes"] if row["role"] == role]


def enqueue_batches(total: int, batch: int = BATCH) -> int:
    """Enqueue `total` no-op jobs with perform_many; returns the last job's id."""
    last = 0
    for start in range(0, total, batch):
        last = Noop.perform_many([{"n": n} for n in range(start, min(total, start + batch))])[-1].id
    return last


# ---- throughput --------------------------------------------------------------------------


def e2e(parent: Path, jobs: int, workers: int = 2, fsync: str = "interval") -> dict[str, float]:
    """`jobs` no-op jobs enqueued with perform_many (batches of 1,000) until all completed."""
    with tree(fresh_dir(parent, "e2e"), workers=workers, fsync=fsync):
        began = time.perf_counter()
        last = enqueue_batches(jobs)
        enqueued = time.perf_counter()
        wait_all_completed(last, jobs, timeout=max(60.0, jobs / 500))
        finished = time.perf_counter()
    return {
        "jobs_per_s": jobs / (finished - began),
        "enqueue_phase_jobs_per_s": jobs / (enqueued - began),
        "seconds": finished - began,
    }


def enqueue_sequential(parent: Path, jobs: int) -> float:
    """perform_async one by one, each acknowledged (journaled); the queue is paused so the
    figure is the enqueue path alone, not enqueue competing with two busy workers."""
    with tree(fresh_dir(parent, "enqueue")):
        antsup.pause_queue("default")
        began = time.perf_counter()
        for n in range(jobs):
            Noop.perform_async({"n": n})
        return jobs / (time.perf_counter() - began)


def enqueue_bulk(parent: Path, jobs: int) -> float:
    """perform_many in batches of 1,000 into a paused queue."""
    with tree(fresh_dir(parent, "bulk")):
        antsup.pause_queue("default")
        began = time.perf_counter()
        enqueue_batches(jobs)
        return jobs / (time.perf_counter() - began)


# ---- latency and restart -----------------------------------------------------------------


def latency(parent: Path, jobs: int, interval: float = 0.005) -> dict[str, float]:
    """Enqueue single jobs `interval` apart (light load); enqueue call -> perform() start."""
    sent: dict[int, float] = {}
    with tree(fresh_dir(parent, "latency")):
        for _ in range(jobs):
            before = time.time()
            sent[Stamp.perform_async().id] = before
            time.sleep(interval)  # pacing the load, not synchronisation
        wait_all_completed(max(sent), jobs, timeout=60.0)
        done = antsup.list_jobs(worker=Stamp, status="completed")
    delays = sorted((job.result[0] - sent[job.id]) * 1000.0 for job in done)
    return {
        "p50": statistics.median(delays),
        "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))],
        "max": delays[-1],
    }


def restart(parent: Path, kills: int) -> dict[str, float]:
    """One worker (threads=1): SIGKILL it, time until a replacement has run a probe job.

    The probe is enqueued once the replacement process exists (seen with psutil from here, so
    the queue manager is not disturbed): a job sent in the instant between the kill and the
    queue manager seeing the connection close would go to the dead worker and be charged a
    failed attempt with a ~15 s backoff, which measures that race, not the restart. The
    probe's result names the process that ran it.
    """
    timings = []
    with tree(fresh_dir(parent, "restart"), workers=1) as running:
        root = psutil.Process(running.pid)
        pid = run_probe()[1]
        for _ in range(kills):
            known = {child.pid for child in root.children(recursive=True)}
            os.kill(pid, signal.SIGKILL)
            began = time.perf_counter()
            wait_for(lambda k=known: new_children(root, k), 30.0, interval=0.001)
            result = run_probe(poll=0.001)
            timings.append((time.perf_counter() - began) * 1000.0)
            if result[1] == pid:
                raise RuntimeError("the probe ran in the killed worker")
            pid = result[1]
    return {"p50": statistics.median(timings), "max": max(timings), "kills": kills}


def new_children(root: psutil.Process, known: set[int]) -> bool:
    return any(child.pid not in known for child in root.children(recursive=True))


def run_probe(poll: float = 0.005) -> Any:
    job = Stamp.perform_async()
    finished: list[antsup.Job] = []

    def done() -> bool:
        finished[:] = [antsup.get_job(job.id)]
        if finished[0].status in ("failed", "cancelled"):
            raise RuntimeError(f"probe job {finished[0].status}: {finished[0].errors}")
        return finished[0].status == "completed"

    wait_for(done, timeout=30.0, interval=poll)
    return finished[0].result


# ---- replay, restart on a large journal, memory per job -----------------------------------


def replay_and_memory(parent: Path, jobs: int) -> dict[str, float]:
    """Fill a tree with `jobs` live jobs (paused queue), measuring the queue manager's RSS
    growth; stop it (it snapshots), then time a restart until a probe job has run."""
    data_dir = fresh_dir(parent, "replay")
    figures: dict[str, float] = {}
    with tree(data_dir, workers=1):
        antsup.pause_queue("default")
        qm = psutil.Process(role_pids("queue_manager")[0])
        rss_before = qm.memory_info().rss
        began = time.perf_counter()
        enqueue_batches(jobs, batch=10_000)
        figures["fill_jobs_per_s"] = jobs / (time.perf_counter() - began)
        figures["bytes_per_job"] = (qm.memory_info().rss - rss_before) / jobs
        stopping = time.perf_counter()
    figures["stop_s"] = time.perf_counter() - stopping
    journal_dir = data_dir / "journal"
    figures["journal_records"] = sum(1 for _ in read_journal(journal_dir))
    figures["journal_bytes"] = sum(f.stat().st_size for f in journal_dir.iterdir())
    began = time.perf_counter()
    with tree(data_dir, workers=1):
        ready = time.perf_counter()
        run_probe(poll=0.001)
        figures["ready_after_restart_s"] = time.perf_counter() - began
        figures["start_s"] = ready - began
        figures["replay_records_per_s"] = jobs / (ready - began)
        stopping = time.perf_counter()
    figures["second_stop_s"] = time.perf_counter() - stopping
    began = time.perf_counter()
    replay(Machine(QUEUES), Config(data_dir=str(data_dir)))
    figures["replay_fold_jobs_per_s"] = jobs / (time.perf_counter() - began)
    return figures


def retained_e2e(parent: Path, retained: int, jobs: int) -> dict[str, float]:
    """e2e of `jobs` new jobs in a tree that already retains `retained` completed jobs."""
    data_dir = fresh_dir(parent, "retained")
    write_completed_journal(data_dir / "journal", retained)
    began = time.perf_counter()
    with tree(data_dir):
        start_s = time.perf_counter() - began
        began = time.perf_counter()
        last = enqueue_batches(jobs)
        wait_all_completed(last, retained + jobs, timeout=max(60.0, jobs / 500))
        figures = {"jobs_per_s": jobs / (time.perf_counter() - began), "start_s": start_s}
    return figures


def write_completed_journal(journal_dir: Path, count: int) -> None:
    """A journal snapshot holding `count` completed no-op jobs, built with the pure Machine
    (running that many jobs through a tree would take minutes)."""
    machine = Machine({"default": BATCH})
    now = time.time()
    worker = f"{Noop.__module__}.{Noop.__qualname__}"
    for start in range(0, count, BATCH):
        size = min(BATCH, count - start)
        machine.insert(
            [NewJob(worker, "default", pack({"n": start + n})) for n in range(size)], now
        )
        running, _ = machine.dispatch(size, 1, now)
        machine.complete([(job.id, None) for job in running], now)
    with Journal.open(journal_dir, fsync="never") as journal:
        journal.write_snapshot(pack([event]) for event in machine.snapshot())
