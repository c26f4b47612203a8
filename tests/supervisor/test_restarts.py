"""Real processes: each strategy restarts exactly the children OTP would, in order; restart
types; restart intensity and escalation, one level at a time."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
from conftest import pid_alive, wait_until

from antsup.supervisor import EXIT_ESCALATED, ChildSpec, SupervisorSpec, start
from supervisor.helpers import entry, events

pytestmark = pytest.mark.usefixtures("no_leftover_processes")


def abc(log: Path, strategy: str, method: str = "fork") -> SupervisorSpec:
    return SupervisorSpec(
        [ChildSpec(i, entry("ready_recorder"), args=(str(log),), wait_ready=True) for i in "abc"],
        strategy=strategy,  # type: ignore[arg-type]
        start_method=method,  # type: ignore[arg-type]
    )


def pids(tree: object, path: tuple[str, ...] = ()) -> dict[str, int | None]:
    return {c.id: c.pid for c in tree.which_children(path)}  # type: ignore[attr-defined]


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_one_for_one_restarts_only_the_killed_child(tmp_path: Path, method: str) -> None:
    log = tmp_path / "log"
    with start(abc(log, "one_for_one", method), start_method="fork") as tree:
        wait_until(lambda: len(events(log)) == 3)  # every child is initialised
        before = pids(tree)
        os.kill(before["b"], signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: len(events(log)) == 4)
        after = pids(tree)
        assert events(log)[3] == ("start", "b")
        assert after["a"] == before["a"] and after["c"] == before["c"]
        assert after["b"] not in (None, before["b"])
        assert [c.restarts for c in tree.which_children()] == [0, 1, 0]


def test_one_for_all_stops_the_others_in_reverse_then_starts_all_in_order(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(abc(log, "one_for_all"), start_method="fork") as tree:
        wait_until(lambda: len(events(log)) == 3)  # every child is initialised
        os.kill(pids(tree)["b"], signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: len(events(log)) == 8)
        assert events(log)[3:] == [
            ("stop", "c"),
            ("stop", "a"),
            ("start", "a"),
            ("start", "b"),
            ("start", "c"),
        ]
        assert [c.restarts for c in tree.which_children()] == [1, 1, 1]


def test_rest_for_one_restarts_the_child_and_those_started_after_it(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(abc(log, "rest_for_one"), start_method="fork") as tree:
        wait_until(lambda: len(events(log)) == 3)  # every child is initialised
        before = pids(tree)
        os.kill(before["b"], signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: len(events(log)) == 6)
        assert events(log)[3:] == [("stop", "c"), ("start", "b"), ("start", "c")]
        assert pids(tree)["a"] == before["a"]


def test_simple_one_for_one_restarts_only_the_dead_pool_member(tmp_path: Path) -> None:
    log = tmp_path / "log"
    template = ChildSpec("w", entry("recorder"), args=(str(log),))
    spec = SupervisorSpec([template], strategy="simple_one_for_one", pool_size=3)
    with start(spec, start_method="fork") as tree:
        wait_until(lambda: len(events(log)) == 3)  # every child is initialised
        before = pids(tree)
        assert list(before) == ["w-1", "w-2", "w-3"]
        os.kill(before["w-2"], signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: len(events(log)) == 4)
        after = pids(tree)
        assert events(log)[3] == ("start", "w-2")
        assert after["w-1"] == before["w-1"] and after["w-3"] == before["w-3"]


def test_restart_types(tmp_path: Path) -> None:
    log = tmp_path / "log"
    spec = SupervisorSpec(
        [
            ChildSpec("normal", entry("exit_once"), args=(str(log), 0), restart="transient"),
            ChildSpec("crash", entry("exit_once"), args=(str(log), 3), restart="transient"),
            ChildSpec("temp", entry("recorder"), args=(str(log),), restart="temporary"),
            ChildSpec("perm", entry("exit_once"), args=(str(log), 0)),
        ],
        max_restarts=10,
    )
    with start(spec, start_method="fork") as tree:
        wait_until(lambda: ("start", "temp") in events(log))
        os.kill(pids(tree)["temp"], signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: "temp" not in pids(tree))
        got = wait_until(
            lambda: (
                (c := {i.id: i for i in tree.which_children()})
                and c["crash"].status == "running"
                and c["perm"].status == "running"
                and c
            )
        )
        assert got["normal"].status == "stopped" and got["normal"].pid is None  # exit 0 stays down
        assert got["crash"].restarts == 1  # transient crash restarts
        assert got["perm"].restarts == 1  # permanent restarts even after exit 0
        started = [i for e, i in events(log) if e == "start"]
        assert started.count("normal") == 1 and started.count("temp") == 1


def test_intensity_exceeded_escalates_to_the_application(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "log"
    reasons: list[str] = []
    spec = SupervisorSpec(
        [
            ChildSpec("steady", entry("recorder"), args=(str(log),)),
            ChildSpec("flappy", entry("exiter"), args=(str(log), 3)),
        ],
        max_restarts=2,
        max_seconds=30,
    )
    with caplog.at_level(logging.ERROR, logger="antsup.supervisor"):
        tree = start(spec, on_escalation=reasons.append, start_method="fork")
        assert tree.wait(10) == EXIT_ESCALATED
        tree.stop()
    assert [i for e, i in events(log) if e == "start"].count("flappy") == 3  # 1 + max_restarts
    assert events(log)[-1] == ("stop", "steady")  # the tree was stopped, not abandoned
    assert len(reasons) == 1 and "flappy" in reasons[0] and "exit code 3" in reasons[0]
    assert any("flappy" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_nested_supervisors_escalate_one_level_at_a_time(tmp_path: Path) -> None:
    log = tmp_path / "log"
    reasons: list[str] = []
    mid = SupervisorSpec([ChildSpec("leaf", entry("exiter"), args=(str(log), 5))], max_restarts=0)
    spec = SupervisorSpec(
        [ChildSpec("other", entry("recorder"), args=(str(log),)), ChildSpec("mid", mid)],
        max_restarts=1,
        max_seconds=30,
    )
    tree = start(spec, on_escalation=reasons.append, start_method="fork")
    assert tree.wait(10) == EXIT_ESCALATED
    tree.stop()
    started = [i for e, i in events(log) if e == "start"]
    assert started.count("leaf") == 2  # mid gave up at once, root restarted mid once
    assert started.count("other") == 1  # one_for_one: the sibling was never restarted
    assert "'mid'" in reasons[0] and "'leaf'" in reasons[0]


def test_a_killed_child_is_reaped_no_zombies(tmp_path: Path) -> None:
    import psutil

    log = tmp_path / "log"
    with start(abc(log, "one_for_one"), start_method="fork") as tree:
        for _ in range(3):
            victim = pids(tree)["a"]
            os.kill(victim, signal.SIGKILL)  # type: ignore[arg-type]
            wait_until(lambda v=victim: pids(tree)["a"] not in (None, v))
            assert not pid_alive(victim)  # type: ignore[arg-type]
        statuses = [p.status() for p in psutil.Process(tree.pid).children()]
        assert psutil.STATUS_ZOMBIE not in statuses
