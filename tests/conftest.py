"""Shared fixtures: a real recording HTTP endpoint on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from support.endpoint import RecordingEndpoint


@pytest.fixture
async def endpoint() -> AsyncIterator[RecordingEndpoint]:
    ep = RecordingEndpoint()
    await ep.start()
    yield ep
    await ep.stop()
