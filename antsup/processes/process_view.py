"""The tree's processes as `antsup.stats()` and `antsup top` show them, seen from the queue
manager: pid, parent, role, CPU, memory, uptime.

Two things make this cheap and right. The tree is walked through each process's
`/proc/<pid>/task/<tid>/children` list, not by scanning every process of the machine (which
is what `psutil.Process.children` does, milliseconds on a busy host, on the queue manager's
only thread). And the `psutil.Process` objects are kept from one call to the next, because
`cpu_percent` is the CPU used since the previous call on the same object: a fresh object
always says 0.
"""

from __future__ import annotations

import glob
import os
import time
from collections import deque
from typing import Any

import psutil


class ProcessView:
    def __init__(self) -> None:
        self._known: dict[int, psutil.Process] = {}

    def rows(self, roles: dict[int, str], restarts: int) -> list[dict[str, Any]]:
        """One row per process from the root supervisor down; `roles` names the processes
        the queue manager knows (itself and its workers); `restarts` is the workers' crash
        count."""
        pid = os.getpid()
        roles = {pid: "queue_manager", **roles}
        core = _parent(pid)
        root = _parent(core) if core is not None else None
        if core is None or root is None:
            return []
        roles[core] = "core_supervisor"
        roles[root] = "root_supervisor"
        children = _children_map(root)
        rows = []
        seen = set()
        for child, parent in [(root, None), *_walk(root, children)]:
            proc = self._process(child)
            if proc is None:
                continue
            seen.add(child)
            role = roles.get(child) or _guess_role(roles.get(parent or 0), children.get(child))
            roles[child] = role  # parents come first: their children's guess uses it
            try:
                with proc.oneshot():
                    rows.append(
                        {
                            "pid": child,
                            "ppid": proc.ppid(),
                            "role": role,
                            "restarts": restarts if role == "worker" else 0,
                            "cpu_percent": proc.cpu_percent(None),
                            "rss": proc.memory_info().rss,
                            "uptime": time.time() - proc.create_time(),
                        }
                    )
            except psutil.Error:
                continue
        for gone in self._known.keys() - seen:
            del self._known[gone]
        return rows

    def _process(self, pid: int) -> psutil.Process | None:
        proc = self._known.get(pid)
        if proc is not None and proc.is_running():  # also false for a reused pid
            return proc
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            return None
        self._known[pid] = proc
        return proc


def _parent(pid: int) -> int | None:
    try:
        return psutil.Process(pid).ppid() or None
    except psutil.Error:
        return None


def _children_map(root: int) -> dict[int, list[int]]:
    """pid -> its children, for `root` and every descendant."""
    found: dict[int, list[int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        kids = _children(pid)
        found[pid] = kids
        todo.extend(kids)
    return found


def _children(pid: int) -> list[int]:
    files = glob.glob(f"/proc/{pid}/task/*/children")
    if not files and os.path.exists(f"/proc/{pid}"):  # a kernel without these lists
        try:
            return [child.pid for child in psutil.Process(pid).children()]
        except psutil.Error:
            return []
    kids: list[int] = []
    for path in files:
        try:
            with open(path) as listing:
                kids.extend(int(word) for word in listing.read().split())
        except OSError:  # the thread or the process ended meanwhile
            continue
    return kids


def _walk(root: int, children: dict[int, list[int]]) -> list[tuple[int, int]]:
    """(pid, parent) of every descendant of `root`, parents before their children."""
    order = []
    todo = deque((kid, root) for kid in children.get(root, []))
    while todo:
        pid, parent = todo.popleft()
        order.append((pid, parent))
        todo.extend((kid, pid) for kid in children.get(pid, []))
    return order


def _guess_role(parent_role: str | None, kids: list[int] | None) -> str:
    if parent_role == "core_supervisor":
        return "persistence"
    if parent_role == "root_supervisor":
        return "pool_supervisor" if kids else "guardian"
    if parent_role == "pool_supervisor":
        return "worker"  # one not connected (yet, or any more)
    if parent_role == "worker":
        return "job_subprocess"
    return "process"
