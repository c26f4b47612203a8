"""No orphans, ever: SIGKILL of the root or of the application leaves nothing alive after 2 s,
grandchildren that workers forked included; adopted orphans are killed and reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import descendants, pid_alive, wait_until

from antsup.supervisor import ChildSpec, SupervisorSpec, start
from supervisor.helpers import entry, rows

pytestmark = pytest.mark.usefixtures("no_leftover_processes")
TESTS_DIR = str(Path(__file__).resolve().parent.parent)


def grandchildren(log: Path) -> list[int]:
    return [pid for event, _, pid in rows(log) if event == "grandchild"]


def tree_spec(log: Path, method: str = "fork") -> SupervisorSpec:
    pool = SupervisorSpec(
        [ChildSpec("w", entry("with_grandchild"), args=(str(log),))],
        strategy="simple_one_for_one",
        pool_size=2,
        start_method=method,  # type: ignore[arg-type]
    )
    return SupervisorSpec(
        [ChildSpec("solo", entry("with_grandchild"), args=(str(log),)), ChildSpec("pool", pool)],
        start_method=method,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_sigkill_of_the_root_leaves_nothing_alive(tmp_path: Path, method: str) -> None:
    log = tmp_path / "log"
    tree = start(tree_spec(log, method), start_method="fork")
    wait_until(lambda: len(grandchildren(log)) == 3)
    tree_pids = [p.pid for p in psutil.Process(tree.pid).children(recursive=True)]
    assert set(grandchildren(log)) <= set(tree_pids)
    os.kill(tree.pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in tree_pids), timeout=2.0)
    assert tree.wait(5) == -signal.SIGKILL
    tree.stop()


def test_sigkill_of_the_application_leaves_nothing_alive(tmp_path: Path) -> None:
    log = tmp_path / "log"
    code = f"from supervisor.helpers import app_main; app_main({str(log)!r})"
    env = {**os.environ, "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
    app = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        assert app.stdout is not None
        assert app.stdout.readline().split()[0] == b"ready"
        wait_until(lambda: len(grandchildren(log)) == 3)
        tree_pids = [p.pid for p in descendants() if p.pid != app.pid]
        assert set(grandchildren(log)) <= set(tree_pids) and len(tree_pids) >= 8
        app.kill()
        app.wait()
        wait_until(lambda: not any(pid_alive(p) for p in tree_pids), timeout=2.0)
    finally:
        app.kill()
        app.wait()
        app.stdout.close()  # type: ignore[union-attr]
        app.stdin.close()  # type: ignore[union-attr]


def test_a_dead_childs_grandchildren_die_with_it(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(tree_spec(log), start_method="fork") as tree:
        wait_until(lambda: len(grandchildren(log)) == 3)
        solo = next(c for c in tree.which_children() if c.id == "solo")
        first_grandchild = next(pid for e, i, pid in rows(log) if e == "grandchild" and i == "solo")
        os.kill(solo.pid, signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: not pid_alive(first_grandchild), timeout=2.0)


def test_orphans_adopted_by_the_root_are_killed_and_reaped(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(tree_spec(log), start_method="fork") as tree:
        wait_until(lambda: len(grandchildren(log)) == 3)
        pool_pid = next(c.pid for c in tree.which_children() if c.id == "pool")
        pool_grandchildren = [pid for e, i, pid in rows(log) if e == "grandchild" and i != "solo"]
        os.kill(pool_pid, signal.SIGKILL)  # type: ignore[arg-type]
        # Its workers die by PDEATHSIG; their `sleep` children are adopted by the root (subreaper).
        wait_until(lambda: not any(pid_alive(p) for p in pool_grandchildren), timeout=2.0)
        wait_until(lambda: len(grandchildren(log)) == 5)  # the pool came back with new workers
        root = psutil.Process(tree.pid)
        wait_until(lambda: psutil.STATUS_ZOMBIE not in [c.status() for c in root.children()])


def test_a_killed_guardian_is_replaced_and_still_guards(tmp_path: Path) -> None:
    log = tmp_path / "log"
    tree = start(tree_spec(log), start_method="fork")
    wait_until(lambda: len(grandchildren(log)) == 3)

    def guardians() -> set[int]:
        ours = {c.pid for c in tree.which_children()}
        return {p.pid for p in psutil.Process(tree.pid).children() if p.pid not in ours}

    (first,) = wait_until(guardians)
    os.kill(first, signal.SIGKILL)
    (second,) = wait_until(lambda: (g := guardians()) and first not in g and g)
    tree_pids = [p.pid for p in psutil.Process(tree.pid).children(recursive=True)]
    assert second in tree_pids
    os.kill(tree.pid, signal.SIGKILL)
    wait_until(lambda: not any(pid_alive(p) for p in tree_pids), timeout=2.0)
    tree.stop()
