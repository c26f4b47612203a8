"""The control socket: private files, authkey required, and no client can stall the queue
manager (a wrong key, garbage before or after the handshake, a silent connection)."""

from __future__ import annotations

import os
import socket
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client as connect
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until
from jobs.conftest import StartTree
from jobs.workers import Record

import antsup
from antsup.client import Client


def answers_within(call: Callable[[], Any], seconds: float = 3.0) -> bool:
    """Whether `call` returns within `seconds` (run in a thread of its own, on its own
    connection, so a stalled queue manager shows as a timeout rather than a hung test)."""
    done = threading.Event()

    def run() -> None:
        try:
            call()
        except Exception:  # the tree stopped under a call that was stalled: not answered
            return
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def other_client_works(tree: antsup.Tree, log: Path) -> bool:
    client = Client(tree.config.address, tree.client.authkey)

    def call() -> None:
        assert client.call("ping") == "pong"
        job = Record.perform_async({"log": str(log)})
        wait_until(lambda: client.get_job(job.id).status == "completed")

    try:
        return answers_within(call)
    finally:
        client.close()


def test_socket_run_dir_and_authkey_are_private(start_tree: StartTree) -> None:
    tree = start_tree()
    run_dir = Path(tree.config.run_dir)
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tree.config.address).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tree.config.persistence_address).st_mode) == 0o600
    assert stat.S_IMODE((tree.config.data_path / "authkey").stat().st_mode) == 0o600


def test_a_wrong_authkey_is_refused_and_others_are_served(start_tree: StartTree, log: Path) -> None:
    tree = start_tree()
    with pytest.raises(AuthenticationError):
        connect(tree.config.address, family="AF_UNIX", authkey=b"not the key")
    assert other_client_works(tree, log)


@pytest.fixture
def raw_sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def raw_connect(tree: antsup.Tree, opened: list[socket.socket]) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(tree.config.address)
    opened.append(sock)
    return sock


@pytest.mark.parametrize(
    "garbage",
    [b"", bytes(range(256)) * 2, struct.pack("!i", 0x7FFFFFFF), struct.pack("!i", -1) + b"\0" * 8],
    ids=["silent", "random", "huge-length", "negative-length"],
)
def test_garbage_before_the_handshake_never_blocks_the_queue_manager(
    start_tree: StartTree, log: Path, raw_sockets: list[socket.socket], garbage: bytes
) -> None:
    tree = start_tree()
    for _ in range(3):  # several hanging clients at once
        raw_connect(tree, raw_sockets).sendall(garbage)
    assert other_client_works(tree, log)


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(struct.pack("!i", 0x7FFFFFFF), id="huge-length"),
        pytest.param(struct.pack("!i", 8) + b"\xc1" * 8, id="not-msgpack"),
        pytest.param(struct.pack("!i", 3) + b"\x93\x01\x02", id="truncated-msgpack"),
        pytest.param(
            struct.pack("!i", 100) + b"\x93",
            id="truncated-then-silent",
        ),
    ],
)
def test_garbage_after_the_handshake_never_blocks_the_queue_manager(
    start_tree: StartTree, log: Path, garbage: bytes
) -> None:
    tree = start_tree()
    conn = connect(tree.config.address, family="AF_UNIX", authkey=tree.client.authkey)
    try:
        os.write(conn.fileno(), garbage)
        assert other_client_works(tree, log)
    finally:
        conn.close()  # unblocks a stalled queue manager so the tree can stop
    assert other_client_works(tree, log)
