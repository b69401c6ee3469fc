"""glibc malloc policy for faultd's processes: keep freed heap instead of trimming it.

The main process builds a multi-megabyte JSON body for every batch (a 5,000-event
batch is ~3.4 MB) and frees it once the batch is delivered, many times a second
under load.  With glibc's defaults the heap top is trimmed back to the kernel
whenever enough of it is free, and the next body faults those pages in again:
~17,000 minor faults and 40 brk calls a second in the main process at 70k msg/s
(bench/RESULTS.md, hot path round 4).  `tune_malloc()` sets two thresholds:

- M_MMAP_THRESHOLD = MMAP_THRESHOLD (8 MiB): smaller blocks, batch bodies
  included, come from the heap; larger ones are mapped and unmapped on their own.
- M_TRIM_THRESHOLD = TRIM_THRESHOLD (32 MiB): free memory at the top of the heap
  goes back to the kernel only beyond that.

Trade-off: up to ~32 MiB of freed heap stays resident after a burst, and spill's
memory watermark counts it like any other memory.  Gain: the main process's CPU
at 80k msg/s with 2 workers went from 58-60 % to 51-53 % (bench/hold.py, same
section of RESULTS.md).

An operator's own setting wins: with MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_
or a glibc.malloc tunable in GLIBC_TUNABLES in the environment nothing is changed.
On a libc without mallopt (or whose mallopt refuses) nothing changes either.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping
from typing import Final

log = logging.getLogger("faultd.malloc")

M_TRIM_THRESHOLD: Final = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD: Final = 8 << 20
TRIM_THRESHOLD: Final = 32 << 20
_OPERATOR_SETTINGS: Final = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


def operator_has_settings(environ: Mapping[str, str]) -> bool:
    """True when the environment already tunes glibc's malloc thresholds."""
    return (any(name in environ for name in _OPERATOR_SETTINGS)
            or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""))


def tune_malloc(environ: Mapping[str, str] = os.environ) -> bool:
    """Apply the thresholds to this process; True when applied."""
    if operator_has_settings(environ):
        log.debug("malloc thresholds left to the environment")
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's libc
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success, 0 on error (musl's stub always returns 0).
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
