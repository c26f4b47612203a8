"""Messages from a worker to the queue manager's Pool, malformed: the worker may be dropped
(treated as gone), but nothing may escape and kill the queue manager. In-process, on a real
pipe, with the real Pool and Machine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from antsup.codec import pack
from antsup.config import Config
from antsup.core import Machine, Retention
from antsup.processes.channel import Channel
from antsup.processes.exits import ExitReports
from antsup.processes.pool import Pool
from reliability.test_fuzz import values


@pytest.fixture
def exits(tmp_path: Path) -> Iterator[ExitReports]:
    reports = ExitReports(str(tmp_path / "exits.sock"))
    yield reports
    reports.close()


def feed(exits: ExitReports, tmp_path: Path, message: list[Any]) -> None:
    """Connect a worker (or send its hello), then send `message` as it would."""
    machine = Machine(queues={"default": 10}, retention=Retention())
    pool = Pool(Config(workers=1, data_dir=str(tmp_path)), machine, exits, _ignore, _ignore)
    ours, theirs = Pipe()
    try:
        if message and message[0] == "hello":
            pool.connect(Channel(ours), message, [], time.time())
            return
        pool.connect(Channel(ours), ["hello", 4242, 4, [], []], [], time.time())
        theirs.send_bytes(pack(message))
        pool.receive(ours, time.time())
    finally:
        ours.close()
        theirs.close()


def _ignore(*args: Any) -> None:
    pass


def test_a_well_formed_unknown_message_is_ignored(exits: ExitReports, tmp_path: Path) -> None:
    feed(exits, tmp_path, ["something-new", 1, 2])
    feed(exits, tmp_path, ["out", []])
    feed(exits, tmp_path, ["draining", [99]])


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(["out", None], id="out-not-a-list"),
        pytest.param(["out", [[1, "done"]]], id="outcome-too-short"),
        pytest.param(["draining", [[]]], id="draining-ids-not-ints"),
        pytest.param(["hello"], id="hello-too-short"),
    ],
)
def test_a_malformed_worker_message_never_escapes(
    exits: ExitReports, tmp_path: Path, message: list[Any]
) -> None:
    feed(exits, tmp_path, message)


def test_fuzz_worker_messages(exits: ExitReports, tmp_path: Path) -> None:
    kinds = st.sampled_from(["out", "draining", "hello"])

    @settings(
        max_examples=100,
        phases=[Phase.generate],  # no shrinking: the cases above already name the shapes
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(kind=kinds, args=st.lists(values, max_size=5))
    def check(kind: str, args: list[Any]) -> None:
        feed(exits, tmp_path, [kind, *args])

    check()
