"""The chaos suite (issue 4): SIGKILL random processes of a loaded tree, then check the books.

A tree runs in its own application process (`chaos.app`) while this test streams jobs into it
through a client built from the data directory, and SIGKILLs workers, the queue manager, the
persistence process, the pool supervisor and twice the whole tree (application and root),
restarting the application on the same data directory. Then every acknowledged job must have
finished, no job may have run more often than its attempts allow, no process may be left, and a
fresh replay of the journal must agree with what the queue manager reported.

Size and randomness come from the environment (`make chaos` runs the long form):
CHAOS_JOBS (default 3000), CHAOS_SECONDS of kills (default 12), CHAOS_SEED (default random,
printed), CHAOS_WORKERS (default 2), CHAOS_TREE_KILLS (default 2).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import wait_until

import antsup
from antsup.client import Client
from antsup.config import Config
from antsup.core import Machine, Retention
from antsup.processes.queue_manager import replay
from chaos.chaos_workers import executions
from chaos.harness import AppProcess, Enqueuer, connect, patient, session_members
from chaos.monkey import Monkey
from chaos.verdict import judge

UNFINISHED = ("enqueued", "scheduled", "running", "retrying")
RETRY_RACES = (antsup.InvalidTransition, antsup.ConnectionLost, antsup.NotRunning)


@dataclass(frozen=True)
class Settings:
    jobs: int
    seconds: float
    seed: int
    workers: int
    tree_kills: int

    @classmethod
    def from_env(cls) -> Settings:
        seed = os.environ.get("CHAOS_SEED")
        return cls(
            jobs=int(os.environ.get("CHAOS_JOBS", "3000")),
            seconds=float(os.environ.get("CHAOS_SECONDS", "12")),
            seed=int(seed) if seed else random.SystemRandom().randrange(2**32),
            workers=int(os.environ.get("CHAOS_WORKERS", "2")),
            tree_kills=int(os.environ.get("CHAOS_TREE_KILLS", "2")),
        )

    @property
    def timeout(self) -> float:
        """Seconds the whole test may take: the kills, then settling, replay and checks."""
        return 120.0 + 2 * self.seconds + self.jobs / 200


SETTINGS = Settings.from_env()


class Run:
    """One chaos run: the current application, every session it ever had, the kill tally."""

    def __init__(self, tmp_path: Path, settings: Settings) -> None:
        self.tmp_path = tmp_path
        self.settings = settings
        self.data_dir = tmp_path / "data"
        self.apps: list[AppProcess] = []
        self.sessions: set[int] = set()
        self.rng = random.Random(settings.seed)
        self.monkey = Monkey(self.rng)

    @property
    def app(self) -> AppProcess:
        return self.apps[-1]

    def start_app(self) -> None:
        app = AppProcess(self.data_dir, self.settings.workers, self.tmp_path, len(self.apps))
        self.apps.append(app)
        self.sessions.add(app.wait_ready())

    def kill_whole_tree(self) -> None:
        """SIGKILL the application and its root, wait for the session to empty, start again."""
        old = self.app
        old.kill_tree(root_first=self.rng.random() < 0.5)
        self.monkey.record("application", old.proc.pid)
        self.monkey.record("root_supervisor", old.root_pid)
        wait_until(lambda: not session_members({old.root_pid}), timeout=15)
        self.start_app()

    def unleash(self, client: Client, enqueuer: Enqueuer) -> None:
        """Random kills until the kill period is over and every job was sent."""
        seconds = self.settings.seconds
        tree_kill_at = [
            seconds * (i + 1) / (self.settings.tree_kills + 0.3)
            for i in range(self.settings.tree_kills)
        ]
        started = time.monotonic()
        while time.monotonic() - started < seconds or not enqueuer.done.is_set():
            if enqueuer.error is not None:
                return
            if tree_kill_at and time.monotonic() - started >= tree_kill_at[0]:
                tree_kill_at.pop(0)
                self.kill_whole_tree()
            else:
                self.monkey.kill_random(client)
            time.sleep(self.rng.uniform(0.2, 0.8))  # the load pattern, not synchronisation
        assert not tree_kill_at, "the run ended before every whole-tree kill"

    def settle(self, client: Client) -> bool:
        """True once no job is left unfinished (a crashed attempt retries after the worker's
        own backoff, 0 here, so nothing needs hurrying)."""
        totals = patient(client.stats)["totals"]
        return not any(totals.get(status) for status in UNFINISHED)


@pytest.mark.timeout(SETTINGS.timeout)
def test_chaos(tmp_path: Path, no_leftover_processes: None) -> None:
    settings = SETTINGS
    print(f"\nchaos: seed {settings.seed} (CHAOS_SEED={settings.seed} to replay), {settings}")
    run = Run(tmp_path, settings)
    side_file = tmp_path / "executions.log"
    began = time.monotonic()
    run.start_app()
    try:
        _run_and_check(run, side_file, began)
    except BaseException:
        _post_mortem(run)
        raise


def _run_and_check(run: Run, side_file: Path, began: float) -> None:
    settings = run.settings
    try:
        client = connect(run.data_dir)
        enqueuer = Enqueuer(run.data_dir, side_file, settings.jobs, settings.seconds * 0.9, 50)
        enqueuer.start()
        run.unleash(client, enqueuer)
        enqueuer.done.wait(60)
        if enqueuer.error is not None:
            raise AssertionError(f"enqueueing failed: {enqueuer.error!r}")
        kills_over = time.monotonic()
        wait_until(lambda: run.settle(client), timeout=60 + settings.jobs / 500, interval=0.2)
        settled = time.monotonic()
        final = {job.id: job for job in patient(client.list_jobs)}
        client.close()
    finally:
        code = run.app.stop()
    assert code == 0, f"the chaos app did not stop cleanly:\n{run.app.log_text()}"

    orphans = _orphans(run.sessions)
    replayed = _replay(run.data_dir)
    verdict = judge(enqueuer.acknowledged, final, executions(side_file), replayed)

    kills = ", ".join(f"{role} {n}" for role, n in sorted(run.monkey.kills.items()))
    print(f"chaos: kills by role: {kills}")
    print(
        f"chaos: {len(final)} jobs known ({len(enqueuer.acknowledged)} acknowledged, "
        f"{enqueuer.unacknowledged_attempts} inserts lost to kills and resent), "
        f"{verdict.failed_jobs} failed after max attempts, "
        f"{verdict.retried_executions} re-executions after crashes"
    )
    print(
        f"chaos: {kills_over - began:.1f} s of kills, settled in {settled - kills_over:.1f} s, "
        f"{len(run.apps)} application starts"
    )
    for problem in verdict.problems[:20]:
        print(f"chaos: PROBLEM {problem}")
    print(
        f"chaos: {verdict.jobs} jobs, {run.monkey.total} kills, {len(verdict.lost)} lost, "
        f"{len(verdict.over_attempts)} over-attempts, {len(orphans)} orphans"
    )
    assert not orphans, f"processes left in the tree's sessions: {orphans}"
    assert not verdict.problems, verdict.problems[:20]


def _post_mortem(run: Run) -> None:
    """What a failed run needs to be understood: the seed, the kills, the applications' logs."""
    print(f"chaos: FAILED with seed {run.settings.seed}; kills (s, role, pid):")
    for at, role, pid in run.monkey.timeline:
        print(f"  {at:7.2f} {role} {pid}")
    for app in run.apps:
        print(f"chaos: --- {app.log_path.name} (last 60 lines) ---")
        print("\n".join(app.log_text().splitlines()[-60:]))


def _orphans(sessions: set[int]) -> list[str]:
    """Processes (alive or zombie) still in any session the tree ever had, after a deadline."""
    try:
        wait_until(lambda: not session_members(sessions), timeout=10)
        return []
    except AssertionError:
        left = []
        for proc in session_members(sessions):
            try:
                left.append(f"{proc.pid} {proc.status()} {proc.cmdline()}")
                proc.kill()
            except Exception:
                left.append(str(proc.pid))
        return left


def _replay(data_dir: Path) -> Machine:
    """The state a fresh queue manager would rebuild from the journal alone."""
    config = Config(data_dir=str(data_dir), workers=1)
    machine = Machine(queues=config.queues, retention=Retention(**config.retention))
    replay(machine, config)
    return machine
