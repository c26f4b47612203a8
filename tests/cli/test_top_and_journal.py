"""`antsup top` as a person sees it (in a pseudo-terminal), and `antsup journal` on real damage."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess

from conftest import wait_until

from cli.helpers import ANTSUP, Served, antsup_cmd, antsup_json, env_for


def test_top_in_a_terminal_shows_processes_queues_and_failures(served: Served) -> None:
    data = served.data_dir
    antsup_cmd(data, "enqueue", "cli_app.Ok")
    antsup_cmd(data, "enqueue", "cli_app.Bad")
    wait_until(lambda: antsup_json(data, "queues")["default"]["counts"]["failed"] == 1, 10)
    tree_pids = served.tree_pids()
    main, terminal = os.openpty()
    env = {**env_for(data), "COLUMNS": "160", "LINES": "50"}
    viewer = subprocess.Popen(
        [ANTSUP, "top", "--interval", "0.2"], stdout=terminal, stderr=terminal, env=env
    )
    os.close(terminal)
    screen = b""

    def two_frames() -> bool:
        nonlocal screen
        if select.select([main], [], [], 0.1)[0]:
            screen += os.read(main, 65536)
        return screen.count(b"\x1b[2J") >= 2 and screen.rstrip().endswith(b"cli_app.Bad")

    try:
        wait_until(two_frames, 15)
    finally:
        viewer.send_signal(signal.SIGINT)
        assert viewer.wait(timeout=10) == 0
        os.close(main)
    last = screen.decode().split("\x1b[H\x1b[2J")[-1]
    for role in ("root_supervisor", "core_supervisor", "persistence", "queue_manager", "worker"):
        assert role in last
    for pid in tree_pids:
        assert re.search(rf"\b{pid}\b", last), pid
    default = next(line for line in last.splitlines() if line.startswith("default"))
    # QUEUE RUN/LIMIT PAUSED JOBS/S ENQUEUED SCHEDULED RUNNING RETRYING COMPLETED FAILED CANCELLED
    assert default.split()[1:3] == ["0/10", "no"]
    assert default.split()[4:] == ["0", "0", "0", "0", "1", "1", "0"]
    assert "LATEST FAILURES (1 shown)" in last
    assert "cli_app.Bad" in last and "RuntimeError: boom" in last


def test_top_once_prints_one_plain_snapshot(served: Served) -> None:
    done = antsup_cmd(served.data_dir, "top", "--once")
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stdout
    assert "PROCESSES" in done.stdout and "QUEUES" in done.stdout and "mailers" in done.stdout
    assert "LATEST FAILURES (0 shown)" in done.stdout


def test_journal_verify_and_repair(served: Served) -> None:
    data = served.data_dir
    for _ in range(3):
        antsup_cmd(data, "enqueue", "cli_app.Ok")
    wait_until(lambda: antsup_json(data, "queues")["default"]["counts"]["completed"] == 3, 10)
    assert served.stop() == 0
    ok = antsup_cmd(data, "journal", "verify")
    assert ok.returncode == 0 and ": OK" in ok.stdout, ok
    segment = max((data / "journal").glob("*.log"), key=lambda p: p.stat().st_size)
    raw = bytearray(segment.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte in the middle: damage, not a torn tail
    segment.write_bytes(bytes(raw))
    damaged = antsup_cmd(data, "journal", "verify")
    assert damaged.returncode == 1
    assert "DAMAGED" in damaged.stdout and f"damage: {segment}" in damaged.stdout
    repaired = antsup_cmd(data, "journal", "repair")
    assert repaired.returncode == 0, repaired
    assert "moved aside" in repaired.stdout
    assert antsup_cmd(data, "journal", "verify").returncode == 0
