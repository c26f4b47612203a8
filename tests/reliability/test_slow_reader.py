"""A worker deep in a long job reads nothing from its socket; jobs with large args sent to it
fill that socket. The queue manager must go on serving everyone else meanwhile."""

from __future__ import annotations

import contextlib
import time
from multiprocessing import connection
from pathlib import Path

from conftest import wait_until
from jobs.conftest import StartTree
from jobs.workers import Record

import antsup
from antsup.client import Client
from antsup.codec import pack
from antsup.processes.queue_manager import CLIENT_BACKLOG
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


def test_a_client_that_never_reads_its_replies_is_dropped_and_others_are_served(
    start_tree: StartTree,
) -> None:
    tree = start_tree(workers=1)
    greedy = connection.Client(tree.client.address, family="AF_UNIX", authkey=tree.client.authkey)
    ping = pack(["ping"])
    with contextlib.suppress(ConnectionError):  # dropped while still sending: fine too
        for _ in range(CLIENT_BACKLOG * 3):  # far more replies than a socket buffer holds
            greedy.send_bytes(ping)
    client = Client(tree.client.address, tree.client.authkey, timeout=5.0)
    assert client.call("ping") == "pong"

    def dropped() -> bool:  # read what was sent before the queue manager gave up, then EOF
        try:
            while greedy.poll(0):
                greedy.recv_bytes()
        except (EOFError, ConnectionError):
            return True
        return False

    wait_until(dropped, 30)
    assert client.call("ping") == "pong"
    client.close()
    greedy.close()
