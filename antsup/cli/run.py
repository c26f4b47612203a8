"""`antsup run MODULE`: antsup as its own service, in the foreground, like `celery worker`.

MODULE is imported first (from the current directory too), so its Worker classes exist, and
may define `ANTSUP` (or `config`): a dict of `antsup.start()` keyword arguments, e.g.
`ANTSUP = {"queues": {"default": 10, "mailers": 50}, "max_attempts"...}`. Command-line
options override it. The first SIGINT/SIGTERM stops the tree in order (running jobs get their
shutdown grace); a second SIGINT kills it at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import antsup
from antsup.cli.connection import DEFAULT_DATA_DIR

log = logging.getLogger("antsup.cli")


def parse_queues(text: str) -> dict[str, int]:
    """ "default=10,mailers=50" -> {"default": 10, "mailers": 50}."""
    queues: dict[str, int] = {}
    for part in text.split(","):
        name, sep, limit = part.strip().partition("=")
        if not sep or not name or not limit.strip().isdigit():
            raise ValueError(
                f"--queues is NAME=LIMIT,... (like default=10,mailers=50), not {text!r}"
            )
        queues[name.strip()] = int(limit)
    return queues


def start_kwargs(module: Any, args: argparse.Namespace) -> dict[str, Any]:
    """start() arguments: the module's ANTSUP/config dict, then the command line on top."""
    settings = getattr(module, "ANTSUP", None)
    if settings is None:
        settings = getattr(module, "config", None)
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise ValueError(
            f"{args.module}.ANTSUP (or .config) must be a dict of antsup.start() arguments"
        )
    kwargs = dict(settings)
    chosen = {
        "workers": args.workers,
        "threads": args.threads,
        "queues": parse_queues(args.queues) if args.queues else None,
        "data_dir": args.data_dir or os.environ.get("ANTSUP_DATA_DIR"),
        "fsync": args.fsync,
    }
    kwargs.update({key: value for key, value in chosen.items() if value is not None})
    kwargs.setdefault("data_dir", DEFAULT_DATA_DIR)
    modules = list(kwargs.get("modules") or [])
    kwargs["modules"] = [args.module, *(m for m in modules if m != args.module)]
    return kwargs


def run(args: argparse.Namespace) -> int:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m`: the application's own modules
    try:
        module = importlib.import_module(args.module)
    except ImportError as exc:
        raise ValueError(f"cannot import {args.module!r}: {exc}") from None
    kwargs = start_kwargs(module, args)
    stopping = threading.Event()
    signals_seen: list[int] = []
    tree_pid: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signals_seen.append(signum)
        if len(signals_seen) == 1:
            stopping.set()
        elif signum == signal.SIGINT and tree_pid:
            log.warning("second interrupt: killing the tree now")
            with contextlib.suppress(ProcessLookupError):
                os.kill(tree_pid[0], signal.SIGKILL)  # its guardian sweeps what is left

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        tree = antsup.start(**kwargs)
        tree_pid.append(tree.pid)
        log.info(
            "antsup running: pid %d, %d workers, queues %s, data dir %s, socket %s",
            tree.pid,
            tree.config.workers,
            tree.config.queues,
            tree.config.data_path,
            tree.config.address,
        )
        while not stopping.wait(0.5):
            if tree.supervisor.exitcode is not None:
                log.error("the tree stopped on its own (exit code %s)", tree.supervisor.exitcode)
                tree.stop()
                return 1
        log.info(
            "stopping: running jobs get %.0fs to finish (Ctrl-C again to kill)",
            tree.config.shutdown_grace,
        )
        code = tree.stop()
        log.info("stopped (exit code %d)", code)
        return 0 if len(signals_seen) == 1 else 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
