"""Events dispatch (pure) and log forwarding between real processes."""

from __future__ import annotations

import logging
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_until

from antsup import events
from antsup.logs import LogReceiver, forward_logs
from observability.test_tree_logs import Collect


@pytest.fixture(autouse=True)
def clean_handlers() -> Any:
    yield
    for handler_id in events.attached():
        events.detach(handler_id)


def test_handlers_get_the_events_they_asked_for() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    events.attach("t", ["job:success"], lambda event, data: seen.append((event, data)))
    events.emit("job:success", {"id": 1})
    events.emit("job:failure", {"id": 2})
    assert seen == [("job:success", {"id": 1})]
    assert events.wanted() == {"job:success"}


def test_a_handler_that_raises_is_logged_and_detached(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def broken(event: str, data: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    events.attach("broken", ["job:start"], broken)
    events.attach("fine", ["job:start"], lambda event, data: calls.append(data["id"]))
    with caplog.at_level(logging.ERROR, logger="antsup.events"):
        events.emit("job:start", {"id": 7})
        events.emit("job:start", {"id": 8})
    assert calls == [7, 8]
    assert events.attached() == ["fine"]
    assert "handler bug" in caplog.text


def test_unknown_events_and_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown events"):
        events.attach("x", ["job:exploded"], lambda event, data: None)
    events.attach("x", ["job:start"], lambda event, data: None)
    with pytest.raises(ValueError, match="already attached"):
        events.attach("x", ["job:start"], lambda event, data: None)


def _child_logs(address: str) -> None:
    forward_logs(address, "worker", logging.INFO)
    logging.getLogger("myapp.jobs").info("sent %d mails", 3)
    logging.getLogger("myapp.jobs").debug("not forwarded: below the level")
    try:
        raise ValueError("bad lead")
    except ValueError:
        logging.getLogger("antsup.worker").exception("job failed")


def test_records_of_a_child_process_reach_the_application(
    tmp_path: Path, no_leftover_processes: None
) -> None:
    address = str(tmp_path / "log.sock")
    receiver = LogReceiver(address)
    collect = Collect()
    logging.getLogger().addHandler(collect)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        child = multiprocessing.get_context("spawn").Process(target=_child_logs, args=(address,))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        wait_until(lambda: len(collect.records) >= 2, timeout=5)
    finally:
        logging.getLogger().removeHandler(collect)
        logging.getLogger().setLevel(old_level)
        receiver.stop()
    info, error = collect.records
    assert (info.name, info.getMessage(), info.process) == ("myapp.jobs", "sent 3 mails", child.pid)
    assert getattr(info, "antsup_role", None) == "worker"
    assert error.levelno == logging.ERROR and "ValueError: bad lead" in (error.exc_text or "")
