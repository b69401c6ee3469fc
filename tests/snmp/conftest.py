"""Fixtures shared by the SNMP tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faultd.snmp.engine import PysnmpPath
from faultd.snmp.mib import MibNames

MIB_DIR = Path(__file__).resolve().parent.parent / "data" / "mibs"


@pytest.fixture(scope="session")
def mib_names() -> MibNames:
    """Default MIB modules (shared: building it loads ~20 modules)."""
    from faultd.snmp.receiver import default_mib_names

    return default_mib_names()


@pytest.fixture(scope="session")
def pysnmp_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PysnmpPath]:
    """A pysnmp engine accepting community "public", no v3 users."""
    yield PysnmpPath(
        communities=["public"], users=[], state_directory=tmp_path_factory.mktemp("state")
    )
