"""Client requests to the queue manager: decode, call the Machine, reply once durable.

A request is `[op, *args]`; the reply is `["ok", value]` or `["err", kind, message]`, where
`kind` names an exception class of `antsup.errors` (or ValueError/TypeError) for the client to
raise again.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from antsup import errors
from antsup.core import JobRecord
from antsup.processes.wire import insert_template

if TYPE_CHECKING:
    from antsup.processes.queue_manager import QueueManager

_CLIENT_ERRORS = (
    errors.AntsupError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
)


def handle(qm: QueueManager, conn: Connection, message: Any, now: float) -> None:
    events_before = len(qm.pending_events)
    try:
        if not isinstance(message, list) or not message or message[0] not in _HANDLERS:
            raise errors.DecodeError(f"not a request: {str(message)[:80]}")
        value = _HANDLERS[message[0]](qm, message[1:], now)
    except _CLIENT_ERRORS as exc:
        qm.answer_now(conn, ["err", type(exc).__name__, str(exc)])  # nothing changed
        return
    except Exception as exc:  # a request of a shape no handler expected: refuse, never crash
        error = f"malformed {str(message[0])[:40]!r} request: {exc!r}"
        qm.answer_now(conn, ["err", "RemoteError", error])
        return
    if len(qm.pending_events) == events_before and qm.journal is not None and qm.journal.error:
        qm.answer_now(conn, ["ok", value])  # a read while the journal cannot be written
        return
    qm.reply(conn, ["ok", value])


def _wire(record: JobRecord | None) -> list[Any] | None:
    return None if record is None else record.to_wire()


def _insert(qm: QueueManager, args: list[Any], now: float) -> list[Any]:
    if qm.journal is not None and qm.journal.error is not None:
        raise errors.JournalWriteError(
            f"the journal cannot be written ({qm.journal.error}); nothing was enqueued"
        )
    *shared, packed_args = args
    template = insert_template(*shared)
    first_id = qm.machine.next_id
    records, events = qm.machine.insert_many(template, packed_args, now)
    qm.record(events)
    # A new job travels back as its id alone (the client knows the rest); a job that uniqueness
    # returned instead of inserting (maybe one inserted earlier in this batch) travels whole.
    if template.unique is None:  # every job is new
        return [now, list(range(first_id, first_id + len(records)))]
    items: list[Any] = []
    seen: set[int] = set()
    for record in records:
        new = record.id >= first_id and record.id not in seen
        seen.add(record.id)
        items.append(record.id if new else record.to_wire())
    return [now, items]


def _get(qm: QueueManager, args: list[Any], now: float) -> list[Any] | None:
    return _wire(qm.machine.get(args[0]))


def _list(qm: QueueManager, args: list[Any], now: float) -> list[list[Any]]:
    """Oldest first; with "newest": the `limit` most recent (by id), newest first."""
    filters = args[0] or {}
    if not isinstance(filters, dict):
        raise ValueError("list filters must be a map")
    newest = bool(filters.get("newest"))
    limit = filters.get("limit")
    records = qm.machine.list_jobs(
        status=filters.get("status"),
        queue=filters.get("queue"),
        worker=filters.get("worker"),
        args=filters.get("args"),
        limit=None if newest else limit,
    )
    if newest:
        records = records[::-1][:limit]
    return [record.to_wire() for record in records]


def _cancel(qm: QueueManager, args: list[Any], now: float) -> list[Any] | None:
    qm.record(qm.machine.cancel(args[0], now))
    return _wire(qm.machine.get(args[0]))


def _retry(qm: QueueManager, args: list[Any], now: float) -> list[Any] | None:
    qm.record(qm.machine.retry(args[0], now))
    return _wire(qm.machine.get(args[0]))


def _delete(qm: QueueManager, args: list[Any], now: float) -> None:
    qm.record(qm.machine.delete(args[0]))


def _queue(qm: QueueManager, args: list[Any], now: float) -> dict[str, Any]:
    action, name, limit = args
    if action == "scale":
        qm.record(qm.machine.scale_queue(name, limit))
    elif action == "pause":
        qm.record(qm.machine.pause_queue(name))
    elif action == "resume":
        qm.record(qm.machine.resume_queue(name))
    else:
        raise ValueError(f"unknown queue action {action!r}")
    return _queues(qm)


def _queues(qm: QueueManager) -> dict[str, Any]:
    counts = qm.machine.counts()
    return {
        name: {"limit": limit, "paused": paused, "running": running, "counts": counts.get(name, {})}
        for name, (limit, paused, running) in qm.machine.queues().items()
    }


def _stats(qm: QueueManager, args: list[Any], now: float) -> dict[str, Any]:
    totals: dict[str, int] = {}
    for per_status in qm.machine.counts().values():
        for status, count in per_status.items():
            totals[status] = totals.get(status, 0) + count
    return {
        "queues": _queues(qm),
        "totals": totals,
        "jobs_per_second": _throughput(qm, now),
        "processes": _processes(qm),
    }


def _throughput(qm: QueueManager, now: float) -> float:
    """Jobs finished per second over the last ten seconds or so."""
    samples = [(t, n) for t, n in qm.throughput if now - t <= 10.0]
    samples.append((now, qm.pool.finished_total))
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    return 0.0 if t1 <= t0 else (n1 - n0) / (t1 - t0)


def _processes(qm: QueueManager) -> list[dict[str, Any]]:
    workers = {peer.pid: "worker" for peer in qm.pool.peers.values()}
    return qm.process_view.rows(workers, qm.pool.crashes)


def _quiesce(qm: QueueManager, args: list[Any], now: float) -> None:
    """The tree is about to stop: send no more jobs to workers."""
    qm.pool.quiesced = True


def _ping(qm: QueueManager, args: list[Any], now: float) -> str:
    return "pong"


_HANDLERS = {
    "insert": _insert,
    "get": _get,
    "list": _list,
    "cancel": _cancel,
    "retry": _retry,
    "delete": _delete,
    "queue": _queue,
    "stats": _stats,
    "ping": _ping,
    "quiesce": _quiesce,
}
