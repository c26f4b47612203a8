"""Start in order, stop in reverse; shutdown budgets; start failures leave nothing running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from conftest import pid_alive, wait_until

from antsup.errors import SupervisorStartError
from antsup.supervisor import EXIT_OK, ChildSpec, SupervisorSpec, start
from supervisor.helpers import entry, events, rows

pytestmark = pytest.mark.usefixtures("no_leftover_processes")


def recorders(log: Path, ids: str = "abc") -> list[ChildSpec]:
    # wait_ready: the supervisor starts the next child only after this one logged its start,
    # so the log shows the supervisor's start order (without it, children race to the file).
    return [ChildSpec(i, entry("ready_recorder"), args=(str(log),), wait_ready=True) for i in ids]


def test_children_start_in_order_and_stop_in_reverse(tmp_path: Path) -> None:
    log = tmp_path / "log"
    tree = start(SupervisorSpec(recorders(log)), start_method="fork")
    wait_until(lambda: len(events(log)) == 3)  # started = entry point resolved, not initialised
    assert events(log) == [("start", "a"), ("start", "b"), ("start", "c")]
    assert tree.stop() == EXIT_OK
    assert events(log)[3:] == [("stop", "c"), ("stop", "b"), ("stop", "a")]


def test_nested_tree_stops_depth_first_in_reverse(tmp_path: Path) -> None:
    log = tmp_path / "log"
    inner = SupervisorSpec(recorders(log, "xy"))
    spec = SupervisorSpec([*recorders(log, "a"), ChildSpec("inner", inner), *recorders(log, "z")])
    with start(spec, start_method="fork"):
        wait_until(lambda: len(events(log)) == 4)
        assert [i for _, i in events(log)] == ["a", "x", "y", "z"]
    assert events(log)[4:] == [("stop", "z"), ("stop", "y"), ("stop", "x"), ("stop", "a")]


def test_sigterm_to_the_root_is_an_orderly_shutdown(tmp_path: Path) -> None:
    log = tmp_path / "log"
    tree = start(SupervisorSpec(recorders(log)), start_method="spawn")
    wait_until(lambda: len(events(log)) == 3)
    os.kill(tree.pid, signal.SIGTERM)
    assert tree.wait(10) == EXIT_OK
    assert events(log)[3:] == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    tree.stop()


def test_a_child_ignoring_sigterm_is_killed_after_its_budget(tmp_path: Path) -> None:
    log = tmp_path / "log"
    stubborn = ChildSpec("stubborn", entry("ignore_term"), args=(str(log),), shutdown=0.3)
    tree = start(SupervisorSpec([*recorders(log, "a"), stubborn]), start_method="fork")
    wait_until(lambda: len(events(log)) == 2)
    pid = next(pid for _, i, pid in rows(log) if i == "stubborn")
    began = time.monotonic()
    tree.stop()
    took = time.monotonic() - began
    assert 0.3 <= took < 3.0
    assert not pid_alive(pid)
    assert events(log)[-1] == ("stop", "a")  # the others still got their orderly stop


def test_brutal_kill_does_not_wait(tmp_path: Path) -> None:
    log = tmp_path / "log"
    stubborn = ChildSpec("stubborn", entry("ignore_term"), args=(str(log),), shutdown="brutal_kill")
    tree = start(SupervisorSpec([stubborn]), start_method="fork")
    wait_until(lambda: events(log))
    began = time.monotonic()
    tree.stop()
    assert time.monotonic() - began < 2.0


def test_start_failure_stops_the_started_children_and_says_why(tmp_path: Path) -> None:
    log = tmp_path / "log"
    spec = SupervisorSpec([*recorders(log, "a"), ChildSpec("b", entry("no_such_function"))])
    with pytest.raises(SupervisorStartError, match=r"'b'.*no_such_function"):
        start(spec, start_method="fork")
    assert events(log) in ([("start", "a"), ("stop", "a")], [])  # a may die before recording
    assert not any(pid_alive(pid) for _, _, pid in rows(log))


def test_nested_start_failure_reports_the_reason_chain(tmp_path: Path) -> None:
    log = tmp_path / "log"
    pool = SupervisorSpec(
        [ChildSpec("w", entry("crash_in_init"), wait_ready=True)],
        strategy="simple_one_for_one",
        pool_size=2,
    )
    spec = SupervisorSpec([*recorders(log, "a"), ChildSpec("pool", pool), *recorders(log, "z")])
    with pytest.raises(SupervisorStartError) as info:
        start(spec, start_method="fork")
    message = str(info.value)
    assert "'pool'" in message and "'w-1'" in message and "cannot open the database" in message
    assert ("start", "z") not in events(log)  # z was never started
    assert not any(pid_alive(pid) for _, _, pid in rows(log))


def test_wait_ready_child_that_never_gets_ready_times_out(tmp_path: Path) -> None:
    log = tmp_path / "log"
    slow = ChildSpec(
        "slow", entry("never_ready"), args=(str(log),), wait_ready=True, start_timeout=0.3
    )
    with pytest.raises(SupervisorStartError, match=r"not up within 0\.3s"):
        start(SupervisorSpec([slow]), start_method="fork")
    assert not any(pid_alive(pid) for _, _, pid in rows(log))


def test_wait_ready_child_is_running_once_start_returns(tmp_path: Path) -> None:
    log = tmp_path / "log"
    spec = SupervisorSpec([ChildSpec("r", entry("ready_recorder"), args=(str(log),),
                                     wait_ready=True)])  # fmt: skip
    with start(spec, start_method="fork") as tree:
        assert events(log) == [("start", "r")]
        assert tree.which_children()[0].status == "running"


def test_a_running_tree_reports_its_exit_only_after_it_is_gone(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(SupervisorSpec(recorders(log, "a")), start_method="fork") as tree:
        assert tree.wait(0.05) is None and tree.exitcode is None
    assert tree.exitcode == EXIT_OK
    wait_until(lambda: not pid_alive(tree.pid))
