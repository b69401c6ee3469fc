"""Damaged segments: torn tails and flipped bytes are skipped and counted, never fatal."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spill_testkit import make_batch

from faultd.event import Batch
from faultd.spill import SpillStore
from faultd.spill.segment import HEADER_SIZE, MAGIC, scan_segment

_HYP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Pristine:
    """One segment with records of varied sizes, plus where each record lies."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        d = Path(self._tmp.name) / "spill"
        self.batches: list[Batch] = [
            make_batch(events=1 + (i * 7) % 11, tag=str(i)) for i in range(9)
        ]
        with SpillStore(d, fsync="never") as store:
            for b in self.batches:
                store.append(b)
        [self.path] = list((d / "standard").glob("*.seg"))
        self.data = self.path.read_bytes()
        scan = scan_segment(self.path)
        self.spans = [
            (o, o + HEADER_SIZE + n) for o, n in zip(scan.offsets, scan.lengths, strict=True)
        ]
        assert len(self.spans) == len(self.batches) and self.spans[-1][1] == len(self.data)


PRISTINE = Pristine()


def _reopen(data: bytes) -> tuple[list[str], int, SpillStore, Path]:
    tmp = Path(tempfile.mkdtemp())
    lane = tmp / "spill" / "standard"
    lane.mkdir(parents=True)
    (lane / PRISTINE.path.name).write_bytes(data)
    store = SpillStore(tmp / "spill", fsync="never")
    ids = [i.batch.batch_id for i in store.replay()]
    return ids, store.stats().corrupt_records, store, tmp


@_HYP
@given(cut=st.integers(min_value=0, max_value=len(PRISTINE.data)))
def test_torn_tail_keeps_every_complete_record(cut: int) -> None:
    ids, corrupt, store, tmp = _reopen(PRISTINE.data[:cut])
    try:
        complete = [
            b.batch_id
            for b, (_s, e) in zip(PRISTINE.batches, PRISTINE.spans, strict=True)
            if e <= cut
        ]
        assert ids == complete
        on_boundary = cut == 0 or any(e == cut for _s, e in PRISTINE.spans)
        assert corrupt == (0 if on_boundary else 1)
        # the store stays writable and the new record is readable after the torn one
        extra = make_batch(tag="after-crash")
        store.append(extra)
        assert [i.batch.batch_id for i in store.replay()] == [*complete, extra.batch_id]
    finally:
        store.close()
        shutil.rmtree(tmp)


@_HYP
@given(
    flips=st.lists(
        st.tuples(st.integers(0, len(PRISTINE.data) - 1), st.integers(1, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_flipped_bytes_lose_only_damaged_records(flips: list[tuple[int, int]]) -> None:
    data = bytearray(PRISTINE.data)
    for pos, xor in flips:
        data[pos] ^= xor
    damaged = {
        i
        for i, (s, e) in enumerate(PRISTINE.spans)
        if any(s <= pos < e and data[pos] != PRISTINE.data[pos] for pos, _x in flips)
    }
    ids, corrupt, store, tmp = _reopen(bytes(data))
    try:
        intact = [b.batch_id for i, b in enumerate(PRISTINE.batches) if i not in damaged]
        assert ids == intact
        assert (corrupt >= 1) == bool(damaged)
        assert corrupt <= len(damaged)
        # damaged records are retired: acking the rest removes the segment
        for item in store.replay():
            store.ack(item.ref)
        assert store.stats().segments["standard"] == 0
    finally:
        store.close()
        shutil.rmtree(tmp)


def test_garbage_between_records_resyncs(tmp_path: Path) -> None:
    _s0, e0 = PRISTINE.spans[0]
    junk = b"\x00garbage" + MAGIC + b"\x01" * 40  # includes a false magic with a bad header
    data = PRISTINE.data[:e0] + junk + PRISTINE.data[e0:]
    ids, corrupt, store, tmp = _reopen(data)
    store.close()
    shutil.rmtree(tmp)
    assert ids == [b.batch_id for b in PRISTINE.batches]
    assert corrupt == 1


@pytest.mark.parametrize("content", [b"", b"\xfd", MAGIC * 3, b"not a segment at all" * 10])
def test_degenerate_files_never_raise(content: bytes, spill_dir: Path, batch: Any) -> None:
    lane = spill_dir / "critical"
    lane.mkdir(parents=True)
    (lane / "00000000000000000001-0000000001.seg").write_bytes(content)
    (lane / "README").write_text("not ours")  # foreign files are ignored
    (lane / "00000000000000000000-0000000000.seg.ack").write_bytes(b"orphan")
    with SpillStore(spill_dir) as store:
        assert list(store.replay()) == []
        assert store.stats().corrupt_records == (1 if content else 0)
        store.append(batch("critical"))
        assert len(list(store.replay())) == 1
    assert not (lane / "00000000000000000000-0000000000.seg.ack").exists()
