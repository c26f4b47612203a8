"""`antsup.start()`: the job system's supervision tree, started from the application.

    root (one_for_one)
    ├── core (rest_for_one)
    │   ├── persistence      the journal's only writer
    │   └── queue_manager    job state; replays the journal when it starts
    └── pool (simple_one_for_one)
        └── worker x N       run jobs

Why these strategies: the queue manager cannot go on without the writer it sends to, so a dead
persistence process restarts the queue manager after it (rest_for_one); the queue manager can die
alone and come back without touching the workers, which keep running their jobs and reconnect;
a worker dies alone (one_for_one inside the pool). The pool comes last, so on shutdown it is
stopped first, while the queue manager still records what the workers hand back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from multiprocessing.connection import Client as connect
from types import TracebackType
from typing import Any

from antsup import client as client_module
from antsup import events
from antsup.client import Client
from antsup.config import Config, load_or_create_authkey
from antsup.journal import DataDirLock
from antsup.logs import LogReceiver
from antsup.supervisor import ChildSpec, SupervisorHandle, SupervisorSpec
from antsup.supervisor import start as start_supervisor
from antsup.worker import registered_modules

log = logging.getLogger("antsup")


def build_spec(config: Config) -> SupervisorSpec:
    wire = config.to_wire()
    method = config.tree_start_method
    core_children = [
        ChildSpec(
            "queue_manager",
            "antsup.processes.queue_manager:run",
            args=(wire,),
            wait_ready=True,
            shutdown=30.0,
            start_timeout=300.0,  # replaying a large journal takes a while
        )
    ]
    if config.storage == "disk":
        persistence = ChildSpec(
            "persistence",
            "antsup.processes.persistence:run",
            args=(wire,),
            wait_ready=True,
            shutdown=30.0,
            start_timeout=300.0,
        )
        core_children.insert(0, persistence)
    core = SupervisorSpec(
        core_children, strategy="rest_for_one", max_restarts=5, max_seconds=10, start_method=method
    )
    worker = ChildSpec(
        "worker",
        "antsup.processes.worker:run",
        args=(wire,),
        shutdown=config.shutdown_grace + 5.0,
    )
    # Jobs that crash their worker are bounded by max_attempts, not by the pool's intensity:
    # the pool tolerates many restarts so a poison job cannot tear the tree down.
    pool = SupervisorSpec(
        [worker],
        strategy="simple_one_for_one",
        pool_size=config.workers,
        max_restarts=max(100, 20 * config.workers),
        max_seconds=10,
        start_method=method,
        exit_report=config.exit_report_address,  # so a crashed job's error names the signal
    )
    return SupervisorSpec(
        [
            ChildSpec("core", core, shutdown=90.0),
            # The pool stops its workers side by side: one grace period for all of them.
            ChildSpec("pool", pool, shutdown=config.shutdown_grace + 30.0),
        ],
        strategy="one_for_one",
        max_restarts=3,
        max_seconds=5,
        start_method=method,
    )


class Tree:
    """A running antsup tree: stop it, or use it as a context manager."""

    def __init__(
        self,
        config: Config,
        handle: SupervisorHandle,
        client: Client,
        lock: DataDirLock,
        logs: LogReceiver,
    ) -> None:
        self.config = config
        self.supervisor = handle
        self.client = client
        self._lock = lock
        self._logs = logs

    @property
    def pid(self) -> int:
        return self.supervisor.pid

    def stop(self, timeout: float | None = None) -> int:
        """Stop dispatching, let running jobs finish (shutdown_grace), then stop every process."""
        try:
            self.client.call("quiesce", timeout=5.0)
        except Exception as exc:  # the queue manager may already be gone: stop anyway
            log.debug("quiesce before stop failed: %s", exc)
        events.set_source(None)
        code = self.supervisor.stop(timeout)
        self._logs.stop()
        self.client.close()
        if client_module._current is self.client:
            client_module.set_current(None)
        self._lock.release()
        return code

    def __enter__(self) -> Tree:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(
    workers: int | None = None,
    threads: int = 1,
    queues: dict[str, int] | None = None,
    data_dir: str | os.PathLike[str] = "antsup_data",
    storage: str = "disk",
    fsync: str = "interval",
    modules: list[str] | None = None,
    on_escalation: Callable[[str], None] | None = None,
    **settings: Any,
) -> Tree:
    """Start a tree; returns once every process runs and the journal is replayed.

    `modules` are imported in every worker process (default: the modules defining the
    registered Worker subclasses). Other settings: see `antsup.config.Config`.
    """
    config = Config(
        workers=workers or os.cpu_count() or 1,
        threads=threads,
        queues=dict(queues or {"default": 10}),
        data_dir=os.fspath(data_dir),
        storage=storage,  # type: ignore[arg-type]
        fsync=fsync,  # type: ignore[arg-type]
        modules=tuple(modules if modules is not None else registered_modules()),
        **settings,
    )
    data_path = config.data_path
    data_path.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(data_path)
    lock.acquire()
    logs: LogReceiver | None = None
    try:
        authkey = load_or_create_authkey(data_path)
        config.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        config.run_dir.chmod(0o700)  # also when it was made before, under another umask
        logs = LogReceiver(str(config.run_dir / "log.sock"))
        level = logging.getLogger().getEffectiveLevel()
        config = replace(config, log_address=logs.address, log_level=level)
        handle = start_supervisor(
            build_spec(config),
            on_escalation=partial(_escalated, on_escalation),
            start_method=config.start_method,
            on_event=events.emit,
        )
    except BaseException:
        if logs is not None:
            logs.stop()
        lock.release()
        raise
    (data_path / "address").write_text(config.address + "\n")
    client = Client(config.address, authkey, config.max_args_bytes)
    client_module.set_current(client)
    events.set_source(partial(connect, config.address, family="AF_UNIX", authkey=authkey))
    return Tree(config, handle, client, lock, logs)


def _escalated(callback: Callable[[str], None] | None, reason: str) -> None:
    """The root gave up (restart intensity): log, emit the event, call the application."""
    log.critical("antsup tree stopped: restart intensity reached (%s)", reason)
    events.emit("supervisor:intensity", {"reason": reason})
    if callback is not None:
        callback(reason)
