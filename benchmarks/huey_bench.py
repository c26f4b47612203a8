"""Huey's side of the comparison: SqliteHuey, its consumer with 2 process workers, no-op job.

The consumer runs as its own process (`huey_consumer -k process -w 2`, default polling), the
benchmark process enqueues, and completion is counted in Huey's result store.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def available() -> bool:
    return importlib.util.find_spec("huey") is not None


def e2e(parent: Path, jobs: int, workers: int = 2) -> dict[str, float]:
    """`jobs` no-op tasks enqueued one by one (Huey has no bulk enqueue) until all ran."""
    db = Path(tempfile.mkdtemp(prefix="huey-", dir=parent)) / "huey.db"
    os.environ["ANTSUP_BENCH_HUEY_DB"] = str(db)
    import benchmarks.huey_app as app

    app = importlib.reload(app)  # a fresh SqliteHuey on this run's database
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "huey.bin.huey_consumer", "benchmarks.huey_app.huey"]
    consumer = subprocess.Popen(
        [*command, "-w", str(workers), "-k", "process", "-q"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        app.noop()  # warm-up: the consumer is up once this has run
        _wait(lambda: app.huey.result_count() >= 1, 30.0, consumer)
        began = time.perf_counter()
        for _ in range(jobs):
            app.noop()
        enqueued = time.perf_counter()
        _wait(lambda: app.huey.result_count() >= jobs + 1, max(60.0, jobs / 200), consumer)
        finished = time.perf_counter()
    finally:
        _stop(consumer)
    return {
        "jobs_per_s": jobs / (finished - began),
        "enqueue_phase_jobs_per_s": jobs / (enqueued - began),
        "seconds": finished - began,
    }


def _wait(predicate: Any, timeout: float, consumer: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if consumer.poll() is not None:
            raise RuntimeError(f"the huey consumer exited with {consumer.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"huey did not finish within {timeout} s")
        time.sleep(0.02)


def _stop(consumer: subprocess.Popen[bytes]) -> None:
    """SIGINT is Huey's graceful stop: it stops and reaps its worker processes."""
    consumer.send_signal(signal.SIGINT)
    try:
        consumer.wait(30.0)
    except subprocess.TimeoutExpired:
        consumer.kill()
        consumer.wait()
