"""The real `antsup` script against a real tree served by `antsup run cli_app`."""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import pid_alive, wait_until

from cli.helpers import Served, antsup_cmd, antsup_json


def statuses(data_dir: Path) -> dict[int, str]:
    return {job["id"]: job["status"] for job in antsup_json(data_dir, "jobs", "list")}


def test_jobs_commands(served: Served) -> None:
    data = served.data_dir
    ok = antsup_cmd(data, "enqueue", "cli_app.Ok", "--args", '{"email": "a@b.c"}')
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "job 1 enqueued on queue default"
    bad = antsup_cmd(data, "enqueue", "cli_app.Bad", "--args", "[1]", "--max-attempts", "2")
    assert bad.returncode == 0, bad.stderr
    later = antsup_cmd(data, "enqueue", "cli_app.Ok", "--in", "600", "--queue", "mailers")
    assert "job 3 scheduled on queue mailers, due in 600s" in later.stdout
    wait_until(lambda: statuses(data) == {1: "completed", 2: "failed", 3: "scheduled"}, 10)

    table = antsup_cmd(data, "jobs", "list").stdout
    assert table.splitlines()[0].split() == [
        "ID",
        "STATUS",
        "QUEUE",
        "WORKER",
        "ATTEMPTS",
        "UPDATED",
        "LAST",
        "ERROR",
    ]
    assert "RuntimeError: boom" in table and "2/2" in table
    failed = antsup_json(data, "jobs", "list", "--status", "failed")
    assert [job["id"] for job in failed] == [2]
    assert [j["id"] for j in antsup_json(data, "jobs", "list", "--worker", "cli_app.Ok")] == [1, 3]
    assert [j["id"] for j in antsup_json(data, "jobs", "list", "--queue", "mailers")] == [3]
    assert len(antsup_json(data, "jobs", "list", "--limit", "1")) == 1

    shown = antsup_cmd(data, "jobs", "show", "2").stdout
    assert "status        failed" in shown and "attempts      2 of 2" in shown
    assert shown.count("Traceback (most recent call last)") == 2
    assert 'raise RuntimeError("boom")' in shown
    detail = antsup_json(data, "jobs", "show", "1")
    assert detail["args"] == {"email": "a@b.c"} and detail["result"] == {"email": "a@b.c"}
    assert detail["inserted_at"].endswith("+00:00")

    assert "job 2 retried: now enqueued" in antsup_cmd(data, "jobs", "retry", "2").stdout
    assert "job 3 cancelled" in antsup_cmd(data, "jobs", "cancel", "3").stdout
    assert "job 1 deleted" in antsup_cmd(data, "jobs", "delete", "1").stdout
    wait_until(lambda: statuses(data) == {2: "failed", 3: "cancelled"}, 10)
    assert antsup_json(data, "jobs", "show", "2")["attempts"] == 3


def test_queue_commands_and_user_errors(served: Served) -> None:
    data = served.data_dir
    queues = antsup_json(data, "queues")
    assert {name: info["limit"] for name, info in queues.items()} == {"default": 10, "mailers": 5}
    assert antsup_cmd(data, "queues").stdout.splitlines()[0].split()[:3] == [
        "QUEUE",
        "LIMIT",
        "PAUSED",
    ]
    assert antsup_cmd(data, "queues", "pause", "mailers").stdout.strip() == (
        "queue mailers: limit 5, paused"
    )
    antsup_cmd(data, "enqueue", "cli_app.Ok", "--queue", "mailers")
    assert antsup_json(data, "queues")["mailers"]["counts"]["enqueued"] == 1
    assert "running" in antsup_cmd(data, "queues", "resume", "mailers").stdout
    wait_until(lambda: antsup_json(data, "queues")["mailers"]["counts"]["completed"] == 1, 10)
    assert "limit 2" in antsup_cmd(data, "queues", "scale", "mailers", "2").stdout

    for args, message in [
        (["jobs", "show", "99"], "antsup: no job with id 99"),
        (["jobs", "cancel", "99"], "antsup: no job with id 99"),
        (["queues", "pause", "nope"], "antsup: no queue named 'nope'"),
        (["enqueue", "cli_app.Ok", "--queue", "nope"], "antsup: no queue named 'nope'"),
        (["enqueue", "cli_app.Ok", "--args", "{bad"], "antsup: --args is not valid JSON"),
        (["enqueue", "NoDots"], "antsup: WORKER is a dotted name"),
        (["journal", "repair"], "stop that tree before repairing its journal"),
    ]:
        done = antsup_cmd(data, *args)
        assert done.returncode == 1, (args, done)
        assert len(done.stderr.splitlines()) == 1 and message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


def test_no_tree_running(tmp_path: Path) -> None:
    for args in (["jobs", "list"], ["top", "--once"], ["queues"], ["enqueue", "a.B"]):
        done = antsup_cmd(tmp_path / "empty", *args)
        assert done.returncode == 1
        assert done.stderr.startswith("antsup: no antsup tree is running"), done.stderr
        assert len(done.stderr.splitlines()) == 1


def test_run_stops_in_order_on_sigterm(served: Served) -> None:
    tree = served.tree_pids()
    assert len(tree) >= 6  # root, guardian, core, persistence, queue manager, pool, worker
    assert served.stop(signal.SIGTERM) == 0
    assert "stopped (exit code 0)" in served.log_text()
    wait_until(lambda: not any(pid_alive(pid) for pid in tree))
    assert antsup_cmd(served.data_dir, "jobs", "list").returncode == 1


def test_run_second_interrupt_kills_at_once(served: Served, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    args = f'{{"started": "{started}", "release": "{release}"}}'
    antsup_cmd(served.data_dir, "enqueue", "cli_app.Blocker", "--args", args)
    wait_until(started.exists, 10)
    tree = served.tree_pids()
    served.process.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping" in served.log_text(), 10)
    assert served.process.poll() is None  # waiting for the running job's grace period
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=15) == 130
    assert "killing the tree now" in served.log_text()
    wait_until(lambda: not any(pid_alive(pid) for pid in tree))


def test_run_refuses_a_module_it_cannot_import(tmp_path: Path) -> None:
    done = antsup_cmd(tmp_path, "run", "no_such_module_xyz", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert "antsup: cannot import 'no_such_module_xyz'" in done.stderr
    assert "Traceback" not in done.stderr
