"""Running the real `antsup` console script, and a served tree (`antsup run cli_app`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from conftest import wait_until

HERE = Path(__file__).parent
ANTSUP = str(Path(sys.executable).parent / "antsup")


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTSUP_")}
    env["ANTSUP_DATA_DIR"] = str(data_dir)
    return env


def antsup_cmd(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANTSUP, *args], env=env_for(data_dir), capture_output=True, text=True, timeout=30
    )


def antsup_json(data_dir: Path, *args: str) -> Any:
    done = antsup_cmd(data_dir, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class Served:
    """`antsup run cli_app` in a subprocess, its stderr in a file."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text()

    def tree_pids(self) -> list[int]:
        """The tree's processes (multiprocessing's resource tracker is not one of them)."""
        children = psutil.Process(self.process.pid).children(recursive=True)
        return [c.pid for c in children if "resource_tracker" not in " ".join(c.cmdline())]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def serve(tmp: Path, *extra: str) -> Served:
    data_dir = tmp / "data"
    log = tmp / "run.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [ANTSUP, "run", "cli_app", "--workers", "1", "--data-dir", str(data_dir), *extra],
            cwd=HERE,
            env=env_for(data_dir),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    served = Served(process, data_dir, log)
    try:
        wait_until(lambda: "antsup running" in served.log_text() or process.poll() is not None, 30)
        assert process.poll() is None, served.log_text()
    except BaseException:
        process.kill()
        process.wait()
        raise
    return served
