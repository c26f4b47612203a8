"""The root's restart intensity reached: supervisor:intensity, on_escalation, nothing left."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import pid_alive, wait_until
from jobs.conftest import StartTree
from jobs.workers import Record

import antsup
from antsup import events
from antsup.supervisor import EXIT_ESCALATED
from observability.recorder import Recorder, attach

#: The root allows 3 restarts in 5 s (antsup/tree.py build_spec): the 4th crash gives up.
ROOT_MAX_RESTARTS = 3


@pytest.fixture(autouse=True)
def clean_handlers() -> Iterator[None]:
    yield
    for handler_id in events.attached():
        events.detach(handler_id)


def test_killing_the_core_too_often_stops_the_tree_and_says_why(
    start_tree: StartTree, log: Path
) -> None:
    seen = attach("seen", Recorder())
    reasons: list[str] = []
    tree = start_tree(on_escalation=reasons.append)
    pids: set[int] = set()

    def new_core_pid() -> int:
        """The core supervisor's pid once it runs again with a pid not killed yet, else 0."""
        (core,) = [c for c in tree.supervisor.which_children() if c.id == "core"]
        running = core.status == "running" and core.pid not in pids
        return core.pid or 0 if running else 0

    for _ in range(ROOT_MAX_RESTARTS):
        pid = wait_until(new_core_pid)
        pids.add(pid)
        os.kill(pid, signal.SIGKILL)
    last = wait_until(new_core_pid)
    os.kill(last, signal.SIGKILL)

    assert tree.supervisor.wait(timeout=10) == EXIT_ESCALATED
    (event,) = seen.wait_for("supervisor:intensity")
    assert wait_until(lambda: reasons) == [event["reason"]]
    assert "core" in event["reason"], event
    assert not any(pid_alive(pid) for pid in pids | {last})
    tree.stop()  # stopping an escalated tree is harmless and releases the data directory

    start_tree()  # the application can start it again
    job = Record.perform_async({"log": str(log)})
    wait_until(lambda: antsup.get_job(job.id).status == "completed")
