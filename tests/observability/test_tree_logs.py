"""Log records of the tree's processes reach the application's logging, and only there."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_until
from jobs.conftest import StartTree
from jobs.workers import Crash

import antsup
from observability.obs_workers import Chatty

HERE = Path(__file__).parent


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def named(self, prefix: str) -> list[logging.LogRecord]:
        return [r for r in list(self.records) if r.name.startswith(prefix)]


@pytest.fixture
def collect() -> Iterator[Collect]:
    """A handler on the application's root logger, as an application would configure."""
    handler = Collect()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def test_a_jobs_log_record_reaches_the_application(start_tree: StartTree, collect: Collect) -> None:
    start_tree()
    job = Chatty.perform_async({"to": "lead@example.com"})
    wait_until(lambda: antsup.get_job(job.id).status == "completed")
    worker_pid = antsup.get_job(job.id).result
    (record,) = wait_until(lambda: collect.named("myapp"))
    assert record.name == "myapp.mailer" and record.levelno == logging.WARNING
    assert record.getMessage() == "sent 3 mails to lead@example.com"
    assert record.process == worker_pid != os.getpid()
    assert getattr(record, "antsup_role", None) == "worker"
    assert record.funcName == "perform" and record.pathname.endswith("obs_workers.py")


def test_a_worker_crash_is_logged_by_the_queue_manager(
    start_tree: StartTree, collect: Collect, log: Path
) -> None:
    start_tree()
    crash = Crash.perform_async({"log": str(log), "how": "exit"})
    wait_until(lambda: antsup.get_job(crash.id).status == "failed")
    records = wait_until(lambda: collect.named("antsup."), timeout=1)
    assert any(getattr(r, "antsup_role", None) == "queue_manager" for r in records)
    assert any("exit code 3" in r.getMessage() for r in records)


def test_nothing_is_printed_when_the_application_configured_no_logging(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE.parent.parent)])}
    run = subprocess.run(
        [sys.executable, str(HERE / "quiet_app.py"), str(tmp_path / "data"), str(tmp_path / "log")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "done\n"
    assert run.stderr == ""
