"""The bus building blocks against a real nats-server: partitions, acks, setup checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from prometheus_client import CollectorRegistry

from bus.natsserver import NatsServer
from faultd.accumulator import Accumulator
from faultd.bus.busmetrics import AccumulatorMetrics
from faultd.bus.codec import decode_event, encode_event
from faultd.bus.connection import (
    BusError,
    check_server_version,
    connect,
    ensure_consumer,
    ensure_stream,
)
from faultd.bus.partition import durable_for, partition_of, rendezvous_owner, stable_hash
from faultd.bus.tracker import AckTracker
from faultd.config import AccumulatorConfig, BusConfig, TierConfig
from faultd.event import FaultEvent, dedup_key, new_id
from faultd.observe.metrics import Metrics
from support.clock import ManualClock

# -- pure functions ---------------------------------------------------------------------


def test_stable_hash_is_fixed_across_processes() -> None:
    # pinned: a change here remaps every node of every deployment (docs/SCALING.md)
    assert stable_hash("core-1") == 0x8E81D33938A05C07
    assert (partition_of("core-1", 16), partition_of("edge-9", 16)) == (7, 4)
    spread = {partition_of(f"node-{i}", 8) for i in range(200)}
    assert spread == set(range(8))


def test_rendezvous_moves_only_what_the_new_member_gains() -> None:
    before = {p: rendezvous_owner(p, ["a", "b"]) for p in range(64)}
    after = {p: rendezvous_owner(p, ["a", "b", "c"]) for p in range(64)}
    moved = [p for p in range(64) if before[p] != after[p]]
    assert moved and all(after[p] == "c" for p in moved)
    gone = {p: rendezvous_owner(p, ["a"]) for p in range(64)}
    assert all(gone[p] == "a" for p in range(64))
    assert rendezvous_owner(3, []) is None


def test_server_version_check() -> None:
    check_server_version("2.10.0")
    check_server_version("v2.15.1-beta")
    with pytest.raises(BusError, match=r"2\.9\.25 is too old; faultd needs >= 2\.10"):
        check_server_version("2.9.25")


# -- against the server -----------------------------------------------------------------


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect(BusConfig(servers=[nats_server.url]), "test")
    yield client
    await client.close()


def event(node: str, text: str, event_id: str | None = None) -> FaultEvent:
    return FaultEvent(event_id=event_id or new_id(), node_id=node, source="syslog", severity=2,
                      fault_code="LINK-3-UPDOWN", message=text, timestamp=1.0, received_at=1.0,
                      dedup_key=dedup_key(node, "LINK-3-UPDOWN", text))


async def test_tracker_acks_redelivered_and_folded_messages_when_the_batch_settles(
        nc: Client) -> None:
    config = BusConfig(partitions=1, ack_wait_seconds=30)
    js = nc.jetstream()
    await ensure_stream(js, config)
    await ensure_consumer(js, config, 0)
    first = event("n1", "down")
    # the same event twice (a redelivery / republish) and a same-alarm copy from elsewhere
    for ev in (first, first, event("n1", "down"), event("n2", "other")):
        await nc.publish("faultd.events.0", encode_event(ev))  # core publish: no msg-id dedup
    await nc.flush()
    sub = await js.pull_subscribe_bind(durable=durable_for(config.stream, 0),
                                       stream=config.stream)
    msgs = await sub.fetch(4, timeout=2)
    assert len(msgs) == 4
    clock = ManualClock()
    batches = []
    metrics = Metrics()
    acc = Accumulator(AccumulatorConfig(tiers=[TierConfig(
        name="all", match=["*"], window_seconds=1, max_batch_size=100)]), clock=clock,
        emit=batches.append, metrics=metrics, collector="t")
    tracker = AckTracker(acc.offer, AccumulatorMetrics(CollectorRegistry()))
    tracker.start()
    for msg in msgs:
        assert tracker.offer(decode_event(msg.data), msg)
    assert tracker.held_messages() == 4
    clock.advance(1.0)
    (batch,) = batches
    assert [e.message for e in batch.events] == ["down", "other"]
    assert batch.events[0].duplicates == 1  # the copy folded; the redelivery did not count
    info = await js.consumer_info(config.stream, durable_for(config.stream, 0))
    assert info.num_ack_pending == 4
    tracker.settled(batch, "delivered")
    await tracker.drain(5)
    await nc.flush()
    for _ in range(50):
        info = await js.consumer_info(config.stream, durable_for(config.stream, 0))
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    assert info.num_ack_pending == 0 and tracker.held_messages() == 0


async def test_stream_is_created_then_verified(nc: Client) -> None:
    js = nc.jetstream()
    config = BusConfig(stream="S1", subject_prefix="s1", max_age_seconds=3600)
    await ensure_stream(js, config)
    await ensure_stream(js, BusConfig(stream="S1", subject_prefix="s1", max_age_seconds=60))
    info = await js.stream_info("S1")
    assert info.config.max_age == 60 and info.config.num_replicas == 1
    with pytest.raises(BusError, match="retention cannot change in place"):
        await ensure_stream(js, BusConfig(stream="S1", subject_prefix="s1",
                                          retention="workqueue"))


async def test_server_without_jetstream_is_refused(tmp_path: Path) -> None:
    server = NatsServer(tmp_path, "plain", jetstream=False)
    server.start()
    try:
        with pytest.raises(BusError, match="JetStream is not available"):
            await connect(BusConfig(servers=[server.url]), "test")
    finally:
        server.kill()


async def test_user_password_auth(tmp_path: Path) -> None:
    server = NatsServer(tmp_path, "auth",
                        extra='authorization { user: faultd, password: "s3cret-pw" }')
    server.start()
    try:
        good = await connect(BusConfig(servers=[server.url], user="faultd",
                                       password="s3cret-pw"), "test")
        await good.close()
        with pytest.raises(BusError, match="cannot connect"):
            await connect(BusConfig(servers=[server.url], user="faultd", password="wrong",
                                    connect_timeout_seconds=1), "test")
    finally:
        server.kill()


async def test_event_spilled_at_a_full_queue_is_acked_when_its_spill_batch_settles(
        nc: Client, tmp_path: Path) -> None:
    from faultd.overflow import OverflowSpiller
    from faultd.spill.store import SpillStore

    config = BusConfig(partitions=1)
    js = nc.jetstream()
    await ensure_stream(js, config)
    await ensure_consumer(js, config, 0)
    for text in ("a", "b"):
        await nc.publish("faultd.events.0", encode_event(event("n1", text)))
    sub = await js.pull_subscribe_bind(durable=durable_for(config.stream, 0),
                                       stream=config.stream)
    msgs = await sub.fetch(2, timeout=2)
    clock, metrics, batches = ManualClock(), Metrics(), []
    store = SpillStore(tmp_path / "spill")
    spiller = OverflowSpiller(store.append, clock=clock, metrics=metrics, collector="t")
    acc = Accumulator(AccumulatorConfig(queue_maxsize=1, tiers=[TierConfig(
        name="all", match=["*"], window_seconds=1, max_batch_size=100)]), clock=clock,
        emit=batches.append, metrics=metrics, collector="t", overflow=spiller.offer)
    tracker = AckTracker(acc.offer, AccumulatorMetrics(CollectorRegistry()),
                         refused_is_spilled=True)
    spiller.on_settled = tracker.settled
    tracker.start()
    assert all(tracker.offer(decode_event(m.data), m) for m in msgs)
    spiller.flush()  # "b" is on disk: settled as spilled
    clock.advance(1.0)  # "a" leaves in a window batch
    tracker.settled(batches[0], "delivered")
    await tracker.drain(5)
    await nc.flush()
    for _ in range(50):
        info = await js.consumer_info(config.stream, durable_for(config.stream, 0))
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    store.close()
    assert info.num_ack_pending == 0 and tracker.held_messages() == 0
