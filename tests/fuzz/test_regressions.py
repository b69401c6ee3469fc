"""Inputs the fuzzers found, fixed at the right place, kept as regression tests.

Also replays every seed in tests/fuzz/corpus/ through the real decoders, so a
broken seed (or a decoder that stopped accepting a real capture) shows up in
`make test` without any fuzzing budget.
"""

from __future__ import annotations

import struct
import zoneinfo
from pathlib import Path

import pytest

from faultd.config import ConfigError, load_config
from faultd.normalize_syslog import SyslogNormalizer
from faultd.parse import ber
from faultd.snmp.receiver import SnmpReceiver
from faultd.spill import SpillStore

CORPUS = Path(__file__).resolve().parent / "corpus"


def test_config_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    # found by the config target: UnicodeDecodeError escaped load_config (traceback at
    # start, an unhandled task error on SIGHUP) instead of a ConfigError
    path = tmp_path / "faultd.yaml"
    path.write_bytes(b"syslog:\n  listen: \"127.0.0.1:514\"\n# caf\xa8\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "not UTF-8 text (byte" in str(err.value)


def test_config_nested_too_deeply_is_a_config_error(tmp_path: Path) -> None:
    # found while seeding the config target: PyYAML recurses per nesting level
    path = tmp_path / "faultd.yaml"
    path.write_text("syslog: " + "[" * 1200 + "]" * 1200 + "\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "nested too deeply" in str(err.value)


def test_syslog_seeds_normalize() -> None:
    normalizer = SyslogNormalizer(zoneinfo.ZoneInfo("UTC"))
    seeds = sorted((CORPUS / "syslog").iterdir())
    assert len(seeds) >= 60
    for seed in seeds:
        normalizer.normalize(seed.read_bytes(), "192.0.2.1", 1_764_000_000.0)


def test_snmp_seeds_are_real_net_snmp_captures(tmp_path: Path) -> None:
    receiver = SnmpReceiver(communities=["public"], users=[], state_directory=tmp_path)
    fast = 0
    for seed in sorted((CORPUS / "snmp").iterdir()):
        data = seed.read_bytes()
        if seed.name.startswith(("v1-", "v2c-")):
            assert ber.decode(data) is not None, seed.name
            fast += 1
            assert len(receiver.receive(data, ("127.0.0.1", 1), 0.0).events) == 1, seed.name
        else:
            assert ber.message_version(data) == 3, seed.name
    assert fast >= 5


def test_spill_seeds_replay(tmp_path: Path) -> None:
    for i, seed in enumerate(sorted((CORPUS / "spill").iterdir())):
        data = seed.read_bytes()
        (ack_len,) = struct.unpack_from("<H", data)
        lane = tmp_path / str(i) / "standard"
        lane.mkdir(parents=True)
        (lane / "00000000000000000001-0000000001.seg").write_bytes(data[2 + ack_len:])
        store = SpillStore(tmp_path / str(i), fsync="never")
        try:
            assert list(store.replay()), seed.name
        finally:
            store.close()


def test_config_seeds_load(tmp_path: Path) -> None:
    for seed in sorted((CORPUS / "config").iterdir()):
        load_config(seed)
