"""MemoryMonitor against fake /proc and cgroup trees checked into tests/data/proc/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from faultd.spill.memory import MemoryMonitor

TREES = Path(__file__).resolve().parents[1] / "data" / "proc"
PAGE = os.sysconf("SC_PAGE_SIZE")
RSS = 25000 * PAGE  # statm resident pages in every fake tree
MEMTOTAL = 16384000 * 1024


def monitor(tree: str, watermark: float = 0.85, limit_bytes: int | None = None) -> MemoryMonitor:
    root = TREES / tree
    return MemoryMonitor(
        watermark, limit_bytes, cgroup_root=root / "cgroup", proc_root=root / "proc"
    )


def test_v2_cgroup_limit_and_working_set() -> None:
    m = monitor("v2_limited")
    s = m.sample()
    assert (s.limit, s.source) == (536870912, "cgroup")
    assert s.usage == 500000000 - 40000000  # memory.current - inactive_file
    assert m.limit() == 536870912 and m.usage() == 460000000
    assert m.fraction() == pytest.approx(460000000 / 536870912)
    assert m.over_watermark()  # 0.857 >= 0.85
    assert not monitor("v2_limited", watermark=0.9).over_watermark()


def test_v2_max_falls_back_to_physical_and_rss() -> None:
    s = monitor("v2_max").sample()
    assert (s.limit, s.source, s.usage) == (MEMTOTAL, "physical", RSS)


def test_v2_max_with_configured_limit() -> None:
    s = monitor("v2_max", limit_bytes=200 * 1024 * 1024).sample()
    assert (s.limit, s.source, s.usage) == (200 * 1024 * 1024, "configured", RSS)


def test_configured_limit_smaller_than_cgroup_wins() -> None:
    m = monitor("v2_limited", limit_bytes=256 * 1024 * 1024)
    s = m.sample()
    assert (s.limit, s.source) == (256 * 1024 * 1024, "configured")
    assert s.usage == 460000000  # a cgroup limit exists, so usage is still its working set
    assert m.over_watermark()


def test_configured_limit_larger_than_cgroup_loses() -> None:
    s = monitor("v2_limited", limit_bytes=4 << 30).sample()
    assert (s.limit, s.source) == (536870912, "cgroup")


def test_limit_on_parent_slice_applies() -> None:
    s = monitor("v2_parent_limit").sample()
    assert (s.limit, s.source) == (1073741824, "cgroup")
    assert s.usage == 700000000 - 100000000  # the parent's working set, not the child's


def test_container_namespace_root() -> None:
    s = monitor("v2_container").sample()
    assert (s.limit, s.usage) == (268435456, 100000000 - 40000000)


def test_no_cgroup_uses_physical_or_configured() -> None:
    s = monitor("no_cgroup").sample()
    assert (s.limit, s.source, s.usage) == (MEMTOTAL, "physical", RSS)
    s = monitor("no_cgroup", limit_bytes=1 << 30).sample()
    assert (s.limit, s.source, s.usage) == (1 << 30, "configured", RSS)
    assert not monitor("no_cgroup").over_watermark()


def test_configured_limit_is_capped_by_physical_memory() -> None:
    s = monitor("no_cgroup", limit_bytes=1 << 50).sample()
    assert (s.limit, s.source) == (MEMTOTAL, "physical")


def test_cgroup_v1_fallback() -> None:
    s = monitor("v1_limited").sample()
    assert (s.limit, s.source) == (2147483648, "cgroup")
    assert s.usage == 1500000000 - 200000000  # total_inactive_file, not inactive_file


def test_limit_change_is_picked_up(tmp_path: Path) -> None:
    shutil.copytree(TREES / "v2_limited", tmp_path / "t")
    m = MemoryMonitor(cgroup_root=tmp_path / "t" / "cgroup", proc_root=tmp_path / "t" / "proc")
    assert m.over_watermark()
    (tmp_path / "t/cgroup/system.slice/faultd.service/memory.max").write_text("1073741824\n")
    assert m.limit() == 1073741824 and not m.over_watermark()
    (tmp_path / "t/cgroup/system.slice/faultd.service/memory.max").write_text("max\n")
    assert m.sample().source == "physical"


def test_unreadable_everything_never_reports_pressure(tmp_path: Path) -> None:
    m = MemoryMonitor(cgroup_root=tmp_path / "nope", proc_root=tmp_path / "nope")
    assert m.usage() == 0 and not m.over_watermark()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        MemoryMonitor(watermark=0)
    with pytest.raises(ValueError):
        MemoryMonitor(limit_bytes=0)


def test_real_host_reads_sane_values() -> None:
    m = MemoryMonitor()
    s = m.sample()
    assert s.usage > 0 and s.limit > 0
    assert s.source in ("cgroup", "configured", "physical")
    assert 0 < s.fraction < 1
