"""Two collectors and two accumulators on one real nats-server, one real HTTP endpoint."""

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
    rfc5424,
    send_paced,
    wait_until,
)
from bus.natsserver import NatsServer
from faultd.bus.roles import AccumulatorRole
from support.daemon import running_daemon, udp_sender
from support.endpoint import RecordingEndpoint

pytestmark = pytest.mark.integration


async def test_two_collectors_two_accumulators_deliver_every_event_once(
        tmp_path: Path, nats_server: NatsServer, endpoint: RecordingEndpoint) -> None:
    urls = [nats_server.url]
    async with contextlib.AsyncExitStack() as stack:
        accs = [await stack.enter_async_context(running_daemon(
            tmp_path / name, bus_config(tmp_path, name, "accumulator", urls, endpoint.url)))
            for name in ("acc-a", "acc-b")]
        cols = [await stack.enter_async_context(running_daemon(
            tmp_path / name, bus_config(tmp_path, name, "collector", urls, None)))
            for name in ("col-1", "col-2")]
        roles = [a._bus for a in accs]
        assert all(isinstance(r, AccumulatorRole) for r in roles)
        await wait_until(lambda: sum(len(r.consumers) for r in roles) == 4  # type: ignore[union-attr]
                         and all(r.consumers for r in roles), 10, "partitions spread")  # type: ignore[union-attr]
        lines = [alarm(i) for i in range(600)]
        for index, col in enumerate(cols):
            await send_paced(udp_sender(col.bound_address("syslog")), lines[index::2])
        await endpoint.wait_for(lambda: len(messages(endpoint)) >= 600, timeout=20)
        await wait_until(lambda: all(r.tracker.held_messages() == 0 for r in roles),  # type: ignore[union-attr]
                         10, "every message acked")
    sent = {line.decode().split(" - - - ")[1] for line in lines}
    got = Counter(messages(endpoint))
    assert set(got) == sent
    assert max(got.values()) == 1  # steady state: exactly once, not merely at least once
    assert len({b["batch_id"] for b in endpoint.accepted}) == len(endpoint.accepted)
    assert_no_event_twice_in_a_batch(endpoint)
    by_member = Counter(b["collector"] for b in endpoint.accepted)
    assert set(by_member) == {"acc-a", "acc-b"}
    # all events of a node went through one accumulator
    owner: dict[str, set[str]] = {}
    for batch in endpoint.accepted:
        for event in batch["events"]:
            owner.setdefault(event["node_id"], set()).add(batch["collector"])
    assert all(len(members) == 1 for members in owner.values())


async def test_same_alarm_via_two_collectors_is_folded_once(
        tmp_path: Path, nats_server: NatsServer, endpoint: RecordingEndpoint) -> None:
    urls = [nats_server.url]
    async with contextlib.AsyncExitStack() as stack:
        acc = await stack.enter_async_context(running_daemon(
            tmp_path / "acc", bus_config(tmp_path, "acc", "accumulator", urls, endpoint.url,
                                         partitions=2)))
        cols = [await stack.enter_async_context(running_daemon(
            tmp_path / name, bus_config(tmp_path, name, "collector", urls, None, partitions=2)))
            for name in ("col-1", "col-2")]
        role = acc._bus
        assert isinstance(role, AccumulatorRole)
        await wait_until(lambda: len(role.consumers) == 2, 10, "partitions taken")
        line = rfc5424("core-7", "%LINK-3-UPDOWN: Interface Te0/0/1, changed state to down")
        for col in cols:  # the device sends the same alarm to both collectors
            udp_sender(col.bound_address("syslog")).send(line)
        await endpoint.wait_for(lambda: endpoint.events(), timeout=10)
        await wait_until(lambda: role.tracker.held_messages() == 0, 10, "acks")
        durable = f"FAULTD_EVENTS_p{_partition('core-7', 2)}"
        for _ in range(100):  # acks are published asynchronously: poll the server's view
            info = await role.js.consumer_info("FAULTD_EVENTS", durable)
            if info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.05)
        assert info.num_ack_pending == 0 and info.num_pending == 0
        assert info.delivered.stream_seq == 2  # both copies went through the bus
    events = endpoint.events()
    assert len(events) == 1
    assert events[0]["duplicates"] == 1 and events[0]["node_id"] == "core-7"


def _partition(node: str, partitions: int) -> int:
    from faultd.bus.partition import partition_of

    return partition_of(node, partitions)


async def test_join_and_graceful_leave_move_partitions_without_redelivery(
        tmp_path: Path, nats_server: NatsServer, endpoint: RecordingEndpoint) -> None:
    urls = [nats_server.url]
    lines = [alarm(i) for i in range(900)]
    async with contextlib.AsyncExitStack() as stack:
        col = await stack.enter_async_context(running_daemon(
            tmp_path / "col", bus_config(tmp_path, "col", "collector", urls, None)))
        sock = udp_sender(col.bound_address("syslog"))
        acc_a = await stack.enter_async_context(running_daemon(
            tmp_path / "acc-a", bus_config(tmp_path, "acc-a", "accumulator", urls, endpoint.url)))
        role_a = acc_a._bus
        assert isinstance(role_a, AccumulatorRole)
        await wait_until(lambda: len(role_a.consumers) == 4, 10, "acc-a holds all")
        await send_paced(sock, lines[:300])

        async with running_daemon(tmp_path / "acc-b", bus_config(
                tmp_path, "acc-b", "accumulator", urls, endpoint.url)) as acc_b:
            role_b = acc_b._bus
            assert isinstance(role_b, AccumulatorRole)
            await wait_until(lambda: role_b.consumers and len(role_a.consumers) + len(
                role_b.consumers) == 4, 10, "partitions split on join")
            moved = set(role_b.consumers)
            await send_paced(sock, lines[300:600])
            await endpoint.wait_for(lambda: len(messages(endpoint)) >= 600, timeout=15)
        # acc-b left gracefully (released its leases): acc-a takes them back
        await wait_until(lambda: set(role_a.consumers) >= moved, 10, "partitions back")
        await send_paced(sock, lines[600:])
        await endpoint.wait_for(lambda: len(messages(endpoint)) >= 900, timeout=15)
        metrics = acc_a.metrics.registry
        redelivered = metrics.get_sample_value("faultd_bus_redeliveries_total")
    got = Counter(messages(endpoint))
    assert len(got) == 900 and max(got.values()) == 1  # graceful moves: no event twice
    assert redelivered == 0
    assert {b["collector"] for b in endpoint.accepted} == {"acc-a", "acc-b"}
