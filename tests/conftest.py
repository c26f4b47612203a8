"""Shared test helpers: waiting on a condition with a deadline, and a leftover-process check.

`wait_until` is the only way tests wait: it polls a predicate until a deadline (no bare sleeps as
synchronisation). `no_leftover_processes` fails a test that leaves any descendant of the test
process behind, alive or zombie.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest

T = TypeVar("T")

#: multiprocessing's own long-lived helpers are shared by the whole test session, not leftovers.
_HELPER_MARKERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def wait_until(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
    """Return the predicate's first truthy value; fail the test if none comes before `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie (a zombie holds no resources and runs nothing)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_helper(proc: psutil.Process) -> bool:
    try:
        cmdline = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return any(marker in cmdline for marker in _HELPER_MARKERS)


def descendants(exclude: set[int] | None = None) -> list[psutil.Process]:
    """Descendants of this process (recursive), minus multiprocessing helpers and `exclude`."""
    exclude = exclude or set()
    found = []
    for proc in psutil.Process().children(recursive=True):
        if proc.pid not in exclude and not _is_helper(proc):
            found.append(proc)
    return found


@pytest.fixture
def no_leftover_processes() -> Iterator[None]:
    """Fail the test if it leaves any process (alive or zombie) below the test process."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    try:
        wait_until(lambda: not descendants(before), timeout=5.0)
    except AssertionError:
        left = descendants(before)
        details = []
        for proc in left:
            try:
                details.append(f"{proc.pid} {proc.status()} {proc.cmdline()}")
            except psutil.Error:
                details.append(str(proc.pid))
            with contextlib.suppress(psutil.Error):
                proc.kill()
        pytest.fail(f"processes left behind: {details}")


@contextlib.contextmanager
def mounted_tmpfs(mount_point: Path, size: str) -> Iterator[Path]:
    """A real tiny filesystem (to fill up), or a skip where this process may not mount one."""
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {result.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
