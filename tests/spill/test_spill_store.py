"""SpillStore behaviour on a real filesystem: ordering, acks, restart, cap, permissions."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from faultd.spill import SpillError, SpillFull, SpillStore


def _ids(items: Any) -> list[str]:
    return [it.batch.batch_id for it in items]


def _segs(d: Path, lane: str) -> list[str]:
    return sorted(p.name for p in (d / lane).glob("*.seg"))


def test_replay_critical_first_then_oldest(spill_dir: Path, batch: Any, clock: Any) -> None:
    with SpillStore(spill_dir, segment_max_bytes=4000, clock=clock) as store:
        written = []
        for i in range(12):
            clock.now += 1
            b = batch("critical" if i % 4 == 3 else "standard", tag=str(i))
            written.append(b)
            store.append(b)
        got = list(store.replay())
        crit = [b.batch_id for b in written if b.lane == "critical"]
        std = [b.batch_id for b in written if b.lane == "standard"]
        assert _ids(got) == crit + std
        assert got[0].batch == written[3]  # full round trip of the envelope
        assert [g.written_at for g in got[: len(crit)]] == sorted(
            g.written_at for g in got[: len(crit)]
        )
        assert len(_segs(spill_dir, "standard")) > 1  # rotation happened


def test_replay_lane_selection_and_second_pass(spill_dir: Path, batch: Any) -> None:
    with SpillStore(spill_dir) as store:
        store.append(batch("critical"))
        store.append(batch("standard"))
        assert [i.batch.lane for i in store.replay(lanes=("standard",))] == ["standard"]
        # nothing was acked: a second pass yields everything again (at-least-once)
        assert len(list(store.replay())) == 2
        with pytest.raises(ValueError):
            list(store.replay(lanes=("bogus",)))


def test_segment_deleted_only_when_all_acked(spill_dir: Path, batch: Any) -> None:
    with SpillStore(spill_dir, segment_max_bytes=1 << 20) as store:
        for _ in range(3):
            store.append(batch())
        items = list(store.replay())
        seg = _segs(spill_dir, "standard")
        assert len(seg) == 1
        store.ack(items[2].ref)
        store.ack(items[0].ref)
        store.ack(items[0].ref)  # idempotent
        assert _segs(spill_dir, "standard") == seg
        assert store.stats().records_pending == 1
        store.ack(items[1].ref)
        assert _segs(spill_dir, "standard") == []
        assert not list((spill_dir / "standard").iterdir())  # sidecar gone too
        assert store.stats().records_pending == 0
        store.ack(items[1].ref)  # ack of a deleted segment is ignored


def test_active_segment_sealed_before_replay(spill_dir: Path, batch: Any) -> None:
    with SpillStore(spill_dir) as store:
        store.append(batch())
        [item] = list(store.replay())
        store.append(batch())  # goes to a new segment, not the one being replayed
        assert len(_segs(spill_dir, "standard")) == 2
        store.ack(item.ref)
        assert len(_segs(spill_dir, "standard")) == 1
        assert len(list(store.replay())) == 1


def test_restart_mid_replay_resends_only_unacked(spill_dir: Path, batch: Any) -> None:
    store = SpillStore(spill_dir, segment_max_bytes=3000)
    written = [batch("critical" if i < 2 else "standard", tag=str(i)) for i in range(8)]
    for b in written:
        store.append(b)
    acked = []
    for n, item in enumerate(store.replay()):
        if n % 2 == 0:
            store.ack(item.ref)
            acked.append(item.batch.batch_id)
        if n == 5:
            break
    store.close()

    store = SpillStore(spill_dir)
    again = _ids(store.replay())
    expected = [b.batch_id for b in written if b.batch_id not in acked]
    assert again == expected
    assert store.stats().records_pending == len(expected)
    for item in store.replay():
        store.ack(item.ref)
    store.close()
    for lane in ("critical", "standard"):
        assert not list((spill_dir / lane).iterdir())
    with SpillStore(spill_dir) as store:
        assert list(store.replay()) == []


def test_restart_after_crash_without_close(spill_dir: Path, batch: Any, tmp_path: Path) -> None:
    """Copy the directory while the store is still open: what a crash leaves behind."""
    import shutil

    store = SpillStore(spill_dir, fsync="never")
    written = [batch(tag=str(i)) for i in range(4)]
    for b in written:
        store.append(b)
    items = list(store.replay())
    store.ack(items[0].ref)
    crashed = tmp_path / "crashed"
    shutil.copytree(spill_dir, crashed)
    store.close()
    with SpillStore(crashed) as again:
        assert _ids(again.replay()) == [b.batch_id for b in written[1:]]


def test_torn_ack_sidecar_is_safe(spill_dir: Path, batch: Any) -> None:
    with SpillStore(spill_dir) as store:
        written = [batch(tag=str(i)) for i in range(4)]
        for b in written:
            store.append(b)
        items = list(store.replay())
        store.ack(items[0].ref)
        store.ack(items[1].ref)
    [ack] = list((spill_dir / "standard").glob("*.ack"))
    data = ack.read_bytes()
    assert len(data) == 24
    ack.write_bytes(data[:12] + b"\x00\xff" * 3 + data[12:18])  # damaged 2nd entry + torn tail
    with SpillStore(spill_dir) as store:
        # the first ack survived; the damaged one is ignored -> replayed again (at-least-once)
        assert _ids(store.replay()) == [b.batch_id for b in written[1:]]


def test_park_rejected_is_never_auto_replayed(spill_dir: Path, batch: Any) -> None:
    with SpillStore(spill_dir) as store:
        b = batch()
        store.park_rejected(b, "HTTP 422: schema mismatch")
        assert list(store.replay()) == []
        st = store.stats()
        assert st.lane_records["rejected"] == 1 and st.records_pending == 0
        [item] = list(store.replay(lanes=("rejected",)))
        assert item.batch == b and item.reason == "HTTP 422: schema mismatch"
    with SpillStore(spill_dir) as store:  # survives restart
        [item] = list(store.replay(lanes=("rejected",)))
        store.ack(item.ref)
        assert store.stats().segments["rejected"] == 0


def test_cap_evicts_oldest_standard_never_critical(spill_dir: Path, batch: Any) -> None:
    one = len(__import__("faultd.event", fromlist=["x"]).encode_batch(batch(tag="0000"))) + 32
    store = SpillStore(spill_dir, segment_max_bytes=2 * one, max_bytes=8 * one + 10)
    crit = [batch("critical", tag=f"c{i:03d}") for i in range(3)]
    std = [batch("standard", tag=f"s{i:03d}") for i in range(5)]
    for b in crit + std:
        store.append(b)
    assert store.stats().evicted_records == 0
    newer = [batch("standard", tag=f"n{i:03d}") for i in range(2)]
    for b in newer:
        store.append(b)
    st = store.stats()
    assert st.evicted_records == 2 and st.evicted_events == 6  # one whole segment of 2 records
    assert st.bytes <= 8 * one + 10
    got = _ids(store.replay())
    assert got == [b.batch_id for b in crit + std[2:] + newer]
    store.close()


def test_cap_refuses_when_only_critical_left(spill_dir: Path, batch: Any) -> None:
    one = len(__import__("faultd.event", fromlist=["x"]).encode_batch(batch(tag="0000"))) + 32
    with SpillStore(spill_dir, max_bytes=3 * one + 5) as store:
        for i in range(3):
            store.append(batch("critical", tag=f"c{i:03d}"))
        with pytest.raises(SpillFull):
            store.append(batch("critical", tag="c999"))
        with pytest.raises(SpillFull):
            store.append(batch("standard", tag="s999"))
        with pytest.raises(SpillFull):  # larger than the whole cap
            store.append(batch("standard", events=50))
        st = store.stats()
        assert st.records_pending == 3 and st.evicted_records == 0
        assert len(list(store.replay())) == 3


def test_permissions(spill_dir: Path, batch: Any) -> None:
    old = os.umask(0o022)
    try:
        spill_dir.mkdir(mode=0o755)
        with SpillStore(spill_dir) as store:
            store.append(batch())
            store.append(batch())
            store.park_rejected(batch(), "403")
            [item, *_] = list(store.replay())
            store.ack(item.ref)
            assert stat.S_IMODE(spill_dir.stat().st_mode) == 0o700
            for lane in ("critical", "standard", "rejected"):
                assert stat.S_IMODE((spill_dir / lane).stat().st_mode) == 0o700
            files = [p for p in spill_dir.rglob("*") if p.is_file()]
            assert any(p.suffix == ".ack" for p in files)
            for p in files:
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    finally:
        os.umask(old)


def test_stats_incremental_ages(spill_dir: Path, batch: Any, clock: Any) -> None:
    with SpillStore(spill_dir, clock=clock) as store:
        assert store.stats().oldest_age is None
        store.append(batch(events=5))
        clock.now += 10
        store.append(batch("critical", events=2))
        clock.now += 5
        st = store.stats()
        assert st.oldest_age == pytest.approx(15)
        assert st.records_pending == 2 and st.events_pending == 7
        assert st.segments == {"critical": 1, "standard": 1, "rejected": 0}
        assert st.bytes == sum(p.stat().st_size for p in spill_dir.rglob("*.seg"))
        first = next(iter(store.replay(lanes=("standard",))))
        store.ack(first.ref)
        assert store.stats().oldest_age == pytest.approx(5)


def test_fsync_policies_and_validation(spill_dir: Path, batch: Any, clock: Any) -> None:
    for policy in ("always", "interval", "never"):
        d = spill_dir / policy
        with SpillStore(d, fsync=policy, fsync_interval=0.5, clock=clock) as store:
            for _ in range(3):
                store.append(batch())
                clock.now += 0.3
            store.flush()
        with SpillStore(d) as store:
            assert len(list(store.replay())) == 3
    with pytest.raises(ValueError):
        SpillStore(spill_dir / "x", fsync="sometimes")


def test_directory_lock_and_closed_store(spill_dir: Path, batch: Any) -> None:
    store = SpillStore(spill_dir)
    with pytest.raises(SpillError, match="in use"):
        SpillStore(spill_dir)
    store.close()
    store.close()
    with pytest.raises(SpillError):
        store.append(batch())
    SpillStore(spill_dir).close()


def test_concurrent_append_and_replay(spill_dir: Path, batch: Any) -> None:
    store = SpillStore(spill_dir, segment_max_bytes=5000)
    written = [batch("critical" if i % 5 == 0 else "standard", tag=str(i)) for i in range(300)]
    delivered: set[str] = set()
    done = threading.Event()

    def consumer() -> None:
        while True:
            finished = done.is_set()
            for item in store.replay():
                delivered.add(item.batch.batch_id)
                store.ack(item.ref)
            if finished:
                return

    t = threading.Thread(target=consumer)
    t.start()
    for b in written:
        store.append(b)
    done.set()
    t.join(timeout=60)
    assert not t.is_alive()
    assert delivered == {b.batch_id for b in written}
    st = store.stats()
    assert st.records_pending == 0 and st.segments["standard"] <= 1
    store.close()
    assert not list((spill_dir / "standard").glob("*.seg"))


def test_eviction_during_replay_skips_evicted_records(spill_dir: Path, batch: Any) -> None:
    one = len(__import__("faultd.event", fromlist=["x"]).encode_batch(batch(tag="0000"))) + 32
    store = SpillStore(spill_dir, segment_max_bytes=2 * one, max_bytes=4 * one + 10)
    old = [batch(tag=f"o{i:03d}") for i in range(4)]
    for b in old:
        store.append(b)
    it = store.replay()
    first = next(it)
    assert first.batch == old[0]
    store.append(batch(tag="n000"))  # evicts the oldest segment (old[0], old[1])
    assert store.stats().evicted_records == 2
    store.ack(first.ref)  # its segment is gone: ignored
    assert [i.batch.batch_id for i in it] == [old[2].batch_id, old[3].batch_id]
    store.close()
