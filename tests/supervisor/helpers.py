"""Entry points for the supervisor tests' children: they record what happens to them in a file.

Each line is "<event> <child id> <pid>"; tests read the file to check start/stop order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from antsup.supervisor import ChildContext, ChildSpec

HERE = __name__  # e.g. "supervisor.helpers": how children import this module


def entry(name: str) -> str:
    """'module:function' for a function of this module."""
    return f"{HERE}:{name}"


def record(log: str, event: str, child_id: str) -> None:
    """Append one event line atomically (a single O_APPEND write)."""
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{event} {child_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def events(log: str | Path) -> list[tuple[str, str]]:
    """(event, id) pairs in the order they happened."""
    try:
        text = Path(log).read_text()
    except FileNotFoundError:
        return []
    return [(p[0], p[1]) for p in (line.split() for line in text.splitlines())]


def _on_term_record(log: str, child_id: str) -> None:
    def handler(_signum: int, _frame: object) -> None:
        record(log, "stop", child_id)
        os._exit(0)

    signal.signal(signal.SIGTERM, handler)


def recorder(ctx: ChildContext, log: str) -> None:
    """Records its start, records SIGTERM as 'stop' and exits 0; otherwise waits forever."""
    _on_term_record(log, ctx.id)
    record(log, "start", ctx.id)
    while True:
        signal.pause()


def ready_recorder(ctx: ChildContext, log: str) -> None:
    """Like recorder, but tells its supervisor it is ready (wait_ready=True specs)."""
    _on_term_record(log, ctx.id)
    record(log, "start", ctx.id)
    ctx.notify_ready()
    while True:
        signal.pause()


def never_ready(ctx: ChildContext, log: str) -> None:
    """Starts but never calls notify_ready."""
    record(log, "start", ctx.id)
    while True:
        signal.pause()


def exiter(ctx: ChildContext, log: str, code: int) -> None:
    """Exits with `code` at once, every time it is started."""
    record(log, "start", ctx.id)
    sys.exit(code)


def exit_once(ctx: ChildContext, log: str, code: int) -> None:
    """Exits with `code` the first time; afterwards behaves like recorder."""
    record(log, "start", ctx.id)
    marker = f"{log}.{ctx.id}.exited"
    if not os.path.exists(marker):
        Path(marker).touch()
        sys.exit(code)
    recorder(ctx, log)


def ignore_term(ctx: ChildContext, log: str) -> None:
    """Ignores SIGTERM, so only SIGKILL stops it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    record(log, "start", ctx.id)
    while True:
        signal.pause()


def crash_in_init(ctx: ChildContext) -> None:
    """Fails before becoming ready."""
    raise RuntimeError("cannot open the database")


def with_grandchild(ctx: ChildContext, log: str) -> None:
    """Forks a `sleep 1000` grandchild and records its pid as 'grandchild <id> <pid>'."""
    child = subprocess.Popen(["sleep", "1000"])
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"grandchild {ctx.id} {child.pid}\n".encode())
    os.close(fd)
    record(log, "start", ctx.id)
    while True:
        signal.pause()


def rows(log: str | Path) -> list[tuple[str, str, int]]:
    """(event, id, pid) triples in the order they happened."""
    try:
        text = Path(log).read_text()
    except FileNotFoundError:
        return []
    return [(p[0], p[1], int(p[2])) for p in (line.split() for line in text.splitlines())]


def app_main(log: str) -> None:
    """An application process: starts a tree whose workers fork grandchildren, then waits.

    Prints 'ready' once the tree is up; the test then SIGKILLs this process.
    """
    from antsup.supervisor import SupervisorSpec, start

    pool = SupervisorSpec(
        [ChildSpec("w", entry("with_grandchild"), args=(log,))],
        strategy="simple_one_for_one",
        pool_size=2,
    )
    spec = SupervisorSpec(
        [ChildSpec("solo", entry("with_grandchild"), args=(log,)), ChildSpec("pool", pool)]
    )
    tree = start(spec)
    print("ready", tree.pid, flush=True)
    sys.stdin.read()
