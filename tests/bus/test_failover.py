"""Losing parts mid-stream loses nothing: an accumulator, the only server, one of three."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import pytest

from bus.harness import (
    alarm,
    assert_no_event_twice_in_a_batch,
    bus_config,
    messages,
    send_paced,
    wait_until,
)
from bus.natsserver import NatsServer, cluster, wait_jetstream
from faultd.bus.roles import AccumulatorRole, CollectorRole
from support.daemon import DaemonProcess, running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def sent_texts(lines: list[bytes]) -> set[str]:
    return {line.decode().split(" - - - ")[1] for line in lines}


async def test_killed_accumulator_partitions_move_and_nothing_is_lost(
        tmp_path: Path, nats_server: NatsServer, endpoint: RecordingEndpoint) -> None:
    urls = [nats_server.url]
    procs = [DaemonProcess(tmp_path, bus_config(tmp_path, name, "accumulator", urls,
                                                endpoint.url), name)
             for name in ("acc-a", "acc-b")]
    try:
        for proc in procs:
            proc.start()
        for proc, name in zip(procs, ("acc-a", "acc-b"), strict=True):
            await proc.wait_log(f"member {name} took partition", timeout=20)
        raw = bus_config(tmp_path, "col-1", "collector", urls, None)
        async with running_daemon(tmp_path / "col-1", raw) as col:
            sock = udp_sender(col.bound_address("syslog"))
            lines = [alarm(i) for i in range(1200)]
            await send_paced(sock, lines[:600])
            # acc-b has taken events into its windows; kill it before they settle
            await endpoint.wait_for(lambda: len(messages(endpoint)) >= 100, timeout=15)
            mark = len(procs[0].log())
            procs[1].kill()
            await send_paced(sock, lines[600:])
            # acc-b's leases expire (1.5 s TTL) and acc-a takes its partitions
            await procs[0].wait_log("member acc-a took partition", timeout=10, after=mark)
            await endpoint.wait_for(lambda: sent_texts(lines) <= set(messages(endpoint)),
                                    timeout=30)
        log_a = procs[0].log()[mark:]
        log_b = procs[1].log()
    finally:
        for proc in procs:
            proc.kill()
    got = Counter(messages(endpoint))
    assert set(got) == sent_texts(lines)
    assert_no_event_twice_in_a_batch(endpoint)
    # Partitions acc-b held when it died come back rewound (its unacked messages
    # redelivered at once).  acc-a may also take a partition it had released for
    # acc-b that acc-b never claimed before the kill: that one needs no rewind.
    held_by_b: set[int] = set()
    for row in log_b.splitlines():
        if "member acc-b took partition" in row:
            held_by_b.add(int(row.split("took partition ")[1].split()[0]))
        elif "member acc-b released partition" in row:
            held_by_b.discard(int(row.split("released partition ")[1].split()[0]))
    takeovers = {int(row.split("took partition ")[1].split()[0]): row
                 for row in log_a.splitlines() if "member acc-a took partition" in row}
    assert held_by_b and held_by_b <= set(takeovers)
    assert all("rewound: previous holder expired" in takeovers[p] for p in held_by_b)


async def test_collector_cut_off_spills_and_catches_up(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    server = NatsServer(tmp_path)
    server.start()
    try:
        await wait_jetstream([server.url])
        urls = [server.url]
        async with contextlib.AsyncExitStack() as stack:
            acc = await stack.enter_async_context(running_daemon(
                tmp_path / "acc", bus_config(tmp_path, "acc", "accumulator", urls,
                                             endpoint.url)))
            col = await stack.enter_async_context(running_daemon(
                tmp_path / "col", bus_config(tmp_path, "col", "collector", urls, None)))
            role = col._bus
            assert isinstance(role, CollectorRole) and isinstance(acc._bus, AccumulatorRole)
            sock = udp_sender(col.bound_address("syslog"))
            lines = [alarm(i) for i in range(450)]
            await send_paced(sock, lines[:150])
            await endpoint.wait_for(lambda: len(messages(endpoint)) >= 150, timeout=15)

            server.kill()
            await wait_until(lambda: not role.nc.is_connected, 10, "collector disconnected")
            await send_paced(sock, lines[150:])
            outbox = role.publisher._outbox
            await wait_until(lambda: outbox.stats().events_pending >= 300, 10, "outbox write")
            assert len(messages(endpoint)) == 150

            server.start()  # same port, same store: the stream is still there
            await endpoint.wait_for(lambda: sent_texts(lines) <= set(messages(endpoint)),
                                    timeout=30)
            await wait_until(lambda: outbox.stats().records_pending == 0, 10, "outbox acked")
    finally:
        server.kill()
    got = Counter(messages(endpoint))
    assert set(got) == sent_texts(lines)
    assert_no_event_twice_in_a_batch(endpoint)


async def test_three_server_cluster_loses_one_server_and_no_event(
        tmp_path: Path, endpoint: RecordingEndpoint) -> None:
    servers = cluster(tmp_path, 3)
    try:
        for server in servers:
            server.start()
        urls = [s.url for s in servers]
        await wait_jetstream(urls, replicas=3, timeout=30)
        async with contextlib.AsyncExitStack() as stack:
            accs = [await stack.enter_async_context(running_daemon(
                tmp_path / name, bus_config(tmp_path, name, "accumulator", urls, endpoint.url,
                                            replicas=3, lease_ttl_seconds=3)))
                for name in ("acc-a", "acc-b")]
            col = await stack.enter_async_context(running_daemon(
                tmp_path / "col", bus_config(tmp_path, "col", "collector", urls, None,
                                             replicas=3)))
            roles = [a._bus for a in accs]
            await wait_until(lambda: sum(len(r.consumers) for r in roles) == 4,  # type: ignore[union-attr]
                             20, "partitions taken")
            sock = udp_sender(col.bound_address("syslog"))
            lines = [alarm(i) for i in range(900)]
            await send_paced(sock, lines[:300])
            await endpoint.wait_for(lambda: len(messages(endpoint)) >= 100, timeout=20)
            servers[0].kill()
            await send_paced(sock, lines[300:])
            await endpoint.wait_for(lambda: sent_texts(lines) <= set(messages(endpoint)),
                                    timeout=60)
    finally:
        for server in servers:
            server.kill()
    got = Counter(messages(endpoint))
    assert set(got) == sent_texts(lines)
    assert_no_event_twice_in_a_batch(endpoint)


async def test_unreachable_bus_refuses_to_start(tmp_path: Path) -> None:
    from support.daemon import free_port

    raw = bus_config(tmp_path, "col", "collector", [f"nats://127.0.0.1:{free_port()}"], None,
                     connect_timeout_seconds=0.5)
    with pytest.raises(OSError, match="bus: cannot connect"):
        async with running_daemon(tmp_path / "col", raw):
            pass
    await asyncio.sleep(0)
