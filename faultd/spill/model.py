"""Public value types and errors of the spill store (refs, replayed items, stats)."""

from __future__ import annotations

from dataclasses import dataclass

from faultd.event import Batch


class SpillError(Exception):
    """Base of spill store errors."""


class SpillFull(SpillError):
    """The size cap is reached and nothing evictable is left (critical is never evicted)."""


class SpillDiskFull(SpillError):
    """The filesystem refused the write (ENOSPC/EDQUOT); the store is still usable."""

    def __init__(self, message: str, err: int) -> None:
        super().__init__(message)
        self.errno = err


def drop_reason(exc: BaseException) -> str:
    """The faultd_events_dropped_total reason for events a failed spill write loses."""
    return "disk_full" if isinstance(exc, SpillDiskFull) else "spill_failed"


@dataclass(frozen=True, slots=True)
class SpillRef:
    """Identifies one spilled record for `ack`."""

    lane: str
    segment: str
    offset: int


@dataclass(frozen=True, slots=True)
class SpilledBatch:
    """A pending batch yielded by `replay`; `reason` is set for rejected/ records."""

    ref: SpillRef
    batch: Batch
    written_at: float
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SpillStats:
    """Counters kept incrementally; `records_pending`/`oldest_age` cover critical+standard."""

    bytes: int
    lane_bytes: dict[str, int]
    segments: dict[str, int]
    lane_records: dict[str, int]
    records_pending: int
    events_pending: int
    oldest_age: float | None
    corrupt_records: int
    evicted_records: int
    evicted_events: int
    disk_full_errors: int
