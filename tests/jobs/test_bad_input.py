"""Bad input gets a clear exception at the call site and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import wait_until

import antsup
from antsup import client as client_module
from jobs.conftest import StartTree
from jobs.workers import Record


def test_unserialisable_and_oversized_args(start_tree: StartTree, log: Path) -> None:
    start_tree()
    with pytest.raises(antsup.EncodeError, match="msgpack-serialisable"):
        Record.perform_async({"log": str(log), "when": object()})
    with pytest.raises(antsup.EncodeError):
        Record.perform_many([{"log": str(log)}, {"bad": {1, 2}}])  # one bad: none inserted
    with pytest.raises(ValueError, match="over the 1048576-byte limit"):
        Record.perform_async({"log": str(log), "blob": "x" * (1024 * 1024 + 1)})
    blob = "x" * 1_000_000  # each job under its limit, 70 MB together: over one request's
    with pytest.raises(ValueError, match="smaller batches"):
        Record.perform_many([{"log": str(log), "blob": blob} for _ in range(70)])
    assert antsup.list_jobs() == []
    assert antsup.stats()["totals"].get("enqueued", 0) == 0  # and the tree still answers


def test_unknown_queue(start_tree: StartTree, log: Path) -> None:
    start_tree()
    with pytest.raises(antsup.UnknownQueue):
        Record.perform_async({"log": str(log)}, queue="nope")
    assert antsup.list_jobs() == []


def test_no_tree_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_current", None)
    monkeypatch.setenv("ANTSUP_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.delenv("ANTSUP_ADDRESS", raising=False)
    with pytest.raises(antsup.NotRunning):
        Record.perform_async({"log": "x"})


def test_second_tree_on_the_same_data_dir(start_tree: StartTree, tmp_path: Path) -> None:
    start_tree()
    with pytest.raises(antsup.DataDirLocked):
        antsup.start(workers=1, data_dir=tmp_path / "data")
    antsup.stats()  # the first tree is untouched


def test_unregistered_worker_fails_and_is_never_imported(
    start_tree: StartTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    module = tmp_path / "sneaky_module.py"
    module.write_text(f"open({str(marker)!r}, 'w').close()\nclass Job:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # importable in the tree, were anyone to try
    tree = start_tree()
    names = ["sneaky_module.Job", "jobs.workers.NotAWorker"]  # a module, a non-Worker class
    ids = [tree.client.call("insert", name, "default", 1, None, None, None, [b"\x80"])[1][0]
           for name in names]  # fmt: skip
    wait_until(lambda: all(antsup.get_job(i).status == "failed" for i in ids))
    for job_id, name in zip(ids, names, strict=True):
        error = antsup.get_job(job_id).errors[0]["error"]
        assert f"unknown worker {name!r}" in error and "registered" in error
    assert not marker.exists()
