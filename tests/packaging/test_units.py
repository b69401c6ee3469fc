"""The systemd unit files: `systemd-analyze verify` finds nothing to say,
`systemd-analyze security` rates the service's exposure at 2.0 or better, and
what the service runs works under MemoryDenyWriteExecute=yes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "systemd"
MAX_EXPOSURE = 2.0

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)


def unit_keys(name: str) -> dict[str, list[str]]:
    """KEY -> values of the unit file, comments skipped."""
    keys: dict[str, list[str]] = {}
    for line in (UNITS / name).read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        keys.setdefault(key.strip(), []).append(value.strip())
    return keys


@pytest.fixture
def verify_root(tmp_path: Path) -> Path:
    """A file-system root for `verify --root`: the host's system units (for
    sysinit.target and friends), /bin/kill, a stand-in /usr/bin/faultd so the
    ExecStart= check passes without the package installed, and our units."""
    (tmp_path / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "bin").mkdir()
    shutil.copy2("/bin/kill", tmp_path / "bin/kill")
    (tmp_path / "usr/bin").mkdir()
    stub = tmp_path / "usr/bin/faultd"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    dest = tmp_path / "etc/systemd/system"
    dest.mkdir(parents=True)
    for unit in ("faultd.service", "faultd.socket"):
        shutil.copy2(UNITS / unit, dest / unit)
    return tmp_path


def test_verify_is_silent(verify_root: Path) -> None:
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            f"--root={verify_root}",
            "/etc/systemd/system/faultd.service",
            "/etc/systemd/system/faultd.socket",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # unknown keys and bad values are only warnings (exit 0): any output fails
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


def test_verify_notices_a_broken_unit(verify_root: Path) -> None:
    """Guard for the test above: a typo in the unit is reported."""
    unit = verify_root / "etc/systemd/system/faultd.service"
    unit.write_text(unit.read_text().replace("WatchdogSec=30", "WatchdogSec=30\nWatchDogSex=1"))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={verify_root}",
         "/etc/systemd/system/faultd.service"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "WatchDogSex" in result.stderr


def test_security_exposure_at_most_2() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager",
         str(UNITS / "faultd.service")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for faultd\.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout


def test_service_contract() -> None:
    keys = unit_keys("faultd.service")
    one = {k: v[-1] for k, v in keys.items()}
    assert one["Type"] == "notify"
    assert one["NotifyAccess"] == "main"
    assert one["WatchdogSec"] == "30"
    assert one["ExecStart"] == "/usr/bin/faultd run --config /etc/faultd/faultd.yaml"
    assert one["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert one["Restart"] == "on-failure"
    assert one["User"] == one["Group"] == "faultd"
    assert one["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert one["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert one["StateDirectory"] == "faultd" and one["StateDirectoryMode"] == "0700"
    assert one["ConfigurationDirectory"] == "faultd"
    assert one["UMask"] == "0077"
    assert one["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"
    assert "PrivateUsers" not in keys  # would void CAP_NET_BIND_SERVICE
    # spill (0.85 x MemoryMax) < MemoryHigh < MemoryMax
    assert 0.85 * 2048 < 1900 < 2048
    assert one["MemoryMax"] == "2G" and one["MemoryHigh"] == "1900M"


def test_socket_contract() -> None:
    keys = unit_keys("faultd.socket")
    assert keys["ListenDatagram"] == ["162", "514"]
    assert keys["BindIPv6Only"] == ["both"]  # so 0.0.0.0 in faultd.yaml matches them
    assert keys["Service"] == ["faultd.service"]


MDWE_PROBE = r"""
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(77)  # kernel older than 6.3
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("rule not in force: W+X mapping was allowed")
except OSError:
    pass
import asyncio, uvloop, msgspec, yaml, aiohttp, prometheus_client, crc32c
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
Cipher(algorithms.AES(os.urandom(16)), modes.CBC(os.urandom(16))).encryptor().update(b"x" * 32)
from pysnmp.entity import config, engine
e = engine.SnmpEngine()
config.add_v3_user(e, "noc", config.USM_AUTH_HMAC96_SHA, "authpass123",
                   config.USM_PRIV_CFB128_AES, "privpass123")
try:
    import systemd.daemon, systemd.journal
except ImportError:
    pass
async def main() -> None:
    await asyncio.sleep(0.01)
uvloop.run(main())
print("ok")
"""


def test_runtime_works_without_writable_executable_memory() -> None:
    """MemoryDenyWriteExecute=yes: run the interpreter and the native parts
    under the kernel's own equivalent rule (prctl PR_SET_MDWE, Linux >= 6.3),
    which, like systemd's seccomp filter, refuses W+X mappings and gaining
    PROT_EXEC."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", MDWE_PROBE],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if result.returncode == 77:
        pytest.skip("kernel has no PR_SET_MDWE")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
