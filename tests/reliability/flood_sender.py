"""Sender process for the fairness test: a flood from one source address and critical
events from another, interleaved, paced, with each critical event's send time.

    python flood_sender.py PORT FLOOD_COUNT FLOOD_RATE RATIO OUT.json

Binds the flood socket to 127.0.0.2 and the critical socket to 127.0.0.3 (all of
127.0.0.0/8 is local on Linux).  Writes {"critical": {index: monotonic send time},
"flood": count} to OUT.json.  Bounded: stops after FLOOD_COUNT datagrams.
"""

from __future__ import annotations

import json
import socket
import sys
import time


def main() -> int:
    port, count, rate, ratio = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(
        sys.argv[4])
    out = sys.argv[5]
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.0.2", 0))
    crit = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    crit.bind(("127.0.0.3", 0))
    target = ("127.0.0.1", port)
    sent_at: dict[int, float] = {}
    start = time.monotonic()
    i = 0
    while i < count:
        due = min(count, int((time.monotonic() - start) * rate) + 1)
        while i < due:
            flood.sendto(f"<188>1 2026-12-03T10:00:00Z noisy-1 app - - - flood {i}".encode(),
                         target)
            if i % ratio == 0:
                n = i // ratio
                sent_at[n] = time.monotonic()
                crit.sendto(f"<186>1 2026-12-03T10:00:00Z core-9 app - - - crit {n}".encode(),
                            target)
            i += 1
        time.sleep(0.002)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"critical": sent_at, "flood": count, "seconds": time.monotonic() - start}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
