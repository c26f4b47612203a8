"""A worker deep in a long job reads nothing from its socket; jobs with large args sent to it
fill that socket. The queue manager must go on serving everyone else meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import wait_until
from jobs.conftest import StartTree
from jobs.workers import Record

import antsup
from antsup.client import Client
from reliability.rel_workers import Gate, starts


def test_a_busy_worker_with_a_full_socket_never_stalls_the_queue_manager(
    start_tree: StartTree, log: Path, tmp_path: Path
) -> None:
    tree = start_tree(workers=1)
    release, started = tmp_path / "release", tmp_path / "started"
    gate = Gate.perform_async({"started": str(started), "release": str(release), "log": str(log)})
    wait_until(lambda: starts(started, gate.id))
    # 900 KB each, far more than a socket buffer: the queue manager sends the worker one
    # ahead of time, and that send cannot complete until the worker reads, after the gate.
    big = Record.perform_many([{"log": str(log), "pad": "x" * 900_000} for _ in range(3)])
    client = Client(tree.client.address, tree.client.authkey, timeout=5.0)
    for _ in range(20):  # a stalled queue manager would leave these unanswered (ConnectionLost)
        began = time.monotonic()
        assert client.call("ping") == "pong"
        assert antsup.get_job(big[0].id).status in ("enqueued", "running")
        assert time.monotonic() - began < 5.0
    release.touch()
    wait_until(lambda: all(antsup.get_job(j.id).status == "completed" for j in [gate, *big]), 30)
    client.close()
