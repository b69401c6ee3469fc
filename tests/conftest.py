"""Shared fixtures: a real recording HTTP endpoint on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from faultd import native
from support.daemon import DaemonProcess
from support.endpoint import RecordingEndpoint


@pytest.fixture(autouse=True)
def _reap_daemon_processes() -> Iterator[None]:
    yield
    while DaemonProcess.started:
        DaemonProcess.started.pop().kill()


@pytest.fixture
async def endpoint() -> AsyncIterator[RecordingEndpoint]:
    ep = RecordingEndpoint()
    await ep.start()
    yield ep
    await ep.stop()


def pytest_report_header() -> str:
    return f"faultd native modules: {native.state}"
