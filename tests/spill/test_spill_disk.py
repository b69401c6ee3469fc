"""Real-world failures: a writer killed mid-stream, and a filesystem that fills up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultd.spill import SpillDiskFull, SpillStore
from faultd.spill.segment import scan_segment

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from spill_testkit import make_batch
    from faultd.spill import SpillStore
    store = SpillStore(Path(sys.argv[1]), fsync="never", segment_max_bytes=20000)
    i = 0
    while True:
        b = make_batch("critical" if i % 7 == 0 else "standard", events=4, tag=str(i))
        store.append(b)
        print(b.batch_id, flush=True)
        i += 1
    """
)


def test_sigkill_mid_stream_loses_nothing_acknowledged(spill_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(spill_dir), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    confirmed = [proc.stdout.readline().strip() for _ in range(400)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with SpillStore(spill_dir) as store:  # the dead writer's flock is gone with it
        items = list(store.replay())
        got = [i.batch.batch_id for i in items]
        assert set(confirmed) <= set(got)  # the writer kept going after line 400
        assert len(set(got)) == len(got)
        for lane in ("critical", "standard"):
            in_lane = [i.batch.batch_id for i in items if i.batch.lane == lane]
            assert in_lane == sorted(in_lane)  # UUIDv7 ids: replay order = write order
        assert store.stats().corrupt_records <= 1  # at most the torn tail


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("ENOSPC test needs root to mount a small tmpfs")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needed for a real ENOSPC): {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_enospc_raises_disk_full_then_recovers(tmp_path: Path, batch: Any) -> None:
    with _tmpfs(tmp_path / "mnt", "1m") as mnt:
        store = SpillStore(mnt / "spill", segment_max_bytes=200_000)
        written = []
        with pytest.raises(SpillDiskFull) as err:
            for i in range(200):
                b = batch("standard", events=120, tag=str(i))  # ~45 KB each
                store.append(b)
                written.append(b.batch_id)
        assert err.value.errno == 28
        assert 5 < len(written) < 200
        st = store.stats()
        assert st.disk_full_errors == 1
        # no half-written record left behind: every segment scans clean
        for seg in (mnt / "spill" / "standard").glob("*.seg"):
            assert scan_segment(seg).corrupt == 0
        assert st.bytes == sum(p.stat().st_size for p in (mnt / "spill").rglob("*.seg"))
        # still full: a second attempt fails the same way, cleanly
        with pytest.raises(SpillDiskFull):
            store.append(batch("standard", events=120))
        # draining frees the space; writes work again
        for item in store.replay():
            assert item.batch.batch_id == written.pop(0)
            store.ack(item.ref)
        assert written == []
        again = batch("critical", events=120)
        store.append(again)
        assert [i.batch.batch_id for i in store.replay()] == [again.batch_id]
        store.close()
        with SpillStore(mnt / "spill") as reopened:
            assert reopened.stats().corrupt_records == 0
            assert [i.batch.batch_id for i in reopened.replay()] == [again.batch_id]
