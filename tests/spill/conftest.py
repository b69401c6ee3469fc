"""Fixtures for the spill tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from spill_testkit import FakeClock, make_batch

from faultd.event import Batch

MakeBatch = Callable[..., Batch]


@pytest.fixture
def batch() -> MakeBatch:
    return make_batch


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def spill_dir(tmp_path: Path) -> Path:
    return tmp_path / "spill"
