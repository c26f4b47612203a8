"""A tiny run of the benchmark suite: it works end to end and writes every key. Not speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

KEYS = (
    "e2e_jobs_per_s",
    "e2e_always_jobs_per_s",
    "enqueue_jobs_per_s",
    "bulk_enqueue_jobs_per_s",
    "huey_e2e_jobs_per_s",
    "vs_huey",
    "latency_ms_p50",
    "latency_ms_p99",
    "replay_records_per_s",
    "ready_after_restart_s",
    "restart_ms_p50",
    "bytes_per_job",
)


@pytest.mark.timeout(90)
def test_smoke_run_writes_every_figure(tmp_path: Path, no_leftover_processes: None) -> None:
    out = tmp_path / "bench-results.json"
    command = [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)]
    done = subprocess.run(
        [*command, "--tmp", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=80
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    for key in KEYS:
        assert key in results
        if key not in ("huey_e2e_jobs_per_s", "vs_huey"):  # Huey is a bench-only extra
            assert results[key] > 0, key
    scaling = results["scaling"]
    assert set(scaling["e2e_jobs_per_s_by_workers"]) == {"1", "2"}
    assert set(scaling["e2e_jobs_per_s_by_retained_jobs"]) == {"1000"}
    assert results["leftover_processes"] == []
    assert "| e2e_jobs_per_s" in done.stdout
    assert list(tmp_path.iterdir()) == [out]  # every data directory was removed
