"""All settings of a tree in one frozen dataclass, passed to every process as plain data."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Storage = Literal["disk", "memory"]
Fsync = Literal["interval", "always", "never"]

#: Largest packed `args` a job may carry, by default (1 MiB).
DEFAULT_MAX_ARGS_BYTES = 1024 * 1024
#: Longest path a Unix socket address may have on Linux, less a margin.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class Config:
    """What `antsup.start(...)` was asked for, resolved to concrete values."""

    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    threads: int = 1
    queues: dict[str, int] = field(default_factory=lambda: {"default": 10})
    data_dir: str = "antsup_data"
    storage: Storage = "disk"
    fsync: Fsync = "interval"
    #: Modules imported by every worker process so that their `antsup.Worker` classes exist there.
    modules: tuple[str, ...] = ()
    #: Seconds finished jobs are kept before being pruned, per status.
    retention: dict[str, float] = field(
        default_factory=lambda: {"completed": 3600.0, "cancelled": 3600.0, "failed": 7 * 86400.0}
    )
    max_args_bytes: int = DEFAULT_MAX_ARGS_BYTES
    #: How the application starts the root supervisor (the application may be threaded).
    start_method: Literal["spawn", "forkserver", "fork"] = "spawn"
    #: How supervisors inside the tree start their children (they are single-threaded).
    tree_start_method: Literal["spawn", "forkserver", "fork"] = "fork"
    #: Seconds running jobs get to finish when the tree stops, before they are cut off.
    shutdown_grace: float = 30.0
    #: Jobs sent ahead to a worker beyond the ones it is running, at most: the full amount while
    #: its jobs are fast (they would otherwise wait on the round trip to the queue manager),
    #: one per running slot while they are slow.
    prefetch: int = 64
    max_memory_per_worker: int | None = None
    max_jobs_per_worker: int | None = None
    #: Journal size (bytes) past which the queue manager writes a snapshot and drops old segments.
    compact_bytes: int = 64 * 1024 * 1024
    #: Where tree processes send their log records (set by `antsup.start`), and from what level.
    log_address: str | None = None
    log_level: int = 30

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        if self.threads < 1:
            raise ValueError(f"threads must be at least 1, not {self.threads}")
        if not self.queues:
            raise ValueError("at least one queue is needed")
        for name, limit in self.queues.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"queue names are non-empty strings, not {name!r}")
            if not isinstance(limit, int) or limit < 1:
                raise ValueError(f"queue {name!r} needs a concurrency limit >= 1, not {limit!r}")
        if self.prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, not {self.prefetch}")
        if self.storage not in ("disk", "memory"):
            raise ValueError(f"storage is 'disk' or 'memory', not {self.storage!r}")
        if self.fsync not in ("interval", "always", "never"):
            raise ValueError(f"fsync is 'interval', 'always' or 'never', not {self.fsync!r}")

    def to_wire(self) -> dict[str, Any]:
        """Plain data for a child process's arguments."""
        wire = asdict(self)
        wire["modules"] = list(self.modules)
        return wire

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> Config:
        return cls(**{**wire, "modules": tuple(wire.get("modules", ()))})

    # Where things live in the data directory.
    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def journal_dir(self) -> Path:
        return self.data_path / "journal"

    @property
    def run_dir(self) -> Path:
        """Sockets live here: in the data directory when the path is short enough for AF_UNIX."""
        inside = self.data_path / "run"
        if len(str(inside / "queue_manager.sock")) <= _MAX_SOCKET_PATH:  # the longest name
            return inside
        digest = hashlib.sha256(str(self.data_path).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"antsup-{os.getuid()}-{digest}"

    @property
    def address(self) -> str:
        """The queue manager's socket: clients (the app, the CLI) and workers connect here."""
        return str(self.run_dir / "queue_manager.sock")

    @property
    def persistence_address(self) -> str:
        return str(self.run_dir / "persistence.sock")

    @property
    def exit_report_address(self) -> str:
        """Datagram socket where the pool supervisor reports how each worker process ended."""
        return str(self.run_dir / "exits.sock")


def load_or_create_authkey(data_dir: Path) -> bytes:
    """The shared secret of a data directory: created once (mode 0600), then reused."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "authkey"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key


def read_authkey(data_dir: Path) -> bytes:
    """The authkey of a data directory, for a client; `ANTSUP_AUTHKEY` (hex) overrides it."""
    env = os.environ.get("ANTSUP_AUTHKEY")
    if env:
        return bytes.fromhex(env)
    return (data_dir / "authkey").read_bytes()
