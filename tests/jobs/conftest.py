"""Fixtures for integration tests on real trees: small, in a tmp data_dir, always stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import antsup

StartTree = Callable[..., antsup.Tree]


@pytest.fixture
def start_tree(tmp_path: Path, no_leftover_processes: None) -> Iterator[StartTree]:
    """`start_tree(**settings)`: a tree on tmp_path/data (1 worker by default), always stopped."""
    trees: list[antsup.Tree] = []

    def start(**settings: Any) -> antsup.Tree:
        settings.setdefault("workers", 1)
        settings.setdefault("data_dir", tmp_path / "data")
        settings.setdefault("shutdown_grace", 5.0)
        tree = antsup.start(**settings)
        trees.append(tree)
        return tree

    yield start
    for tree in trees:
        tree.stop()  # stopping twice is harmless


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """The execution log jobs append to."""
    return tmp_path / "runs.log"
