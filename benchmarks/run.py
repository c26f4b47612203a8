"""antsup's benchmark suite, side by side with Huey: prints a table, writes bench-results.json.

Run: make bench   or   .venv/bin/python -m benchmarks.run [--quick | --full | --smoke]

Sizes per mode (jobs unless said otherwise); the default run takes about 4-5 minutes on a
2-core machine, --full about twice that, --quick about a minute, --smoke a few seconds:

    figure                 smoke   quick    default   full
    e2e, e2e fsync=always  300     20k      100k      100k
    workers 1/2/4 (e2e)    200     10k      30k       100k
    retained 10k/100k/1M   1k      10k,100k all 3, 30k new jobs each (100k in full)
    enqueue (sequential)   100     2k       5k        10k
    bulk enqueue           2k      50k      100k      300k
    latency (single jobs)  20      200      500       1k
    restart (kills)        2       10       20        50
    replay / bytes per job 2k      100k     1M        1M
    huey e2e               100     5k       20k       100k
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from benchmarks import antsup_bench as bench
from benchmarks import huey_bench

SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(
        e2e=300, scale=200, workers=(1, 2), retained=(1000,), retained_jobs=200, enqueue=100,
        bulk=2000, latency=20, kills=2, replay=2000, huey=100,
    ),
    "quick": dict(
        e2e=20_000, scale=10_000, workers=(1, 2, 4), retained=(10_000, 100_000),
        retained_jobs=10_000, enqueue=2000, bulk=50_000, latency=200, kills=10, replay=100_000,
        huey=5000,
    ),
    "default": dict(
        e2e=100_000, scale=30_000, workers=(1, 2, 4), retained=(10_000, 100_000, 1_000_000),
        retained_jobs=30_000, enqueue=5000, bulk=100_000, latency=500, kills=20,
        replay=1_000_000, huey=20_000,
    ),
    "full": dict(
        e2e=100_000, scale=100_000, workers=(1, 2, 4), retained=(10_000, 100_000, 1_000_000),
        retained_jobs=100_000, enqueue=10_000, bulk=300_000, latency=1000, kills=50,
        replay=1_000_000, huey=100_000,
    ),
}  # fmt: skip

#: key -> (target, True if higher is better), from issue 5.
TARGETS: dict[str, tuple[float, bool]] = {
    "e2e_jobs_per_s": (50_000, True),
    "e2e_always_jobs_per_s": (30_000, True),
    "enqueue_jobs_per_s": (10_000, True),
    "bulk_enqueue_jobs_per_s": (300_000, True),
    "huey_e2e_jobs_per_s": (0, True),
    "vs_huey": (20, True),
    "latency_ms_p50": (2, False),
    "latency_ms_p99": (0, False),
    "replay_records_per_s": (500_000, True),
    "ready_after_restart_s": (3, False),
    "restart_ms_p50": (50, False),
    "bytes_per_job": (500, False),
}


def run_suite(mode: str, parent: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every benchmark of `mode`, each on its own tree; returns the results document."""
    size = SIZES[mode]
    results: dict[str, Any] = {"mode": mode, "sizes": size, "machine": machine()}
    details: dict[str, Any] = {}
    began = time.perf_counter()

    def step(name: str, measure: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = measure()
        details[name] = value
        log(f"  {name}: {_short(value)}  ({time.perf_counter() - started:.1f} s)")
        return value

    e2e = step("e2e", lambda: bench.e2e(parent, size["e2e"]))
    always = step("e2e_always", lambda: bench.e2e(parent, size["e2e"], fsync="always"))
    results["e2e_jobs_per_s"] = e2e["jobs_per_s"]
    results["e2e_always_jobs_per_s"] = always["jobs_per_s"]
    results["enqueue_jobs_per_s"] = step(
        "enqueue", lambda: bench.enqueue_sequential(parent, size["enqueue"])
    )
    results["bulk_enqueue_jobs_per_s"] = step(
        "bulk_enqueue", lambda: bench.enqueue_bulk(parent, size["bulk"])
    )
    huey = None
    if huey_bench.available():
        huey = step("huey_e2e", lambda: huey_bench.e2e(parent, size["huey"]))["jobs_per_s"]
    results["huey_e2e_jobs_per_s"] = huey
    results["vs_huey"] = None if huey is None else results["e2e_jobs_per_s"] / huey
    latency = step("latency", lambda: bench.latency(parent, size["latency"]))
    results["latency_ms_p50"], results["latency_ms_p99"] = latency["p50"], latency["p99"]
    replay = step("replay", lambda: bench.replay_and_memory(parent, size["replay"]))
    results["replay_records_per_s"] = replay["replay_records_per_s"]
    results["ready_after_restart_s"] = replay["ready_after_restart_s"]
    results["bytes_per_job"] = replay["bytes_per_job"]
    results["restart_ms_p50"] = step("restart", lambda: bench.restart(parent, size["kills"]))["p50"]
    workers: dict[str, dict[str, float]] = {}
    for n in size["workers"]:
        workers[str(n)] = step(f"workers_{n}", partial(bench.e2e, parent, size["scale"], n))
    retained: dict[str, dict[str, float]] = {}
    for n in size["retained"]:
        retained[str(n)] = step(
            f"retained_{n}", partial(bench.retained_e2e, parent, n, size["retained_jobs"])
        )
    results["scaling"] = {
        "e2e_jobs_per_s_by_workers": {n: r["jobs_per_s"] for n, r in workers.items()},
        "e2e_jobs_per_s_by_retained_jobs": {n: r["jobs_per_s"] for n, r in retained.items()},
    }
    results["details"] = details
    results["seconds"] = time.perf_counter() - began
    results["leftover_processes"] = leftovers()
    return results


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def leftovers() -> list[int]:
    """Processes this run left below itself (multiprocessing's resource tracker excepted)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(proc.cmdline()):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def table(results: dict[str, Any]) -> str:
    rows = [("figure", "value", "target", "")]
    for key, (target, higher) in TARGETS.items():
        value = results.get(key)
        verdict = ""
        if value is not None and target:
            verdict = "ok" if (value >= target if higher else value <= target) else "MISS"
        shown_target = "" if not target else f"{'>=' if higher else '<='} {_num(target)}"
        rows.append((key, _num(value), shown_target, verdict))
    scaling = results["scaling"]
    for n, value in scaling["e2e_jobs_per_s_by_workers"].items():
        rows.append((f"e2e_jobs_per_s, {n} workers", _num(value), "", ""))
    for n, value in scaling["e2e_jobs_per_s_by_retained_jobs"].items():
        rows.append((f"e2e_jobs_per_s, {int(n):,} retained", _num(value), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"| {row[0]:<{widths[0]}} | {row[1]:>{widths[1]}} | {row[2]:<{widths[2]}} | "
        f"{row[3]:<{widths[3]}} |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_num(v)}" for k, v in value.items())
    return _num(value)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    for mode in ("quick", "full", "smoke"):
        group.add_argument(f"--{mode}", action="store_const", const=mode, dest="mode")
    parser.add_argument("--out", default="bench-results.json", help="where to write the JSON")
    parser.add_argument("--tmp", default=None, help="parent of the data directories")
    args = parser.parse_args(argv)
    mode = args.mode or "default"
    parent = Path(tempfile.mkdtemp(prefix="antsup-bench-", dir=args.tmp))
    print(f"antsup benchmarks ({mode}), data under {parent}")
    try:
        results = run_suite(mode, parent)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(results))
    print(f"\n{results['seconds']:.0f} s; results in {args.out}")
    if results["leftover_processes"]:
        print(f"WARNING: processes left behind: {results['leftover_processes']}")
    return results


if __name__ == "__main__":
    main()
