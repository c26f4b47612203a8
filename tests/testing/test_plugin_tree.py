"""The pytest plugin's `antsup_tree` fixture: a real tree on a temporary data directory."""

from __future__ import annotations

import pytest
from conftest import pid_alive, wait_until

import antsup
from testing.helper_workers import Echo


@pytest.fixture
def checked_tree(no_leftover_processes: None, antsup_tree: antsup.Tree) -> antsup.Tree:
    return antsup_tree  # no_leftover_processes is set up first, so it checks after the tree stops


def test_antsup_tree_runs_jobs_in_real_workers(checked_tree: antsup.Tree) -> None:
    assert pid_alive(checked_tree.pid)
    assert checked_tree.config.workers == 1
    job = Echo.perform_async({"real": True})
    wait_until(lambda: antsup.get_job(job.id).status == "completed", 10)
    assert antsup.get_job(job.id).result == {"echo": {"real": True}, "attempt": 1}
