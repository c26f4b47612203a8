"""The chaos monkey: SIGKILLs a random process of the tree, paced so the tree survives it.

Roles and pids come from `stats()["processes"]` (the queue manager's view of the tree). The
pacing respects the tree's restart intensities (core: 5 restarts in 10 s, root: 3 in 5 s), so the
monkey tests recovery, not escalation: core processes are killed at most every CORE_GAP seconds,
the pool supervisor at most every POOL_GAP seconds, and workers whenever.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from typing import Any

import psutil

from antsup.client import Client
from chaos.harness import patient

CORE_GAP = 2.5
POOL_GAP = 3.0
#: How often each role is picked (when its pacing allows; otherwise a worker is killed).
WEIGHTS = {"worker": 5, "queue_manager": 2, "persistence": 2, "pool_supervisor": 1}
_GAPS = {"queue_manager": CORE_GAP, "persistence": CORE_GAP, "pool_supervisor": POOL_GAP}
_GROUPS = {"queue_manager": "core", "persistence": "core", "pool_supervisor": "pool"}


class Monkey:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.kills: Counter[str] = Counter()
        self.last_kill: dict[str, float] = {}
        self.started = time.monotonic()
        #: (seconds since start, role, pid) of every kill, printed when a run fails.
        self.timeline: list[tuple[float, str, int]] = []

    def pick_role(self) -> str:
        roles = list(WEIGHTS)
        role = self.rng.choices(roles, weights=[WEIGHTS[r] for r in roles])[0]
        group = _GROUPS.get(role)
        if group is not None:
            since = time.monotonic() - self.last_kill.get(group, float("-inf"))
            if since < _GAPS[role]:
                return "worker"
        return role

    def kill_random(self, client: Client) -> str | None:
        """Kill one process of a random role; returns the role, or None if none was found."""
        role = self.pick_role()
        rows: list[dict[str, Any]] = patient(client.stats)["processes"]
        candidates = sorted(
            (row for row in rows if row["role"] == role), key=lambda row: int(row["pid"])
        )
        if not candidates:
            return None
        row = self.rng.choice(candidates)
        if not _still_child_of(row["pid"], row["ppid"]):
            return None  # it died and its pid may be reused: never kill a stranger
        os.kill(row["pid"], signal.SIGKILL)
        self.record(role, row["pid"])
        return role

    def record(self, role: str, pid: int) -> None:
        self.kills[role] += 1
        self.timeline.append((time.monotonic() - self.started, role, pid))
        group = _GROUPS.get(role)
        if group is not None:
            self.last_kill[group] = time.monotonic()

    @property
    def total(self) -> int:
        return sum(self.kills.values())


def _still_child_of(pid: int, ppid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.ppid() == ppid and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
