"""faultd.mallocpolicy: with the thresholds set, freeing and reallocating large
blocks stops faulting pages in; an operator's environment settings are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from faultd.mallocpolicy import operator_has_settings

# Three 4 MiB blocks freed together: glibc's defaults trim the heap top and fault
# it in again on the next round; with faultd's thresholds the heap is kept.
_PROBE = textwrap.dedent("""
    import resource, sys
    from faultd.mallocpolicy import tune_malloc
    applied = tune_malloc() if sys.argv[1] == "tuned" else False
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def rounds(n):
        for _ in range(n):
            blocks = [bytes(4 << 20) for _ in range(3)]
            del blocks
    rounds(20)  # warm up: the heap reaches its size
    before = faults()
    rounds(100)
    print(applied, faults() - before)
""")


def _probe(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True,
                         text=True, check=True, env=env, timeout=60).stdout.split()
    return out[0], int(out[1])


def test_tuned_heap_stops_faulting_pages_in_again() -> None:
    applied, tuned = _probe("tuned")
    assert applied == "True"
    _, default = _probe("default")
    assert tuned < 100, tuned  # steady state: the freed heap is reused as it is
    assert default > 4 * (tuned + 100), (default, tuned)


def test_operator_settings_win() -> None:
    assert operator_has_settings({"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert operator_has_settings({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert operator_has_settings({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1"})
    assert not operator_has_settings({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"})
    assert not operator_has_settings({})
    from faultd.mallocpolicy import tune_malloc

    assert tune_malloc({"MALLOC_TRIM_THRESHOLD_": "131072"}) is False
