"""Reliability suite: print the measured results table at the end of the run."""

from __future__ import annotations

from typing import Any

from .kit import COLLECTED, RESULTS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COLLECTED:
        return
    tr = terminalreporter
    tr.section(f"faultd reliability results (also in {RESULTS})")
    for row in COLLECTED:
        rest = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("scenario", "at"))
        tr.write_line(f"{row['scenario']}: {rest}")
