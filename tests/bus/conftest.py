"""Bus test fixtures: a real single nats-server with JetStream, reaped after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bus.natsserver import NatsServer, wait_jetstream


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path)
    server.start()
    try:
        await wait_jetstream([server.url])
        yield server
    finally:
        server.kill()
