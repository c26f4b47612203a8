"""Profile the e2e path with py-spy attached to every process of a running tree.

antsup itself is not touched: py-spy samples the queue manager, persistence and worker
processes from outside while the e2e benchmark runs, writes collapsed stacks (`raw` format,
one file per process) and a summary of where each process spent its time.

Run: .venv/bin/python -m benchmarks.profile [jobs] [out_dir] [prefetch]   (needs the bench extra)
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import antsup
from benchmarks.antsup_bench import enqueue_batches, fresh_dir, tree, wait_all_completed

ROLES = ("queue_manager", "persistence", "worker")
RATE = 250  # samples per second
SPY_ARGS = ("record", "--rate", str(RATE), "--format", "raw", "--nonblocking")
#: Leaf frames that mean "blocked, waiting for input", not working.
WAITING = ("select (selectors.py)", "poll (", "wait (threading.py)")


def profile_e2e(
    parent: Path, out: Path, jobs: int, workers: int = 2, **settings: Any
) -> dict[str, str]:
    """Returns {process name: summary text}; writes <name>.txt (collapsed stacks) in `out`.

    `settings` go to antsup.start (e.g. prefetch=8, to see what limits a pipelined tree)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out.mkdir(parents=True, exist_ok=True)
    with tree(fresh_dir(parent, "profile"), workers=workers, **settings):
        names = _process_names()
        recorders = {
            name: subprocess.Popen(
                [spy, *SPY_ARGS, "--pid", str(pid), "--output", str(out / f"{name}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for name, pid in names.items()
        }
        time.sleep(1.0)  # py-spy needs a moment to attach; nothing to wait on from here
        began = time.perf_counter()
        last = enqueue_batches(jobs)
        wait_all_completed(last, jobs, timeout=max(60.0, jobs / 500))
        elapsed = time.perf_counter() - began
        for recorder in recorders.values():
            recorder.send_signal(signal.SIGINT)
        for name, recorder in recorders.items():
            _, err = recorder.communicate(timeout=30)
            if recorder.returncode not in (0, -signal.SIGINT):
                raise RuntimeError(f"py-spy on {name} failed: {err.decode()[-500:]}")
    summaries = {"e2e": f"{jobs} jobs in {elapsed:.2f} s under py-spy: {jobs / elapsed:,.0f}/s"}
    for name in names:
        summaries[name] = summarise(out / f"{name}.txt")
    return summaries


def _process_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for row in antsup.stats()["processes"]:
        if row["role"] in ROLES:
            count = sum(1 for name in names if name.startswith(row["role"]))
            names[f"{row['role']}{count or ''}"] = row["pid"]
    return names


def summarise(collapsed: Path, top: int = 25) -> str:
    """Where a process worked: self and inclusive share of its non-waiting samples.

    py-spy drops most idle samples, but a process blocked in select() often still shows;
    those are counted apart as waiting. Frames present in (nearly) every working sample
    (process bootstrap, the main loop) are left out of the inclusive list.
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = waiting = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [_short(frame) for frame in stack.split(";") if not frame.startswith("process ")]
        if not frames:
            continue
        count = int(count_text)
        samples += count
        if any(mark in frames[-1] for mark in WAITING):
            waiting += count
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    working = max(1, samples - waiting)
    lines = [
        f"{collapsed.stem}: {samples} samples at {RATE}/s, {waiting} waiting in select/poll, "
        f"{working} working ({working / RATE:.1f} s)",
        "  self%  incl%  (shares of the working samples)",
    ]
    for frame, count in own.most_common(top):
        lines.append(
            f"  {100 * count / working:5.1f}  {100 * total[frame] / working:5.1f}  {frame}"
        )
    lines.append("  top inclusive, below the main loop:")
    loop = max(total.values(), default=0)
    shown = [(frame, count) for frame, count in total.most_common() if count < 0.97 * loop]
    for frame, count in shown[:top]:
        lines.append(f"  {'':5}  {100 * count / working:5.1f}  {frame}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`func (path/to/antsup/processes/worker.py:123)` -> `func (processes/worker.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("antsup", "site-packages", "python3.11"):
        if anchor in parts:
            path = "/".join(parts[parts.index(anchor) + 1 :])
            break
    return f"{name} ({path})"


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench-profile")
    prefetch = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    parent = Path(tempfile.mkdtemp(prefix="antsup-profile-"))
    try:
        for name, summary in profile_e2e(parent, out, jobs, prefetch=prefetch).items():
            print(f"== {name}\n{summary}\n")
    finally:
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
