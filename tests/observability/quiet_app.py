"""An application that configures no logging: its run must print nothing to stderr.

Usage: python quiet_app.py DATA_DIR RUNS_LOG (with the tests directory on PYTHONPATH).
Runs successes, failures with retries, a job whose worker dies, then stops the tree.
"""

from __future__ import annotations

import sys
import time

from jobs.workers import Crash, Flaky, Record

import antsup


def main(data_dir: str, runs_log: str) -> None:
    with antsup.start(workers=1, data_dir=data_dir, shutdown_grace=5.0):
        expected = {job.id: "completed" for job in Record.perform_many([{"log": runs_log}] * 20)}
        expected[Flaky.perform_async({"log": runs_log}).id] = "failed"
        expected[Crash.perform_async({"log": runs_log, "how": "exit"}).id] = "failed"
        deadline = time.monotonic() + 20
        while any(antsup.get_job(id).status != status for id, status in expected.items()):
            if time.monotonic() > deadline:
                raise SystemExit("jobs did not finish in time")
            time.sleep(0.01)
        print("done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
