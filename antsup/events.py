"""Subscribe to what happens in the tree, in the spirit of Oban's telemetry events.

    antsup.events.attach("metrics", ["job:success", "job:failure"], handle)

    def handle(event: str, data: dict) -> None: ...

Events: `job:start` (id, worker, queue, attempt, queued_for), `job:success` and `job:failure`
(id, worker, queue, attempt, duration, queued_for; failures add error), `job:retry` (id, worker,
queue, attempt, retry_at), `child:crash` and
`child:restart` (supervisor, id, role, pid; a crash adds exit) for every process of the tree, and
`supervisor:intensity` (reason).
Handlers run in a background thread of the application process. A handler that raises is
logged and detached: it never breaks the tree or the other handlers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("antsup.events")

Handler = Callable[[str, dict[str, Any]], None]

EVENTS = (
    "job:start",
    "job:success",
    "job:failure",
    "job:retry",
    "child:crash",
    "child:restart",
    "supervisor:intensity",
)

_lock = threading.Lock()
_handlers: dict[str, tuple[frozenset[str], Handler]] = {}


#: Seconds `antsup.start` / `attach` wait for the queue manager to confirm a subscription.
SUBSCRIBE_TIMEOUT = 5.0
_source: Callable[[], Any] | None = None
_subscription: Subscription | None = None


def set_source(connect: Callable[[], Any] | None) -> None:
    """Where events come from: set by `antsup.start` (a connection to its queue manager)."""
    global _source, _subscription
    with _lock:
        _source = connect
        old, _subscription = _subscription, None
        new = None
        if connect is not None and _handlers:
            _subscription = new = Subscription(connect)
    if old is not None:
        old.stop()
    if new is not None:
        new.ready.wait(SUBSCRIBE_TIMEOUT)  # so events of the very first jobs are not missed


def attach(handler_id: str, events: Iterable[str], handler: Handler) -> None:
    """Call `handler(event, data)` for each of `events`; `handler_id` must be new."""
    global _subscription
    wanted = frozenset(events)
    unknown = wanted - set(EVENTS)
    if unknown:
        raise ValueError(f"unknown events {sorted(unknown)}; known: {list(EVENTS)}")
    with _lock:
        if handler_id in _handlers:
            raise ValueError(f"a handler with id {handler_id!r} is already attached")
        _handlers[handler_id] = (wanted, handler)
        new = None
        if _source is not None and _subscription is None:
            _subscription = new = Subscription(_source)
    if new is not None:
        new.ready.wait(SUBSCRIBE_TIMEOUT)


def detach(handler_id: str) -> bool:
    """Remove a handler; False if there was none with that id."""
    with _lock:
        return _handlers.pop(handler_id, None) is not None


def attached() -> list[str]:
    with _lock:
        return list(_handlers)


def wanted() -> frozenset[str]:
    """Every event some handler listens to (the tree sends only those)."""
    with _lock:
        return frozenset().union(*(events for events, _ in _handlers.values()))


def emit(event: str, data: dict[str, Any]) -> None:
    """Deliver one event to its handlers; a handler that raises is logged and detached."""
    with _lock:
        targets = [(hid, h) for hid, (events, h) in _handlers.items() if event in events]
    for handler_id, handler in targets:
        try:
            handler(event, data)
        except Exception:
            log.exception("event handler %r raised on %s: detached", handler_id, event)
            detach(handler_id)


class Subscription:
    """A thread of the application that receives the tree's events and runs the handlers.

    It follows the queue manager across restarts: a closed connection is reopened.
    """

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._stopped = threading.Event()
        #: Set once the queue manager confirmed the subscription (events from then on arrive).
        self.ready = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._run, name="antsup-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from antsup.processes.wire import recv, send

        while not self._stopped.is_set():
            try:
                self._conn = self._connect()
                send(self._conn, ["subscribe"])
                while not self._stopped.is_set():
                    if not self._conn.poll(0.2):
                        continue
                    message = recv(self._conn)
                    if message[0] == "subscribed":
                        self.ready.set()
                    elif message[0] == "events":
                        for event, data in message[1]:
                            emit(event, data)
            except (EOFError, OSError, ValueError):
                if self._stopped.wait(0.05):  # the queue manager is restarting: retry soon
                    return
            except Exception:
                log.exception("event subscription failed; retrying")
                if self._stopped.wait(0.5):
                    return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2.0)
        if self._conn is not None:
            self._conn.close()
