"""Maintenance windows: which window (if any) covers a node at an instant.

A window has a scope (node glob, site glob, or a subtree: the node and every
node depending on it), a time zone, and either a one-off span (ISO 8601; naive
stamps are in the window's zone) or a recurring weekly slot (days + HH:MM start
and end; an end at or before the start crosses midnight).  Windows are resolved
per node once and memoised; the instant is the event's timestamp.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from faultd.correlate.matchers import compile_pattern
from faultd.correlate.policy import MaintenanceWindow
from faultd.correlate.topology import Topology

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_hhmm(text: str) -> int:
    """'HH:MM' → minutes after midnight; raises ValueError."""
    hh, mm = text.split(":")
    h, m = int(hh), int(mm)
    if not (0 <= h <= 24 and 0 <= m < 60) or h * 60 + m > 1440:
        raise ValueError(f"bad time of day {text!r}")
    return h * 60 + m


def parse_instant(text: str, tz: ZoneInfo) -> float:
    """ISO 8601 → epoch seconds; a naive stamp is taken in `tz`."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


@dataclass(frozen=True, slots=True)
class Window:
    """One compiled window; `active(ts)` says whether it covers the instant."""

    name: str
    action: str
    downgrade_by: int
    tz: ZoneInfo
    start: float | None = None  # one-off
    end: float | None = None
    days: frozenset[int] = frozenset()
    start_min: int = 0
    end_min: int = 0

    def active(self, ts: float) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= ts < self.end
        local = datetime.fromtimestamp(ts, self.tz)
        minute = local.hour * 60 + local.minute
        if self.start_min < self.end_min:
            return local.weekday() in self.days and self.start_min <= minute < self.end_min
        # crosses midnight: the evening part belongs to today, the morning to yesterday
        if minute >= self.start_min:
            return local.weekday() in self.days
        if minute < self.end_min:
            return (local - timedelta(days=1)).weekday() in self.days
        return False


def compile_window(spec: MaintenanceWindow) -> Window:
    """Compile a window spec; raises ValueError/KeyError on bad values (checked at load)."""
    tz = ZoneInfo(spec.timezone)
    if spec.once is not None:
        return Window(
            spec.name,
            spec.action,
            spec.downgrade_by,
            tz,
            start=parse_instant(spec.once.start, tz),
            end=parse_instant(spec.once.end, tz),
        )
    rec = spec.recurring
    if rec is None:
        raise ValueError("needs `once` or `recurring`")
    days = (
        frozenset(DAYS.index(d.lower()[:3]) for d in rec.days) if rec.days else frozenset(range(7))
    )
    return Window(
        spec.name,
        spec.action,
        spec.downgrade_by,
        tz,
        days=days,
        start_min=parse_hhmm(rec.start),
        end_min=parse_hhmm(rec.end),
    )


class Maintenance:
    """All windows of a policy, resolved per node on first use."""

    def __init__(self, specs: list[MaintenanceWindow], topology: Topology) -> None:
        self._topology = topology
        self._entries: list[tuple[Window, Callable[[str], bool]]] = []
        for spec in specs:
            window = compile_window(spec)
            scope = spec.scope
            node_pred = compile_pattern(scope.node) if scope.node is not None else None
            site_pred = compile_pattern(scope.site) if scope.site is not None else None
            subtree: set[str] | None = None
            if scope.subtree is not None:
                root = scope.subtree.lower()
                subtree = topology.descendants(root) | {root}

            def covers(
                node: str,
                np: Callable[[str], bool] | None = node_pred,
                sp: Callable[[str], bool] | None = site_pred,
                st: set[str] | None = subtree,
            ) -> bool:
                if np is not None and not np(node):
                    return False
                if sp is not None and not sp(topology.info(node).site):
                    return False
                return st is None or node in st

            self._entries.append((window, covers))
        self._per_node: dict[str, tuple[Window, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self._entries)

    def window_for(self, node: str, ts: float) -> Window | None:
        """The first window covering `node` at `ts`, or None."""
        windows = self._per_node.get(node)
        if windows is None:
            windows = tuple(w for w, covers in self._entries if covers(node))
            if len(self._per_node) < 1_000_000:
                self._per_node[node] = windows
        for w in windows:
            if w.active(ts):
                return w
        return None
