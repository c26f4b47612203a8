"""The queue manager's never-blocking channels, on real socket pairs: what a slow reader gets is
complete and in order, a gone reader never raises, bounded channels keep their bound, and
messages arriving in any pieces are put back together."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from antsup.codec import MAX_MESSAGE_BYTES, pack
from antsup.errors import DecodeError
from antsup.processes.channel import Channel
from antsup.processes.poller import Poller
from antsup.processes.wire import recv


@pytest.fixture
def pair() -> Iterator[tuple[Connection, Connection]]:
    ours, theirs = socket.socketpair()
    left, right = Connection(ours.detach()), Connection(theirs.detach())
    yield left, right
    for conn in (left, right):
        if not conn.closed:
            conn.close()


def drain(sender: Channel, reader: Connection, count: int) -> list[object]:
    """Read `count` messages in a thread (the peer's process, in real use) while this thread
    flushes the sender whenever poll says its socket is writable."""
    got: list[object] = []
    thread = threading.Thread(target=lambda: got.extend(recv(reader) for _ in range(count)))
    thread.start()
    poller = Poller()
    deadline = time.monotonic() + 30
    while sender.waiting:
        assert time.monotonic() < deadline, "the sender never finished"
        for ready in poller.poll([], [sender], 1.0)[1]:
            ready.flush()
    thread.join(30)
    assert not thread.is_alive()
    return got


def test_a_reader_that_reads_nothing_never_blocks_the_sender(
    pair: tuple[Connection, Connection],
) -> None:
    left, right = pair
    sender = Channel(left)
    big = ["run", "x" * 3_000_000]  # far more than a socket buffer
    for n in range(5):
        sender.offer([n, *big])  # returns at once although nobody reads
    assert sender.waiting
    got = drain(sender, right, 5)
    assert got == [[n, *big] for n in range(5)]
    assert not sender.waiting
    sender.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=200_000), min_size=1, max_size=12))
def test_messages_arrive_whole_and_in_order(payloads: list[bytes]) -> None:
    ours, theirs = socket.socketpair()
    left, right = Connection(ours.detach()), Connection(theirs.detach())
    sender = Channel(left)
    for n, payload in enumerate(payloads):
        sender.offer([n, payload])
    assert drain(sender, right, len(payloads)) == [[n, p] for n, p in enumerate(payloads)]
    sender.close()
    right.close()


def test_a_gone_reader_closes_the_sender_quietly(pair: tuple[Connection, Connection]) -> None:
    left, right = pair
    sender = Channel(left)
    right.close()
    for _ in range(3):
        sender.offer(["events", "y" * 100_000])  # never raises
    assert sender.closed
    assert not sender.waiting
    sender.close()
    assert left.closed


def test_a_lossy_sender_drops_beyond_its_backlog(pair: tuple[Connection, Connection]) -> None:
    left, right = pair
    sender = Channel(left, backlog=3, lossy=True)
    for n in range(50):
        sender.offer([n, "z" * 200_000])
    assert not sender.closed
    assert sender.dropped > 0
    kept = 50 - sender.dropped
    got = drain(sender, right, kept)
    assert [message[0] for message in got] == sorted(message[0] for message in got)  # type: ignore[index]
    sender.close()


def test_a_strict_sender_gives_up_on_a_peer_that_never_reads(
    pair: tuple[Connection, Connection],
) -> None:
    left, _ = pair
    sender = Channel(left, backlog=3)
    for n in range(50):
        sender.offer([n, "z" * 200_000])
    assert sender.closed  # the owner drops such a client
    sender.close()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.binary(max_size=5000), min_size=1, max_size=8),
    st.lists(st.integers(min_value=1, max_value=7000), min_size=1, max_size=20),
)
def test_messages_cut_anywhere_are_put_back_together(
    payloads: list[bytes], cuts: list[int]
) -> None:
    ours, theirs = socket.socketpair()
    reader = Channel(Connection(ours.detach()))
    stream = b"".join(
        len(packed).to_bytes(4, "big") + packed for packed in (pack([p]) for p in payloads)
    )
    got: list[object] = []
    position = 0
    for cut in [*cuts, len(stream)]:
        piece = stream[position : position + cut]
        position += len(piece)
        if piece:
            theirs.sendall(piece)
            wait_readable(reader)
        got.extend(reader.receive())
    theirs.close()
    assert got == [[p] for p in payloads]
    with pytest.raises(EOFError):
        wait_readable(reader)
        reader.receive()
    reader.close()


def test_a_bad_frame_is_refused_after_the_good_ones_before_it(
    pair: tuple[Connection, Connection],
) -> None:
    left, right = pair
    reader = Channel(left)
    right.send_bytes(pack(["out", [[1, "done", None]]]))  # a real outcome, then garbage
    os.write(right.fileno(), (MAX_MESSAGE_BYTES + 1).to_bytes(4, "big"))
    wait_readable(reader)
    assert reader.receive() == [["out", [[1, "done", None]]]]
    with pytest.raises(DecodeError):
        reader.receive()
    right.send_bytes(pack(["out", []]))  # nothing after the garbage is read any more
    with pytest.raises(DecodeError):
        reader.receive()
    reader.close()


def test_everything_sent_before_a_close_is_delivered_before_eof(
    pair: tuple[Connection, Connection],
) -> None:
    left, right = pair
    reader = Channel(left)
    for n in range(3):
        right.send_bytes(pack(["out", n]))
    right.close()
    wait_readable(reader)
    assert reader.receive() == [["out", 0], ["out", 1], ["out", 2]]
    with pytest.raises(EOFError):
        reader.receive()
    reader.close()


def wait_readable(channel: Channel) -> None:
    assert Poller().wait([channel], 5.0), "nothing arrived"
