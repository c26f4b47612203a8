"""Collect events in a test and wait for them, without sleeping."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from conftest import wait_until
from jobs.workers import Record

import antsup
from antsup import events


class Recorder:
    """An event handler that keeps every (event, data) it is called with, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._seen.append((event, data))

    def of(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """The data of every `event` seen whose fields equal `match`."""
        with self._lock:
            seen = list(self._seen)
        return [d for e, d in seen if e == event and all(d.get(k) == v for k, v in match.items())]

    def wait_for(
        self, event: str, count: int = 1, timeout: float = 5.0, **match: Any
    ) -> list[dict[str, Any]]:
        """The matching events once there are `count` of them (fails after `timeout`)."""

        def enough() -> list[dict[str, Any]]:
            found = self.of(event, **match)
            return found if len(found) >= count else []

        return wait_until(enough, timeout)


def wait_subscribed(recorders: list[Recorder], log: Path) -> None:
    """Run probe jobs until every recorder saw one start: the tree now sends us its events.

    The subscription connects in a background thread, so a job dispatched before the queue
    manager registered it produces no event (see the report: not waited for by antsup).
    """
    probe: list[int] = []

    def everyone_saw_a_probe() -> bool:
        if probe and all(r.of("job:start", id=probe[-1]) for r in recorders):
            return True
        if not probe or antsup.get_job(probe[-1]).status == "completed":
            probe.append(Record.perform_async({"log": str(log)}).id)
        return False

    wait_until(everyone_saw_a_probe, timeout=10)


def attach(handler_id: str, recorder: Recorder) -> Recorder:
    events.attach(handler_id, list(events.EVENTS), recorder)
    return recorder
