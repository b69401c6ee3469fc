"""Sliced batch bodies: the same bytes as encode_batch, a valid gzip stream, and the
event loop gets a turn between slices."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from faultd.dispatch.encode import encode_batch_sliced, gzip_sliced
from faultd.event import Batch, FaultEvent, encode_batch

# Text that could confuse a splice: quotes, backslashes, the key itself, non-ASCII.
text = st.one_of(st.text(max_size=20), st.sampled_from(['"events":[]', '\\"events\\":[]', "ö€💥"]))
scalar = st.one_of(text, st.integers(-2**53, 2**53), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False))


@st.composite
def events(draw: Any) -> FaultEvent:
    return FaultEvent(event_id=draw(text), node_id=draw(text), source="syslog",
                      severity=draw(st.integers(1, 4)), fault_code=draw(text),
                      message=draw(text), timestamp=draw(st.floats(0, 2e9)),
                      received_at=draw(st.floats(0, 2e9)), tier=draw(text),
                      dedup_key=draw(text), duplicates=draw(st.integers(0, 10**6)),
                      attributes=draw(st.dictionaries(text, scalar, max_size=4)))


def batch_of(items: list[FaultEvent], collector: str = "c") -> Batch:
    return Batch(batch_id="b-1", collector=collector, tier="all", lane="standard",
                 trigger="size", opened_at=1.5, emitted_at=2.25, event_count=len(items),
                 events=items)


@settings(max_examples=150, deadline=None)
@given(items=st.lists(events(), max_size=12), collector=text, slice_events=st.integers(1, 5))
def test_sliced_body_is_byte_identical(items: list[FaultEvent], collector: str,
                                       slice_events: int) -> None:
    batch = batch_of(items, collector)
    assert asyncio.run(encode_batch_sliced(batch, slice_events)) == encode_batch(batch)


def test_slice_boundaries_are_byte_identical() -> None:
    event = FaultEvent(event_id="e", node_id="n", source="syslog", severity=4, fault_code="X",
                       message='say "hi" \\ [x]', timestamp=1.0, received_at=2.0,
                       attributes={"k": "v", "n": 1})
    for count in (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11):
        batch = batch_of([event] * count)
        assert asyncio.run(encode_batch_sliced(batch, 3)) == encode_batch(batch), count


async def test_the_loop_gets_a_turn_between_slices() -> None:
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    event = FaultEvent(event_id="e", node_id="n", source="syslog", severity=4, fault_code="X",
                       message="m", timestamp=1.0, received_at=2.0)
    counter = asyncio.create_task(count_turns())
    await asyncio.sleep(0)
    before = turns
    body = await encode_batch_sliced(batch_of([event] * 100), 10)  # 10 slices
    assert turns - before >= 9
    before = turns
    data = await gzip_sliced(body * 50, slice_bytes=len(body))  # 50 slices
    assert turns - before >= 49
    counter.cancel()
    assert gzip.decompress(data) == body * 50


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=5000), slice_bytes=st.integers(1, 700))
def test_sliced_gzip_decompresses_to_its_input(data: bytes, slice_bytes: int) -> None:
    assert gzip.decompress(asyncio.run(gzip_sliced(data, slice_bytes=slice_bytes))) == data
