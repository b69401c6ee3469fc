"""Run each fuzz target (tests/fuzz/targets.py) for a bounded time in its own process.

The budget comes from FAULTD_FUZZ_SECONDS (total, split evenly over the targets;
`make fuzz` sets 300).  Without it `make test` gives each target a short smoke
budget (DEFAULT_SECONDS_PER_TARGET).  A crash fails the test with the input that
caused it (hex) and the fuzzer's traceback; libFuzzer writes the input to the
test's tmp directory, and FAULTD_FUZZ_WORKDIR keeps the evolved corpus between runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
DEFAULT_SECONDS_PER_TARGET = 4.0
# target -> (seed corpus directory, extra libFuzzer flags)
TARGETS = {
    "syslog": ("syslog", ["-max_len=16384"]),
    "snmp": ("snmp", ["-max_len=1500"]),
    "ber": ("snmp", ["-max_len=1500"]),
    "spill": ("spill", ["-max_len=8192"]),
    "config": ("config", ["-max_len=12000"]),
}


def budget_per_target() -> float:
    total = os.environ.get("FAULTD_FUZZ_SECONDS")
    if not total:
        return DEFAULT_SECONDS_PER_TARGET
    return max(2.0, float(total) / len(TARGETS))


def have_atheris() -> bool:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return False
    return True


SECONDS = budget_per_target()


@pytest.mark.timeout(int(SECONDS) + 180)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_target_survives_its_budget(target: str, tmp_path: Path) -> None:
    seeds, flags = TARGETS[target]
    keep = os.environ.get("FAULTD_FUZZ_WORKDIR")
    work = Path(keep) / target if keep else tmp_path / "corpus"
    work.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(HERE / "targets.py"), target, str(work), str(CORPUS / seeds),
            f"-max_total_time={int(SECONDS)}", "-timeout=20", "-rss_limit_mb=2048",
            f"-artifact_prefix={tmp_path}/", "-print_final_stats=1", *flags]
    if not have_atheris():
        argv.append("--fallback")  # plain mutation loop; README says how weak it is
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 150,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    crashes = sorted(tmp_path.glob("crash-*")) + sorted(tmp_path.glob("timeout-*")) + sorted(
        tmp_path.glob("oom-*"))
    detail = "".join(f"\n{p.name}: {p.read_bytes()[:512].hex()}" for p in crashes)
    runs = [line for line in proc.stderr.splitlines() if "DONE" in line or "Done " in line]
    print(f"fuzz {target}: {SECONDS:.0f}s {'atheris' if have_atheris() else 'fallback'}: "
          f"{runs[-1] if runs else '?'}")
    assert proc.returncode == 0 and not crashes, (
        f"fuzz target {target} failed (rc {proc.returncode}){detail}\n{proc.stderr[-4000:]}")
