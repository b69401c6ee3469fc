"""Batches of events relayed by receive workers (attributes as JSON text,
faultd.event.RelayedEvent) evaluate like local ones, in thread mode too, and
publish on the bus as plain FaultEvents."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec

from faultd.bus.codec import decode_event, encode_event
from faultd.correlate import AsyncCorrelator
from faultd.event import Batch, FaultEvent, decode_relayed, encode_batch, encode_relayed

from .conftest import T0, batch, ev


def relayed(events: list[FaultEvent]) -> list[FaultEvent]:
    copies = [msgspec.structs.replace(e, attributes=dict(e.attributes)) for e in events]
    return decode_relayed(encode_relayed(copies))


def summary(result: object) -> dict[str, object]:
    fields = msgspec.structs.asdict(result)  # type: ignore[call-overload]
    return {k: v for k, v in fields.items() if k not in ("changes",)}


async def _evaluate(policy: Path, state: Path, b: Batch, body: bytes | None) -> dict[str, object]:
    correlator = AsyncCorrelator(policy, state, mode="thread", clock=lambda: T0)
    await correlator.start()
    try:
        return summary(await correlator.evaluate(b, body))
    finally:
        await correlator.close()


async def test_thread_mode_evaluates_a_relayed_batch_like_a_local_one(
    write_policy: Callable[..., Path], tmp_path: Path
) -> None:
    events = [ev(f"acc-{i:03d}", ts=T0 + 1, attributes={"ifIndex": i}) for i in range(1, 40)]
    events.append(ev("agg-1", ts=T0 + 2))
    local = batch(events, batch_id="b1")
    remote = batch(relayed(events), batch_id="b1")
    assert any(type(e.attributes) is msgspec.Raw for e in remote.events)
    policy = write_policy()
    want = await _evaluate(policy, tmp_path / "a", local, None)
    assert want["opened"]
    assert await _evaluate(policy, tmp_path / "b", remote, encode_batch(remote)) == want
    assert await _evaluate(policy, tmp_path / "c", remote, None) == want


def test_a_relayed_event_publishes_as_a_plain_faultevent() -> None:
    (event,) = relayed([ev("acc-1", attributes={"ifIndex": 7, "name": "ge-0/0/1"})])
    back = decode_event(encode_event(event))
    assert type(back) is FaultEvent
    assert back.attributes == {"ifIndex": 7, "name": "ge-0/0/1"}
