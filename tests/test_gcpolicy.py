"""settle_heap: startup survivors are frozen; a later call releases what was replaced."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from faultd.gcpolicy import YOUNG_THRESHOLD, settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def _unfreeze() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_young_collections_are_made_rarer() -> None:
    _, older, oldest = gc.get_threshold()
    settle_heap()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, older, oldest)


def test_survivors_are_frozen_out_of_full_collections() -> None:
    keep = [Node() for _ in range(1000)]
    frozen = settle_heap()
    assert frozen >= 1000
    assert frozen == gc.get_freeze_count()
    assert all(not any(n is o for o in gc.get_objects(generation=2)) for n in keep[:3])


def test_a_second_settle_collects_what_was_frozen_and_then_dropped() -> None:
    """The reload path: the old config's objects, frozen at start, must not leak."""
    old = Node()
    ref = weakref.ref(old)
    settle_heap()
    del old
    gc.collect()
    assert ref() is not None  # frozen: a full collection skips it
    settle_heap()
    assert ref() is None
