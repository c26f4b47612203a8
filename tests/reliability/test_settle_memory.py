"""The queue manager runs without the automatic cyclic collector and settles its memory once
a second: cyclic garbage is still collected, and what lives on is no longer walked."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from antsup.processes.queue_manager import settle_memory


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector_state() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_cycles_are_collected_and_survivors_frozen(collector_state: None) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the cyclic collector can free
    gone = weakref.ref(a)
    del a, b
    survivor = Node()
    settle_memory()
    assert gone() is None
    assert not any(thing is survivor for thing in gc.get_objects())  # frozen: never walked
    kept = weakref.ref(survivor)
    del survivor  # frozen, yet freed by reference counting as soon as nothing holds it
    assert kept() is None
