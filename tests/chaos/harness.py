"""The test's side of the chaos run: the application subprocess, a client that outlives kills,
and the enqueuer thread that streams jobs while processes die around it.

Nothing here synchronises with a sleep: waits are conditions with deadlines (`wait_until`), and
the short sleeps in `patient` are the polling interval of such a wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
from conftest import wait_until

import antsup
from antsup.client import Client
from antsup.config import read_authkey
from chaos.chaos_workers import ChaosJob

T = TypeVar("T")
#: Seconds each job takes: enough that workers are busy when kills land, not enough to crawl.
JOB_SLEEP = 0.003

TESTS_DIR = Path(__file__).resolve().parent.parent
#: What a caller sees while the queue manager (or the whole tree) is being killed or restarted.
TRANSIENT = (antsup.ConnectionLost, antsup.NotRunning, EOFError, OSError)


def patient(call: Callable[[], T], timeout: float = 30.0) -> T:
    """`call()`, retried through restarts until it returns; the last error at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except TRANSIENT:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def connect(data_dir: Path) -> Client:
    """A client built from the data directory's files, as any other process would build one."""
    address = (data_dir / "address").read_text().strip()
    return Client(address, read_authkey(data_dir))


class AppProcess:
    """One run of `chaos.app` on a data directory: its pid, its root supervisor, its session."""

    def __init__(self, data_dir: Path, workers: int, run_dir: Path, number: int) -> None:
        self.ready_file = run_dir / f"app-{number}.ready"
        self.log_path = run_dir / f"app-{number}.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), *sys.path])}
        with open(self.log_path, "wb") as log:
            command = ["-m", "chaos.app", str(data_dir), str(self.ready_file), str(workers)]
            self.proc = subprocess.Popen(
                [sys.executable, *command],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self.root_pid = 0

    def wait_ready(self, timeout: float = 60.0) -> int:
        """Wait for the tree to be up; returns the root supervisor's pid (its session id)."""

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"chaos app exited early:\n{self.log_text()}")
            return self.ready_file.exists()

        wait_until(ready, timeout=timeout)
        self.root_pid = int(self.ready_file.read_text())
        return self.root_pid

    def stop(self, timeout: float = 30.0) -> int:
        """Clean stop: close stdin, the app stops its tree and exits (a hang is killed: fails)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree(root_first=True)
            raise AssertionError(f"the chaos app did not stop within {timeout}s") from None

    def kill_tree(self, root_first: bool) -> None:
        """SIGKILL the application and its root supervisor (the guardian sweeps the rest)."""
        victims = [self.root_pid, self.proc.pid]
        for pid in victims if root_first else reversed(victims):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)
        if self.proc.stdin is not None:
            self.proc.stdin.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def session_members(sessions: set[int]) -> list[psutil.Process]:
    """Every process (zombies included) still in one of these sessions."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) in sessions:
                found.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


class Enqueuer(threading.Thread):
    """Streams `total` jobs in batches (perform_many-style inserts), paced over `seconds`.

    A batch whose insert raised is not acknowledged (it may or may not have been applied) and is
    sent again; only ids from inserts that returned count as acknowledged.
    """

    def __init__(self, data_dir: Path, log: Path, total: int, seconds: float, batch: int) -> None:
        super().__init__(name="chaos-enqueuer", daemon=True)
        self.data_dir = data_dir
        self.log = log
        self.total = total
        self.seconds = seconds
        self.batch = batch
        self.acknowledged: list[int] = []
        self.unacknowledged_attempts = 0
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self._stream()
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.error = exc
        finally:
            self.done.set()

    def _stream(self) -> None:
        client = connect(self.data_dir)
        started = time.monotonic()
        sent = 0
        while sent < self.total:
            size = min(self.batch, self.total - sent)
            args = [{"log": str(self.log), "n": sent + i, "sleep": JOB_SLEEP} for i in range(size)]
            jobs = self._insert(client, args)
            self.acknowledged += [job.id for job in jobs]
            sent += size
            ahead = started + self.seconds * sent / self.total - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # the load pattern: spread the stream over the run

    def _insert(self, client: Client, args: list[dict[str, Any]]) -> list[antsup.Job]:
        deadline = time.monotonic() + 60.0
        while True:
            try:
                return client.insert(ChaosJob, args, None, {})
            except TRANSIENT:
                self.unacknowledged_attempts += 1
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.02)
