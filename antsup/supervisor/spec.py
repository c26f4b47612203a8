"""What a supervision tree is made of: child specs, supervisor specs, what introspection returns.

Specs are plain frozen dataclasses so a tree can be described in ordinary Python, checked once
at construction, and shipped to a spawned root supervisor by multiprocessing's own pickling.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: A supervisor exits with EXIT_OK after an orderly shutdown.
EXIT_OK = 0
#: Restart intensity was exceeded: the supervisor stopped its children and gave up.
EXIT_ESCALATED = 86
#: A child failed to start while the supervisor was starting (or a child's entry point
#: could not be resolved): nothing was left running.
EXIT_START_FAILED = 87

Restart = Literal["permanent", "transient", "temporary"]
ChildType = Literal["worker", "supervisor"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"]
StartMethod = Literal["fork", "spawn", "forkserver"]
Status = Literal["running", "restarting", "stopped", "undefined"]

_RESTARTS = ("permanent", "transient", "temporary")
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one")
_METHODS = ("fork", "spawn", "forkserver")
#: Default shutdown budgets: a worker gets 5 s; a supervisor gets long enough to stop its subtree.
WORKER_SHUTDOWN = 5.0
SUPERVISOR_SHUTDOWN = 60.0


@dataclass(frozen=True)
class ChildSpec:
    """How to start, restart and stop one child (a worker or a nested supervisor)."""

    id: str
    start: str | Callable[..., object] | SupervisorSpec
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    restart: Restart = "permanent"
    #: Seconds of grace after SIGTERM before SIGKILL, or "brutal_kill" (SIGKILL at once).
    #: None means 5 s for a worker and 60 s for a supervisor (it must stop its own subtree).
    shutdown: float | Literal["brutal_kill"] | None = None
    type: ChildType | None = None
    wait_ready: bool = False
    start_timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise ValueError("a child spec needs a non-empty string id")
        if self.restart not in _RESTARTS:
            raise ValueError(f"restart must be one of {_RESTARTS}, not {self.restart!r}")
        is_sup = isinstance(self.start, SupervisorSpec)
        kind = self.type or ("supervisor" if is_sup else "worker")
        if kind not in ("worker", "supervisor"):
            raise ValueError(f"type must be 'worker' or 'supervisor', not {kind!r}")
        if is_sup and kind != "supervisor":
            raise ValueError("a child whose start is a SupervisorSpec must have type='supervisor'")
        object.__setattr__(self, "type", kind)
        if self.shutdown is None:
            budget = SUPERVISOR_SHUTDOWN if kind == "supervisor" else WORKER_SHUTDOWN
            object.__setattr__(self, "shutdown", budget)
        elif self.shutdown != "brutal_kill" and (
            isinstance(self.shutdown, str) or self.shutdown < 0
        ):
            raise ValueError("shutdown must be seconds >= 0 or 'brutal_kill'")
        if isinstance(self.start, str) and ":" not in self.start:
            raise ValueError(f"start {self.start!r} must look like 'package.module:function'")
        if not (isinstance(self.start, str | SupervisorSpec) or callable(self.start)):
            raise TypeError("start must be 'module:function', a callable or a SupervisorSpec")
        if self.start_timeout <= 0:
            raise ValueError("start_timeout must be > 0")

    @property
    def grace(self) -> float | None:
        """Seconds to wait after SIGTERM, or None for brutal_kill."""
        return None if self.shutdown == "brutal_kill" else float(self.shutdown or 0.0)


@dataclass(frozen=True)
class SupervisorSpec:
    """A supervisor: its children (in start order), its strategy and its restart intensity."""

    children: list[ChildSpec]
    strategy: Strategy = "one_for_one"
    max_restarts: int = 3
    max_seconds: float = 5.0
    #: simple_one_for_one only: copies of the template children[0] started at boot.
    pool_size: int = 0
    #: How THIS supervisor starts its children. Supervisors are single-threaded, so fork is safe.
    start_method: StartMethod = "fork"
    #: Path of a Unix datagram socket sent `[child_id, pid, exitcode]` (msgpack) whenever a child
    #: exits, best effort: only the parent can read an exit status, and a sibling that talked to
    #: the child (the queue manager, about a worker) may want to say how it died.
    exit_report: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {_STRATEGIES}, not {self.strategy!r}")
        if self.start_method not in _METHODS:
            raise ValueError(f"start_method must be one of {_METHODS}")
        if self.max_restarts < 0 or self.max_seconds <= 0:
            raise ValueError("max_restarts must be >= 0 and max_seconds > 0")
        ids = [c.id for c in self.children]
        if len(ids) != len(set(ids)):
            raise ValueError(f"child ids must be unique, got {ids}")
        if self.strategy == "simple_one_for_one":
            if len(self.children) != 1:
                raise ValueError("simple_one_for_one needs exactly one template child")
            if self.pool_size < 0:
                raise ValueError("pool_size must be >= 0")
        elif self.pool_size:
            raise ValueError("pool_size is only meaningful for simple_one_for_one")


@dataclass(frozen=True)
class ChildInfo:
    """One row of which_children(): the child's identity, state and resource use."""

    id: str
    pid: int | None
    type: ChildType
    status: Status
    restarts: int
    cpu_percent: float | None
    rss: int | None
    uptime: float | None


def resolve_entry(start: str | Callable[..., object]) -> Callable[..., object]:
    """Import 'package.module:function' (dotted attributes allowed) or return the callable."""
    if not isinstance(start, str):
        return start
    module_name, _, attr_path = start.partition(":")
    target: Any = importlib.import_module(module_name)
    for attr in attr_path.split("."):
        target = getattr(target, attr)
    if not callable(target):
        raise TypeError(f"{start} is not callable")
    return target  # type: ignore[no-any-return]


def entry_name(start: str | Callable[..., object]) -> str:
    """The 'module:function' name of an entry point, so a spec can cross a msgpack pipe."""
    if isinstance(start, str):
        return start
    module = getattr(start, "__module__", None)
    qualname = getattr(start, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise TypeError(
            f"{start!r} is not an importable top-level function; pass 'module:function'"
        )
    return f"{module}:{qualname}"


def spec_to_wire(spec: ChildSpec | SupervisorSpec) -> dict[str, Any]:
    """A msgpack-ready description of a spec (start_child sends it over the control pipe)."""
    if isinstance(spec, SupervisorSpec):
        return {
            "children": [spec_to_wire(c) for c in spec.children],
            "strategy": spec.strategy,
            "max_restarts": spec.max_restarts,
            "max_seconds": spec.max_seconds,
            "pool_size": spec.pool_size,
            "start_method": spec.start_method,
            "exit_report": spec.exit_report,
        }
    start: Any = (
        {"supervisor": spec_to_wire(spec.start)}
        if isinstance(spec.start, SupervisorSpec)
        else entry_name(spec.start)
    )
    return {
        "id": spec.id,
        "start": start,
        "args": list(spec.args),
        "kwargs": dict(spec.kwargs),
        "restart": spec.restart,
        "shutdown": spec.shutdown,
        "type": spec.type,
        "wait_ready": spec.wait_ready,
        "start_timeout": spec.start_timeout,
    }


def child_spec_from_wire(data: dict[str, Any]) -> ChildSpec:
    """Inverse of spec_to_wire for a child spec."""
    start = data["start"]
    if isinstance(start, dict):
        start = supervisor_spec_from_wire(start["supervisor"])
    return ChildSpec(**{**data, "start": start, "args": tuple(data["args"])})


def supervisor_spec_from_wire(data: dict[str, Any]) -> SupervisorSpec:
    """Inverse of spec_to_wire for a supervisor spec."""
    children = [child_spec_from_wire(c) for c in data["children"]]
    return SupervisorSpec(**{**data, "children": children})
