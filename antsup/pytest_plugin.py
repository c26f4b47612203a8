"""pytest fixtures for applications using antsup (loaded through the `pytest11` entry point).

- `antsup_tree`: a real tree (1 worker) on a temporary data directory, stopped after the test;
  the workers import the modules of every registered Worker class, the test module included.
- `antsup_inline` / `antsup_manual`: the `antsup.testing` modes, for the whole test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import antsup
from antsup import testing


@pytest.fixture
def antsup_tree(tmp_path: Path) -> Iterator[antsup.Tree]:
    """A running tree for this test; `antsup.*` and `Worker.perform_*` talk to it."""
    tree = antsup.start(workers=1, data_dir=tmp_path / "antsup_data", shutdown_grace=5.0)
    try:
        yield tree
    finally:
        tree.stop()


@pytest.fixture
def antsup_inline() -> Iterator[testing.TestingClient]:
    """Jobs run as they are enqueued, in the test's process."""
    with testing.inline() as client:
        yield client


@pytest.fixture
def antsup_manual() -> Iterator[testing.TestingClient]:
    """Jobs are recorded; run them with `antsup_manual.drain_queue(queue)`."""
    with testing.manual() as client:
        yield client
