"""The fixture every CLI test uses: a tree served by `antsup run` in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.helpers import Served, serve


@pytest.fixture
def served(tmp_path: Path, no_leftover_processes: None) -> Iterator[Served]:
    running = serve(tmp_path)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            assert running.stop() == 0, running.log_text()
