"""The Linux process mechanics the supervisor relies on, in one place.

pidfds make a death visible at once, PR_SET_PDEATHSIG and a subreaper make sure nothing outlives
its supervisor, and process groups/sessions let a whole subtree be killed in one sweep.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

import psutil

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the thread that created it exits."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> None:
    """Orphaned descendants get reparented to this process instead of to init."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def pidfd_open(pid: int) -> int | None:
    """A pidfd that becomes readable when `pid` exits, or None if it is already gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def is_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def kill_group(pgid: int) -> None:
    """SIGKILL a process group (a child and whatever it forked), ignoring a group already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def session_members(sid: int, exclude: set[int]) -> list[int]:
    """Live (non-zombie) pids of session `sid`, except those in `exclude`."""
    found = []
    for proc in psutil.process_iter(["status"]):
        if proc.pid in exclude or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if os.getsid(proc.pid) == sid:
                found.append(proc.pid)
        except OSError:
            continue
    return found


def kill_session(sid: int, exclude: set[int], timeout: float = 10.0) -> None:
    """SIGKILL every process of session `sid` (but `exclude`), repeating until none is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = session_members(sid, exclude)
        if not members:
            return
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        reap_any()
        time.sleep(0.01)  # not synchronisation: a bounded retry while the kernel tears down


def reap_any() -> None:
    """Reap every already-dead child of this process that nothing else will reap."""
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return


def reap_adopted(known: set[int]) -> list[int]:
    """Kill and reap children this process did not start (orphans it adopted as subreaper)."""
    adopted: list[int] = []
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return adopted
    for child in children:
        if child.pid in known:
            continue
        adopted.append(child.pid)
        kill_group(child.pid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child.pid, 0)
    return adopted


def close_fds(fds: list[int]) -> None:
    """Close inherited descriptors that belong to someone else (fork children only)."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def describe_exit(code: int | None) -> str:
    """Human-readable exit status: 'exit code 3' or 'killed by SIGKILL'."""
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
