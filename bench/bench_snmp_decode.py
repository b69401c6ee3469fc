"""Benchmark: microseconds per trap, fast path (faultd.parse.ber) vs the pysnmp engine path.

Rows: v1 Trap, v2c Trap, v2c Inform (fast path available) and v3 authPriv
SHA/AES (pysnmp only).  Columns: fast-path decode alone, pysnmp-path decode
alone, and the full SnmpReceiver.receive (decode + authenticate +
normalize to FaultEvent) for the path the receiver really takes.  Messages
are captured from net-snmp's snmptrap/snmpinform when available (the v3 row
needs it).  Bounded iterations; run: .venv/bin/python bench/bench_snmp_decode.py
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from faultd.parse import ber
from faultd.snmp.engine import PysnmpPath
from faultd.snmp.receiver import SnmpReceiver, SnmpUser

AUTH, PRIV = "authpass-123", "privpass-456"
VARBINDS = (
    "1.3.6.1.2.1.2.2.1.1.2", "i", "2",
    "1.3.6.1.2.1.2.2.1.7.2", "i", "1",
    "1.3.6.1.2.1.2.2.1.8.2", "i", "2",
    "1.3.6.1.2.1.2.2.1.2.2", "s", "GigabitEthernet0/2",
)  # fmt: skip


def capture(args: list[str]) -> bytes | None:
    """One datagram sent by a net-snmp command to a loopback socket."""
    if shutil.which(args[0]) is None:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        t = f"127.0.0.1:{s.getsockname()[1]}"
        argv = [a if a != "TARGET" else t for a in args]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            data, _ = s.recvfrom(65535)
        finally:
            proc.kill()
            proc.wait()
    return data


def per_call_us(fn: Callable[[], object], iterations: int) -> float:
    fn()  # warm caches (MIB lookups, learned v3 engine)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, (time.perf_counter() - t0) / iterations)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast-iterations", type=int, default=5000)
    ap.add_argument("--slow-iterations", type=int, default=300)
    opts = ap.parse_args()

    msgs = {
        "v1 trap": capture(["snmptrap", "-v1", "-c", "public", "TARGET", "1.3.6.1.4.1.9",
                            "10.1.2.3", "2", "0", "55", *VARBINDS]),
        "v2c trap": capture(["snmptrap", "-v2c", "-c", "public", "TARGET", "55",
                             "1.3.6.1.6.3.1.1.5.3", *VARBINDS]),
        "v2c inform": capture(["snmpinform", "-v2c", "-c", "public", "-r", "0", "-t", "1",
                               "TARGET", "55", "1.3.6.1.6.3.1.1.5.3", *VARBINDS]),
        "v3 authPriv SHA/AES": capture(["snmptrap", "-v3", "-u", "noc", "-l", "authPriv", "-a",
                                        "SHA", "-A", AUTH, "-x", "AES", "-X", PRIV, "-e",
                                        "0x8000000001020304", "TARGET", "55",
                                        "1.3.6.1.6.3.1.1.5.3", *VARBINDS]),
    }  # fmt: skip
    state = Path(tempfile.mkdtemp(prefix="faultd-bench-"))
    users = [SnmpUser("noc", "sha", AUTH, "aes", PRIV)]
    path = PysnmpPath(communities=["public"], users=users, state_directory=state / "a")
    receiver = SnmpReceiver(communities=["public"], users=users, state_directory=state / "b")
    sender = ("127.0.0.1", 40000)

    print(f"{'message':<22}{'bytes':>6}{'fast decode':>14}{'pysnmp decode':>15}"
          f"{'receive()':>12}{'speed-up':>10}")  # fmt: skip
    for name, data in msgs.items():
        if data is None:
            print(f"{name:<22}  (net-snmp not installed: skipped)")
            continue
        fast_ok = ber.decode(data) is not None
        fast = per_call_us(lambda d=data: ber.decode(d), opts.fast_iterations) if fast_ok else None
        slow = per_call_us(lambda d=data: path.receive(d, sender, 0.0), opts.slow_iterations)
        n = opts.fast_iterations if fast_ok else opts.slow_iterations
        full = per_call_us(lambda d=data: receiver.receive(d, sender, 0.0), n)
        assert receiver.receive(data, sender, 0.0).events, name
        fast_s = f"{fast:11.1f} us" if fast is not None else f"{'n/a':>14}"
        ratio = f"{slow / fast:9.0f}x" if fast else f"{'':>10}"
        print(f"{name:<22}{len(data):>6}{fast_s}{slow:12.1f} us{full:9.1f} us{ratio}")
    print(f"(receiver paths: fast={receiver.fast_path_hits} pysnmp={receiver.slow_path_hits}; "
          "best of 3 runs; v3 replays one captured message, which pysnmp accepts)")  # fmt: skip


if __name__ == "__main__":
    main()
