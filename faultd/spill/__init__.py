"""Spill: disk-backed store for batches that cannot stay in memory or be delivered now.

`store.SpillStore` keeps per-lane append-only segments (`segment` is the file
format) and replays them urgent-first, oldest-first; `memory.MemoryMonitor` says
when the process is over its memory watermark; `admin` backs `faultd spill
ls|stats|drain`.  See DESIGN.md "Spill".
"""

from faultd.spill.model import (
    SpillDiskFull,
    SpilledBatch,
    SpillError,
    SpillFull,
    SpillRef,
    SpillStats,
)
from faultd.spill.store import LANE_REJECTED, SpillStore

__all__ = [
    "LANE_REJECTED",
    "SpillDiskFull",
    "SpillError",
    "SpillFull",
    "SpillRef",
    "SpillStats",
    "SpillStore",
    "SpilledBatch",
]
