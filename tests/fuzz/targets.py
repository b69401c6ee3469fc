"""Fuzz targets for faultd's untrusted-input decoders, runnable under atheris (libFuzzer).

    python tests/fuzz/targets.py TARGET WORKDIR SEEDDIR [libFuzzer flags...]

TARGET is one of `syslog`, `snmp`, `ber`, `spill`, `config`.  Each target feeds
one input to the real code and raises (so libFuzzer records a crash file) when
the code does anything but accept the input or refuse it the documented way:

* syslog - SyslogNormalizer.normalize: an event or SyslogParseError, nothing else.
* snmp   - SnmpReceiver.receive: never raises by contract, so a rejection labelled
           "internal_error" (its catch-all) is treated as a crash, as is an
           accepted trap with more than one event.
* ber    - faultd.parse.ber.decode / message_version / v3_header / inform_response:
           never raise; an accepted INFORM's Response must decode as a Response.
* spill  - a segment (plus ack sidecar) opened and replayed by a real SpillStore:
           damaged records are skipped and counted, never raised.
* config - YAML text through load_config (yaml.safe_load + config_from_mapping):
           a Config or ConfigError, nothing else.

Without atheris (it does not build everywhere) the same targets run under a
small built-in mutation loop over the seed corpus (`--fallback`), bounded by
-max_total_time; see tests/fuzz/README.md.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import sys
import tempfile
import time
import zoneinfo
from collections.abc import Callable
from pathlib import Path

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the platform
    atheris = None

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _instrumented() -> object:
    if atheris is None or "--fallback" in sys.argv:
        import contextlib

        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["faultd"])


with _instrumented():  # type: ignore[attr-defined]
    import msgspec

    from faultd.config import ConfigError, load_config
    from faultd.normalize_syslog import SyslogNormalizer, SyslogParseError
    from faultd.parse import ber
    from faultd.snmp.receiver import SnmpReceiver, SnmpUser
    from faultd.spill import SpillStore


class FuzzFinding(Exception):
    """The code under test did something its contract forbids for this input."""


def syslog_target() -> Callable[[bytes], None]:
    normalizer = SyslogNormalizer(zoneinfo.ZoneInfo("Europe/Berlin"))

    def run(data: bytes) -> None:
        try:
            event = normalizer.normalize(data, "192.0.2.1", 1_764_000_000.0)
        except SyslogParseError:
            return
        msgspec.json.encode(event)  # what the dispatcher will do with it

    return run


def snmp_target() -> Callable[[bytes], None]:
    state = Path(tempfile.mkdtemp(prefix="faultd-fuzz-snmp-"))
    receiver = SnmpReceiver(
        communities=["public"],
        users=[SnmpUser("noc", "sha", "authpass-123", "aes", "privpass-456",
                        engine_id="8000000001020304")],
        state_directory=state,
    )

    def run(data: bytes) -> None:
        result = receiver.receive(data, ("127.0.0.1", 16200), 1_764_000_000.0)
        if result.rejected == "internal_error":
            raise FuzzFinding("SnmpReceiver.receive hit its catch-all (see the logged traceback)")
        if len(result.events) > 1:
            raise FuzzFinding(f"{len(result.events)} events from one datagram")
        for event in result.events:
            msgspec.json.encode(event)

    return run


def ber_target() -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        trap = ber.decode(data)
        ber.message_version(data)
        ber.v3_header(data)
        if trap is not None and trap.pdu == ber.PDU_INFORM:
            response = ber.inform_response(data)
            if len(response) != len(data):
                raise FuzzFinding("inform response changed length")
            if ber.decode(response) is not None:
                raise FuzzFinding("inform response still decodes as a notification")

    return run


def spill_target() -> Callable[[bytes], None]:
    base = Path(tempfile.mkdtemp(prefix="faultd-fuzz-spill-", dir=_scratch()))

    def run(data: bytes) -> None:
        if len(data) < 2:
            return
        (ack_len,) = struct.unpack_from("<H", data)
        ack, segment = data[2 : 2 + ack_len], data[2 + ack_len :]
        directory = base / "spill"
        shutil.rmtree(directory, ignore_errors=True)
        lane = directory / ("critical" if ack_len & 1 else "standard")
        lane.mkdir(parents=True)
        name = "00000000000000000001-0000000001.seg"
        (lane / name).write_bytes(segment)
        if ack:
            (lane / (name + ".ack")).write_bytes(ack)
        store = SpillStore(directory, fsync="never")
        try:
            for spilled in store.replay():
                store.ack(spilled.ref)
            stats = store.stats()
            if stats.records_pending != 0:
                raise FuzzFinding(f"{stats.records_pending} records pending after ack-all")
        finally:
            store.close()

    return run


def config_target() -> Callable[[bytes], None]:
    os.environ.pop("CREDENTIALS_DIRECTORY", None)
    path = Path(tempfile.mkdtemp(prefix="faultd-fuzz-config-", dir=_scratch())) / "faultd.yaml"

    def run(data: bytes) -> None:
        if b"file:" in data or b"credential:" in data:
            return  # they read local files: trusted-operator territory, not a parser input
        path.write_bytes(data)
        try:
            load_config(path)  # read, yaml.safe_load, resolve secrets, config_from_mapping
        except ConfigError:
            return

    return run


TARGETS: dict[str, Callable[[], Callable[[bytes], None]]] = {
    "syslog": syslog_target, "snmp": snmp_target, "ber": ber_target,
    "spill": spill_target, "config": config_target,
}


def _scratch() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del data[pos : pos + rng.randint(1, 16)]
        elif op == 3 and data:
            data[min(pos, len(data) - 1)] = rng.choice((0, 0x7F, 0x80, 0xFF, 0x30, 0x81))
        elif op == 4:
            data = data[:pos]
        else:
            data[pos:pos] = data[rng.randrange(len(data) + 1):][: rng.randint(1, 32)]
    return bytes(data)


def fallback(run: Callable[[bytes], None], seeds: list[bytes], seconds: float,
             artifact_prefix: str) -> int:
    """A plain mutation loop for hosts without atheris: bounded by time, seeded by corpus."""
    rng = random.Random(int(os.environ.get("FAULTD_FUZZ_SEED", "0")) or None)
    deadline = time.monotonic() + seconds
    runs = 0
    while time.monotonic() < deadline:
        data = _mutate(rng, rng.choice(seeds)) if seeds and runs % 10 else rng.randbytes(
            rng.randrange(300))
        try:
            run(data)
        except Exception:
            Path(f"{artifact_prefix}crash-fallback-{runs}").write_bytes(data)
            raise
        runs += 1
    print(f"#{runs} DONE (fallback mutation loop)", file=sys.stderr)
    return 0


def main() -> int:
    name = sys.argv[1]
    run = TARGETS[name]()
    args = [a for a in sys.argv[2:] if a != "--fallback"]
    if atheris is None or "--fallback" in sys.argv:
        seconds = next((float(a.split("=", 1)[1]) for a in args
                        if a.startswith("-max_total_time=")), 10.0)
        prefix = next((a.split("=", 1)[1] for a in args if a.startswith("-artifact_prefix=")),
                      "./")
        dirs = [Path(a) for a in args if not a.startswith("-")]
        seeds = [p.read_bytes() for d in dirs if d.is_dir() for p in sorted(d.iterdir())]
        return fallback(run, seeds, seconds, prefix)

    def one_input(data: bytes) -> None:
        run(data)

    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
