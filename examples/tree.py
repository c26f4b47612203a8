"""A small supervised tree: kill one pool worker with SIGKILL and watch it be replaced.

Run with `python -m examples.tree` (or `make demo`).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from antsup.supervisor import ChildContext, ChildSpec, SupervisorHandle, SupervisorSpec, start


def idle_worker(ctx: ChildContext) -> None:
    """A worker that does nothing until it is told to stop."""
    while True:
        signal.pause()


def _rows(node: dict[str, Any], depth: int = 0) -> list[str]:
    rss = f"{node['rss'] / 2**20:6.1f} MiB" if node.get("rss") else "        -"
    pid = node.get("pid") or "-"
    name = "  " * depth + str(node["id"])
    line = f"{name:<14} {pid!s:>8} {node['type']:<11} {node['status']:<10} {node['restarts']:>8}"
    lines = [f"{line} {rss}"]
    for child in node.get("children", []):
        lines += _rows(child, depth + 1)
    return lines


def print_tree(tree: SupervisorHandle, title: str) -> None:
    print(f"\n{title}")
    print(f"{'id':<14} {'pid':>8} {'type':<11} {'status':<10} {'restarts':>8} {'rss':>10}")
    print("\n".join(_rows(tree.tree())))


def main() -> None:
    pool = SupervisorSpec(
        [ChildSpec("worker", "examples.tree:idle_worker")],
        strategy="simple_one_for_one",
        pool_size=3,
    )
    spec = SupervisorSpec(
        [
            ChildSpec("journal", "examples.tree:idle_worker"),
            ChildSpec("queue", "examples.tree:idle_worker"),
            ChildSpec("pool", pool),
        ]
    )
    with start(spec) as tree:
        print_tree(tree, "The tree as started:")
        victim = tree.which_children(("pool",))[1]
        print(f"\nkill -9 {victim.pid}  ({victim.id})")
        os.kill(victim.pid or 0, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            now = next(c for c in tree.which_children(("pool",)) if c.id == victim.id)
            if now.status == "running" and now.pid != victim.pid:
                break
            time.sleep(0.01)
        else:
            raise SystemExit("the worker was not replaced within 5 s")
        print(f"{victim.id} replaced: pid {victim.pid} -> {now.pid}, restarts {now.restarts}")
        print_tree(tree, "The tree after the restart:")
    print(f"\nstopped in order, root exit code {tree.exitcode}")


if __name__ == "__main__":
    main()
