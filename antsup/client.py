"""The application's side: requests to the queue manager over its authenticated Unix socket.

One connection per thread (and per process: a forked child reconnects), so any thread of a web
server may enqueue. Errors come back as the same exception classes the queue manager raised.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.connection import Client as connect
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from antsup import errors
from antsup.codec import MAX_MESSAGE_BYTES, pack
from antsup.config import DEFAULT_MAX_ARGS_BYTES, read_authkey
from antsup.job import Job, to_datetime
from antsup.processes.wire import readable, recv, send

_ERRORS: dict[str, type[Exception]] = {
    name: value
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, Exception)
}
_ERRORS.update(ValueError=ValueError, TypeError=TypeError, KeyError=errors.RemoteError)


class Client:
    """Talks to one tree's queue manager."""

    def __init__(
        self,
        address: str,
        authkey: bytes,
        max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES,
        timeout: float = 60.0,
    ) -> None:
        self.address = address
        self.authkey = authkey
        self.max_args_bytes = max_args_bytes
        #: Seconds to wait for a reply before giving up on the connection (ConnectionLost).
        self.timeout = timeout
        self._local = threading.local()

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = connect(self.address, family="AF_UNIX", authkey=self.authkey)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise errors.NotRunning(
                f"no antsup tree is running at {self.address} (start one with antsup.start())"
            ) from exc
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def call(self, op: str, *args: Any, timeout: float | None = None) -> Any:
        """One request, one reply; raises what the queue manager raised."""
        conn = self._conn()
        wait = self.timeout if timeout is None else timeout
        try:
            send(conn, [op, *args])
            if not readable(conn, wait):
                raise TimeoutError(f"no answer within {wait} s")
            reply = recv(conn)
        except (EOFError, OSError) as exc:  # TimeoutError is an OSError
            self._local.conn = None
            conn.close()  # a late reply must not be read as the answer to the next request
            raise errors.ConnectionLost(
                f"lost the queue manager during {op!r} ({exc or type(exc).__name__}): "
                "it may or may not have been applied"
            ) from exc
        if reply[0] == "ok":
            return reply[1]
        kind, message = reply[1], reply[2]
        raise _ERRORS.get(kind, errors.RemoteError)(message)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ---- jobs -----------------------------------------------------------------------------

    def insert(
        self, worker: type, many_args: list[Any], scheduled_at: float | None, opts: dict[str, Any]
    ) -> list[Job]:
        """Enqueue one job per args; a bad argument refuses the whole batch, nothing written."""
        from antsup.worker import worker_name

        cls: Any = worker
        opts = dict(opts)
        queue = opts.pop("queue", cls.queue)
        max_attempts = opts.pop("max_attempts", cls.max_attempts)
        timeout = opts.pop("timeout", cls.timeout)
        if timeout is not None:
            opts["timeout"] = float(timeout)
        delays = crash_delays(cls, max_attempts)
        if delays is not None:
            opts["backoff"] = delays
        unique = None
        if cls.unique is not None:
            unique = [cls.unique.args, [str(status) for status in cls.unique.statuses]]
        name = worker_name(cls)
        packed_args = []
        for args in many_args:
            try:
                packed = pack(args)
            except errors.EncodeError as exc:
                raise errors.EncodeError(
                    f"{cls.__name__} args must be msgpack-serialisable "
                    f"(dict, list, str, int, float, bool, None, bytes): {exc}"
                ) from None
            if len(packed) > self.max_args_bytes:
                raise ValueError(
                    f"{cls.__name__} args are {len(packed)} bytes packed, over the "
                    f"{self.max_args_bytes}-byte limit"
                )
            packed_args.append(packed)
        size = sum(map(len, packed_args))
        if size > MAX_REQUEST_ARGS_BYTES:
            raise ValueError(
                f"these {len(packed_args)} jobs' args are {size} bytes packed, over the "
                f"{MAX_REQUEST_ARGS_BYTES}-byte limit of one request: enqueue them in smaller "
                "batches (nothing was enqueued)"
            )
        batch = [name, queue, max_attempts, scheduled_at, unique, opts or None, packed_args]
        return jobs_from_insert(self.call("insert", *batch), batch, many_args)

    def get_job(self, job_id: int) -> Job:
        wire = self.call("get", job_id)
        if wire is None:
            raise errors.JobNotFound(f"no job with id {job_id}")
        return Job.from_wire(wire)

    def list_jobs(self, **filters: Any) -> list[Job]:
        wanted = {key: value for key, value in filters.items() if value is not None}
        return [Job.from_wire(wire) for wire in self.call("list", wanted)]

    def cancel_job(self, job_id: int) -> Job:
        return Job.from_wire(self.call("cancel", job_id))

    def retry_job(self, job_id: int) -> Job:
        return Job.from_wire(self.call("retry", job_id))

    def delete_job(self, job_id: int) -> None:
        self.call("delete", job_id)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.call("stats")
        return stats

    def queue(self, action: str, name: str, limit: int | None = None) -> dict[str, Any]:
        queues: dict[str, Any] = self.call("queue", action, name, limit)
        return queues


def crash_delays(cls: Any, max_attempts: int) -> list[float] | None:
    """The worker's own `backoff()` for each attempt, asked now: if an attempt ends with its
    worker process (a crash), nobody can ask the class any more. None for the default backoff."""
    from antsup.worker import Worker

    if cls.backoff is Worker.backoff or max_attempts > 100:
        return None
    delays = []
    for attempt in range(1, max_attempts + 1):
        probe = Job.inserted(0, "", cls.queue, None, max_attempts, None, None, 0.0)
        try:
            delays.append(float(cls().backoff(replace(probe, attempts=attempt))))
        except Exception:  # a backoff that needs the real job: the default applies
            return None
    return delays


def jobs_from_insert(reply: Any, batch: list[Any], many_args: list[Any]) -> list[Job]:
    """Jobs from the reply `[now, items]` to an insert request `batch` (worker, queue,
    max_attempts, scheduled_at, unique, opts, [packed args]): an item is a new job's id
    (the job is built here from the request) or, for a job that uniqueness returned instead,
    its whole record."""
    now, items = reply
    worker, queue, max_attempts, scheduled_at, _, opts, _ = batch
    at = datetime.fromtimestamp(now, UTC)  # one datetime for the whole batch
    due = scheduled_at is not None and scheduled_at > now
    status, scheduled = ("scheduled" if due else "enqueued"), to_datetime(scheduled_at)
    return [
        Job.from_wire(item)
        if isinstance(item, list)
        else Job(
            item,
            worker,
            queue,
            args,
            status,
            0,
            max_attempts,
            at,
            scheduled,
            at,
            [],
            None,
            dict(opts or {}),
        )
        for item, args in zip(items, many_args, strict=True)
    ]


#: Most bytes of packed args in one insert request: the request must stay under the 64 MiB
#: message limit with room for the rest.
MAX_REQUEST_ARGS_BYTES = MAX_MESSAGE_BYTES - (4 << 20)

_current: Client | None = None


def set_current(client: Client | None) -> None:
    global _current
    _current = client


def current() -> Client:
    """The client of the tree this process started, else one found through the environment.

    `ANTSUP_ADDRESS` (socket path) or `ANTSUP_DATA_DIR` (default ./antsup_data) locate the tree;
    the authkey is read from the data directory or `ANTSUP_AUTHKEY` (hex).
    """
    global _current
    if _current is not None:
        return _current
    data_dir = Path(os.environ.get("ANTSUP_DATA_DIR", "antsup_data")).resolve()
    address = os.environ.get("ANTSUP_ADDRESS")
    if address is None:
        try:
            address = (data_dir / "address").read_text().strip()
        except FileNotFoundError:
            address = None
    if not address:
        raise errors.NotRunning(
            f"no antsup tree is running: none was started in this process and {data_dir} "
            "has no address file (start one with antsup.start(), or set ANTSUP_ADDRESS)"
        )
    try:
        authkey = read_authkey(data_dir)
    except FileNotFoundError as exc:
        raise errors.NotRunning(f"no authkey in {data_dir}; set ANTSUP_AUTHKEY") from exc
    _current = Client(address, authkey)
    return _current
