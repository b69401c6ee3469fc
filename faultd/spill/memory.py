"""Memory-pressure monitor: is this process over its memory high watermark?

Limit, in order of precedence (the smallest applicable one wins):

1. the cgroup memory limit of this process: cgroup v2 `memory.max` (v1
   `memory.limit_in_bytes` as a fallback) of its own cgroup -- found through
   /proc/self/cgroup -- or of the most restrictive ancestor; "max" = none;
2. the configured `limit_bytes` (spill.memory_limit_bytes) -- when both 1 and 2
   exist, the smaller one is used;
3. physical memory (MemTotal from /proc/meminfo), which also caps 1 and 2.

Usage: when a cgroup limit exists, the working set of the cgroup that holds it:
`memory.current` minus `inactive_file` from `memory.stat` (v1:
`memory.usage_in_bytes` minus `total_inactive_file`), the measure the kernel
and kubelet act on -- without the subtraction, the page cache that spilling
itself produces would keep the process "over" the watermark.  Otherwise the
process RSS from /proc/self/statm.

Each `sample()` reads a handful of small pseudo-files (tens of microseconds);
call it from a periodic timer (e.g. every 100 ms), not per event.  Paths are
injectable so tests read fake trees.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

_UNLIMITED: Final = 1 << 62  # v1 reports "no limit" as ~2**63 rounded to pages


@dataclass(frozen=True, slots=True)
class MemorySample:
    """One reading: bytes used, the limit they count against, and where both came from."""

    usage: int
    limit: int
    source: str  # "cgroup", "configured" or "physical" (the limit's origin)

    @property
    def fraction(self) -> float:
        return self.usage / self.limit if self.limit > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _CgroupLevel:
    limit_file: Path
    usage_file: Path
    stat_file: Path
    inactive_key: str


class MemoryMonitor:
    """Reads memory usage and limit; `over_watermark()` drives spilling to disk."""

    def __init__(
        self,
        watermark: float = 0.85,
        limit_bytes: int | None = None,
        cgroup_root: Path = Path("/sys/fs/cgroup"),
        proc_root: Path = Path("/proc"),
    ) -> None:
        if not 0 < watermark <= 1:
            raise ValueError(f"watermark must be in (0, 1], not {watermark}")
        if limit_bytes is not None and limit_bytes <= 0:
            raise ValueError(f"limit_bytes must be > 0, not {limit_bytes}")
        self.watermark = watermark
        self.limit_bytes = limit_bytes
        self._statm = proc_root / "self" / "statm"
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._physical = _mem_total(proc_root / "meminfo")
        self._levels = _cgroup_levels(proc_root / "self" / "cgroup", cgroup_root)
        self._warned = False

    def sample(self) -> MemorySample:
        """Read usage and limit once (what `fraction` and `over_watermark` use)."""
        cg_limit, cg_level = self._cgroup_limit()
        limit, source = self._physical or 0, "physical"
        if self.limit_bytes is not None and (not limit or self.limit_bytes < limit):
            limit, source = self.limit_bytes, "configured"
        if cg_limit is not None and (not limit or cg_limit <= limit):
            limit, source = cg_limit, "cgroup"
        usage = self._cgroup_usage(cg_level) if cg_level is not None else None
        if usage is None:
            usage = self._rss()
        if not limit:
            limit = max(usage, 1)  # nothing known: never report pressure
        return MemorySample(usage=usage, limit=limit, source=source)

    def limit(self) -> int:
        """Bytes the process may use (see the module docstring for precedence)."""
        return self.sample().limit

    def usage(self) -> int:
        """Bytes in use: cgroup working set when a cgroup limit applies, else RSS."""
        return self.sample().usage

    def fraction(self) -> float:
        """usage / limit."""
        return self.sample().fraction

    def over_watermark(self) -> bool:
        """True when usage has reached `watermark` of the limit."""
        return self.sample().fraction >= self.watermark

    def _cgroup_limit(self) -> tuple[int | None, _CgroupLevel | None]:
        best: tuple[int | None, _CgroupLevel | None] = (None, None)
        for level in self._levels:
            raw = _read(level.limit_file)
            if raw is None or raw == "max" or not raw.isdigit():
                continue
            value = int(raw)
            if value < _UNLIMITED and (best[0] is None or value < best[0]):
                best = (value, level)
        return best

    def _cgroup_usage(self, level: _CgroupLevel) -> int | None:
        raw = _read(level.usage_file)
        if raw is None or not raw.isdigit():
            return None
        inactive = 0
        stat = _read(level.stat_file)
        for line in (stat or "").splitlines():
            key, _, value = line.partition(" ")
            if key == level.inactive_key and value.strip().isdigit():
                inactive = int(value)
                break
        return max(0, int(raw) - inactive)

    def _rss(self) -> int:
        raw = _read(self._statm)
        try:
            return int((raw or "").split()[1]) * self._page
        except (IndexError, ValueError):
            if not self._warned:
                self._warned = True
                log.warning("cannot read RSS from %s; memory pressure is not measured", self._statm)
            return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _mem_total(meminfo: Path) -> int | None:
    for line in (_read(meminfo) or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _cgroup_levels(self_cgroup: Path, root: Path) -> list[_CgroupLevel]:
    """Own cgroup directory and its ancestors (up to `root`) that have a memory controller.

    cgroup v2 ("0::/path") first; v1 ("N:...memory...:/path" under root/memory) if v2
    has no memory files.  When the path is not visible under root (a container
    without its own cgroup namespace view), the root itself is used.
    """
    v2_path: str | None = None
    v1_path: str | None = None
    for line in (_read(self_cgroup) or "").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":
            v2_path = path
        elif "memory" in controllers.split(","):
            v1_path = path
    candidates: list[tuple[Path, str, tuple[str, str, str, str]]] = []
    if v2_path is not None:
        files = ("memory.max", "memory.current", "memory.stat", "inactive_file")
        candidates.append((root, v2_path, files))
    if v1_path is not None:
        files = (
            "memory.limit_in_bytes",
            "memory.usage_in_bytes",
            "memory.stat",
            "total_inactive_file",
        )
        candidates.append((root / "memory", v1_path, files))
    for base, rel, (lim, use, stat, key) in candidates:
        own = base / rel.strip("/")
        if not own.is_dir():
            own = base
        levels: list[_CgroupLevel] = []
        d = own
        while True:
            if (d / lim).exists():
                levels.append(_CgroupLevel(d / lim, d / use, d / stat, key))
            if d == base or base not in d.parents:
                break
            d = d.parent
        if levels:
            return levels
    return []
