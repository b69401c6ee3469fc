"""Shared by the bench scripts: markdown tables and appending to bench/RESULTS.md
with date, commit, CPU model and core count."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=RESULTS.parent, timeout=5)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def speed_probe() -> str:
    """How fast this (shared, drifting) machine is right now: a fixed pure-Python
    loop, best of 5, in ms; lower is faster.  This VM's speed moves 20-40 % within
    minutes, so a result is read next to the probe taken with it."""
    def once() -> float:
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        return time.perf_counter() - start

    return f"speed probe {min(once() for _ in range(5)) * 1000:.0f} ms"


def record(title: str, body: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write(f"\n### {title}\n\n{stamp}, commit {commit()}, {machine()}, "
                f"{speed_probe()}\n\n{body}\n")
