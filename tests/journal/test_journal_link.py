"""The queue manager's side of the journal bounds its records: a batch too large for one goes
as several, numbered so that the last acknowledgement covers them all."""

from __future__ import annotations

import socket
from multiprocessing.connection import Connection

import pytest

from antsup.codec import pack
from antsup.core import Machine, NewJob, Unique
from antsup.core.columns import CHUNK_BYTES
from antsup.processes import journal_link
from antsup.processes.journal_link import JournalLink
from antsup.processes.wire import recv


def test_a_batch_over_the_record_limit_goes_as_several_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(journal_link, "RECORD_BYTES", 10_000)
    ours, theirs = socket.socketpair()
    link = JournalLink(Connection(ours.detach()))
    writer = Connection(theirs.detach())
    done = ["done", 1.0, [[n, "r" * 1000] for n in range(40)]]  # ~40 KB of results
    start = ["start", 1.0, 7, list(range(100, 140))]
    last = link.append([start, done])
    messages = [recv(writer) for _ in range(last)]
    assert [message[1] for message in messages] == list(range(1, last + 1))
    assert last > 4  # split, and the acknowledgement of `last` covers every piece
    assert all(len(message[2]) <= 10_000 for message in messages)
    pieces = [event for message in messages for event in journal_link.unpack(message[2])]
    assert [event for event in pieces if event[0] == "start"] == [start]
    assert [item for event in pieces if event[0] == "done" for item in event[2]] == done[2]
    assert link.bytes_since_snapshot == sum(len(message[2]) for message in messages)
    writer.close()
    link.conn.close()


def test_a_small_batch_is_one_record() -> None:
    ours, theirs = socket.socketpair()
    link = JournalLink(Connection(ours.detach()))
    writer = Connection(theirs.detach())
    events = [["del", [1, 2, 3]]]
    assert link.append(events) == 1
    assert recv(writer) == ["append", 1, pack(events)]
    writer.close()
    link.conn.close()


def test_a_huge_insert_with_options_fits_the_record_limit() -> None:
    """80,000 jobs sharing 100 backoff delays: a request of about 0.5 MB, but each job's
    journaled record carries its own options (~75 MB in all)."""
    opts = {"timeout": 30.0, "backoff": [float(2 ** min(a, 20)) for a in range(1, 101)]}
    args = [pack([n]) for n in range(80_000)]
    machine = Machine({"default": 10})
    records, events = machine.insert_many(
        NewJob("app.W", "default", b"", 100, None, None, opts), args, 1.0
    )
    assert len(records) == 80_000 and len(events) > 1
    payloads = list(journal_link._records(events))
    assert max(len(payload) for payload in payloads) <= journal_link.RECORD_BYTES
    rebuilt = Machine({"default": 10})
    for payload in payloads:
        for event in journal_link.unpack(payload):
            rebuilt.apply(event)
    assert [job.to_wire() for job in rebuilt.list_jobs()] == [job.to_wire() for job in records]


def test_a_large_insert_of_unique_jobs_is_journaled_in_bounded_events() -> None:
    """Uniqueness takes the one-by-one path; its events are chunked all the same."""
    opts = {"backoff": [float(a) for a in range(100)]}  # ~900 bytes of options per job
    machine = Machine({"default": 10})
    template = NewJob("app.W", "default", b"", 3, None, Unique(), opts)
    records, events = machine.insert_many(template, [pack([n]) for n in range(6000)], 1.0)
    assert len(records) == 6000 and len(events) >= 2
    assert max(len(pack(event)) for event in events) < CHUNK_BYTES + 100_000
    rebuilt = Machine({"default": 10})
    for event in events:
        rebuilt.apply(journal_link.unpack(pack(event)))
    assert [job.to_wire() for job in rebuilt.list_jobs()] == [job.to_wire() for job in records]
