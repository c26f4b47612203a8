"""DataDirLock across real processes: refused while held, freed when the holder is SIGKILLed."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from antsup.journal import DataDirLock, DataDirLocked

HOLDER = """
import sys
from antsup.journal import DataDirLock
lock = DataDirLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
print("released", flush=True)
"""


@pytest.fixture(autouse=True)
def no_children_left(no_leftover_processes: None) -> Iterator[None]:
    yield


def start_holder(directory: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert read_line(holder, timeout=20) == "locked"
    return holder


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "holder process did not answer in time"
    return process.stdout.readline().strip()


def test_second_holder_in_another_process_is_refused(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    try:
        with pytest.raises(DataDirLocked, match=f"in use by process {holder.pid}"):
            DataDirLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.stdout.close()


def test_lock_is_freed_when_the_holder_is_sigkilled(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=10) == -signal.SIGKILL
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.close()
    holder.stdout.close()
    with DataDirLock(tmp_path) as lock:
        assert lock.held
        assert (tmp_path / "LOCK").read_text().strip().isdigit()


def test_lock_is_freed_by_release(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    assert holder.stdin is not None
    holder.stdin.write("go\n")
    holder.stdin.flush()
    assert read_line(holder, timeout=20) == "released"
    assert holder.wait(timeout=10) == 0
    holder.stdin.close()
    assert holder.stdout is not None
    holder.stdout.close()
    lock = DataDirLock(tmp_path)
    lock.acquire()
    lock.release()


def test_second_holder_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with DataDirLock(tmp_path), pytest.raises(DataDirLocked, match=str(tmp_path)):
        DataDirLock(tmp_path).acquire()
    with DataDirLock(tmp_path):
        pass
