"""Introspection and control calls, down a nested tree, from several threads."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from conftest import pid_alive, wait_until

from antsup.errors import ChildNotFound, SupervisorCallError
from antsup.supervisor import ChildSpec, SupervisorSpec, start
from supervisor.helpers import entry, events

pytestmark = pytest.mark.usefixtures("no_leftover_processes")


def spec(log: Path) -> SupervisorSpec:
    pool = SupervisorSpec(
        [ChildSpec("w", entry("recorder"), args=(str(log),))],
        strategy="simple_one_for_one",
        pool_size=2,
    )
    return SupervisorSpec(
        [ChildSpec("a", entry("recorder"), args=(str(log),)), ChildSpec("pool", pool)]
    )


def test_which_and_count_children(tmp_path: Path) -> None:
    with start(spec(tmp_path / "log"), start_method="fork") as tree:
        top = tree.which_children()
        assert [(c.id, c.type, c.status, c.restarts) for c in top] == [
            ("a", "worker", "running", 0),
            ("pool", "supervisor", "running", 0),
        ]
        assert all(c.pid and c.rss and c.rss > 0 and c.uptime is not None for c in top)
        assert tree.count_children() == {"specs": 2, "active": 2, "supervisors": 1, "workers": 1}
        assert [c.id for c in tree.which_children(("pool",))] == ["w-1", "w-2"]
        with pytest.raises(ChildNotFound):
            tree.which_children(("nope",))
        with pytest.raises(SupervisorCallError):
            tree.which_children(("a",))


def test_terminate_restart_delete_static_child(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(spec(log), start_method="fork") as tree:
        old = tree.which_children()[0].pid
        tree.terminate_child("a")
        assert not pid_alive(old)  # type: ignore[arg-type]
        info = tree.which_children()[0]
        assert (info.status, info.pid) == ("stopped", None)
        with pytest.raises(SupervisorCallError) as refused:
            tree.restart_child("pool")
        assert refused.value.code == "running"
        new = tree.restart_child("a")
        assert new != old and tree.which_children()[0].pid == new
        with pytest.raises(SupervisorCallError):
            tree.delete_child("a")
        tree.terminate_child("a")
        tree.delete_child("a")
        assert [c.id for c in tree.which_children()] == ["pool"]
        with pytest.raises(ChildNotFound):
            tree.terminate_child("a")


def test_start_child_static_and_dynamic(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with start(spec(log), start_method="fork") as tree:
        extra = ChildSpec("extra", entry("recorder"), args=(str(log),))
        assert tree.start_child(extra) == "extra"
        with pytest.raises(SupervisorCallError) as dup:
            tree.start_child(extra)
        assert dup.value.code == "already_started"
        assert tree.start_child(path=("pool",)) == "w-3"
        assert [c.id for c in tree.which_children(("pool",))] == ["w-1", "w-2", "w-3"]
        tree.terminate_child("w-1", path=("pool",))  # a dynamic child is forgotten
        assert [c.id for c in tree.which_children(("pool",))] == ["w-2", "w-3"]
        with pytest.raises(SupervisorCallError):
            tree.restart_child("w-2", path=("pool",))
    assert ("stop", "extra") in events(log)


def test_start_child_appends_args_to_the_template(tmp_path: Path) -> None:
    log = tmp_path / "log"
    pool = SupervisorSpec(
        [ChildSpec("e", entry("exit_once"), args=(str(log),), restart="transient")],
        strategy="simple_one_for_one",
    )
    with start(pool, start_method="fork") as tree:
        tree.start_child([0])  # exits 0 at once: transient, so it is not restarted
        wait_until(lambda: not tree.which_children())
        assert events(log) == [("start", "e-1")]


def test_tree_describes_every_level(tmp_path: Path) -> None:
    with start(spec(tmp_path / "log"), start_method="fork") as tree:
        pool_child = tree.which_children(("pool",))[0]
        os.kill(pool_child.pid, signal.SIGKILL)  # type: ignore[arg-type]
        wait_until(lambda: tree.which_children(("pool",))[0].restarts == 1)
        root = tree.tree()
        assert (root["id"], root["pid"], root["type"]) == ("root", tree.pid, "supervisor")
        pool = root["children"][1]
        assert pool["id"] == "pool" and pool["strategy"] == "simple_one_for_one"
        assert [(c["id"], c["restarts"]) for c in pool["children"]] == [("w-1", 1), ("w-2", 0)]


def test_calls_from_several_threads(tmp_path: Path) -> None:
    with start(spec(tmp_path / "log"), start_method="fork") as tree:
        results: list[int] = []

        def ask() -> None:
            for _ in range(20):
                results.append(len(tree.which_children(("pool",))))

        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [2] * 80


def test_calls_after_stop_are_refused(tmp_path: Path) -> None:
    tree = start(spec(tmp_path / "log"), start_method="fork")
    tree.stop()
    with pytest.raises(SupervisorCallError):
        tree.which_children()
    assert tree.stop() == 0  # idempotent
