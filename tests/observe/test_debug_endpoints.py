"""Task introspection and the debug endpoints (issue 6).

SIGUSR1 to a real `faultd run` process dumps every asyncio task to its log;
/debug/tasks answers loopback peers; the peer check refuses any other address
(tested directly: tests never connect from or to non-loopback addresses), and
/debug/* is 404 when metrics.debug_endpoints is false.  SIGUSR2 writes the raw
ring (0600).
"""

from __future__ import annotations

import signal
import socket
import stat
from pathlib import Path

import aiohttp
import pytest
from observe_kit import eventually, syslog_line

from faultd.observe.http import _is_loopback
from faultd.observe.ring import RawDatagram, read_dump
from support.daemon import DaemonProcess, base_config, free_port, running_daemon, udp_sender


async def get(url: str, local: str | None = None) -> tuple[int, str]:
    connector = aiohttp.TCPConnector(local_addr=(local, 0) if local else None)
    async with aiohttp.ClientSession(connector=connector) as session, \
            session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
        return response.status, await response.text()


def test_peer_check() -> None:
    for peer in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "/run/faultd.sock"):
        assert _is_loopback(peer), peer
    for peer in ("192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "", None, "junk"):
        assert not _is_loopback(peer), peer


@pytest.mark.integration
async def test_sigusr1_task_dump_and_debug_peer_check(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_STREAM)
    syslog_port = free_port()
    raw = base_config(tmp_path / "state", None, syslog={"listen": f"127.0.0.1:{syslog_port}"},
                      metrics={"listen": f"127.0.0.1:{port}"})
    proc = DaemonProcess(tmp_path, raw)
    proc.start()
    try:
        await proc.wait_log("ready")
        mark = len(proc.log())
        proc.signal(signal.SIGUSR1)
        await proc.wait_log("task dump requested (SIGUSR1)", after=mark)
        await proc.wait_log("asyncio tasks", after=mark)
        await proc.wait_log("--- loop-lag (pending)", after=mark)
        await proc.wait_log('File "', after=mark)  # stacks, not just names

        status, text = await get(f"http://127.0.0.1:{port}/debug/tasks")
        assert status == 200
        assert "asyncio tasks" in text and "loop-lag" in text

        # SIGUSR2: the ring goes to the state directory, owner-only
        sender = udp_sender(("127.0.0.1", syslog_port))
        sender.send(syslog_line("core-1", "%LINK-3-UPDOWN: Interface Gi0/1 down"))
        sender.close()
        state = tmp_path / "state"

        async def ring_rows() -> list[RawDatagram]:
            status, text = await get(f"http://127.0.0.1:{port}/debug/ring")
            assert status == 200
            return [RawDatagram.from_json(line) for line in text.splitlines()]

        rows = await eventually(ring_rows)
        assert rows[0].source == "syslog" and b"core-1" in rows[0].data
        proc.signal(signal.SIGUSR2)
        dumps = await eventually(lambda: list(state.glob("ring-*.jsonl")))
        await proc.wait_log("SIGUSR2: wrote the last 1 raw datagrams")
        assert stat.S_IMODE(dumps[0].stat().st_mode) == 0o600
        assert [r.data for r in read_dump(dumps[0])] == [rows[0].data]

        # A non-loopback peer is refused by `_is_loopback` (test_peer_check).  No
        # connection from a non-loopback address is made here: tests only ever
        # target 127.0.0.0/8, ::1 or namespaces they create.
    finally:
        proc.signal(signal.SIGTERM)
        assert await proc.wait_exit(20) == 0


async def test_debug_endpoints_can_be_disabled(tmp_path: Path) -> None:
    raw = base_config(tmp_path / "state", None,
                      metrics={"listen": "127.0.0.1:0", "debug_endpoints": False})
    async with running_daemon(tmp_path, raw) as daemon:
        host, port = daemon.observer.bound[0]
        for name in ("tasks", "ring"):
            status, _ = await get(f"http://{host}:{port}/debug/{name}")
            assert status == 404
        status, _ = await get(f"http://{host}:{port}/healthz")
        assert status == 200
