"""Config loading: defaults, YAML-path errors, secret references, reload diffs."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from faultd.config import (
    Config,
    ConfigError,
    changed_sections,
    config_from_mapping,
    keep_restart_only,
    load_config,
    parse_hostport,
)


def errors_of(raw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(raw)
    return info.value.errors


def test_empty_file_means_all_defaults() -> None:
    config = config_from_mapping(None)
    assert config.snmp.listen == "0.0.0.0:162" and config.syslog.listen == "0.0.0.0:514"
    assert config.accumulator.queue_maxsize == 50000
    assert [t.name for t in config.accumulator.tiers] == ["core", "access"]
    assert config.dispatch.rate_limit.requests_per_second == 20
    assert config.spill.memory_high_watermark == 0.85
    assert config.spill_directory == Path("/var/lib/faultd/spill")


@pytest.mark.parametrize(("raw", "expected"), [
    ({"accumulator": {"tiers": [{"name": "core", "match": ["*"], "window_seconds": 0,
                                 "max_batch_size": 1}]}},
     "accumulator.tiers.core.window_seconds: Expected `float` > 0.0"),
    ({"snmp": {"listne": "x"}}, "snmp: unknown key `listne`"),
    ({"nonsense": 1}, "nonsense: unknown key"),
    ({"accumulator": {"queue_maxsize": "many"}},
     "accumulator.queue_maxsize: Expected `int`, got `str`"),
    ({"syslog": {"listen": "514"}}, "syslog.listen: '514' is not host:port"),
    ({"snmp": {"allowed_sources": ["10.0.0.0/33"]}}, "snmp.allowed_sources: '10.0.0.0/33'"),
    ({"snmp": {"users": [{"name": "noc", "auth_protocol": "sha"}]}},
     "snmp.users.noc.auth_key: required"),
    ({"snmp": {"users": [{"name": "noc", "auth_protocol": "sha", "auth_key": "x" * 8,
                          "priv_protocol": "rot13", "priv_key": "y" * 8}]}},
     "snmp.users.noc.priv_protocol"),
    ({"snmp": {"users": [{"name": "noc", "engine_id": "zz"}]}}, "snmp.users.noc.engine_id"),
    ({"dispatch": {"endpoint": "localhost:8080"}}, "dispatch.endpoint"),
    ({"dispatch": {"endpoint": "http://127.0.0.1:99999/x"}}, "has an invalid port"),
    ({"accumulator": {"overflow": "explode"}}, "accumulator.overflow"),
    ({"accumulator": {"tiers": [{"name": "a", "match": ["*"], "window_seconds": 1,
                                 "max_batch_size": 1}] * 2}}, "duplicate tier name"),
    ({"syslog": {"vendor_patterns": [{"name": "x", "pattern": "no group"}]}},
     "syslog.vendor_patterns.x.pattern: needs a named group"),
])
def test_errors_name_their_yaml_path(raw: dict, expected: str) -> None:
    assert any(expected in e for e in errors_of(raw)), errors_of(raw)


def test_every_broken_section_is_reported_at_once() -> None:
    errors = errors_of({"snmp": {"listen": "bad"}, "syslog": {"listen": "bad"}})
    assert len(errors) == 2


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTD_TEST_AUTH", "authpass123")
    priv = tmp_path / "noc.priv"
    priv.write_text("privpass456\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "token").write_text("s3cret")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    config = config_from_mapping({
        "snmp": {"users": [{"name": "noc", "auth_protocol": "sha",
                            "auth_key": "${FAULTD_TEST_AUTH}", "priv_protocol": "aes",
                            "priv_key": f"file:{priv}"}]},
        "dispatch": {"headers": {"Authorization": "Bearer credential:token"}},
        "state_directory": "${FAULTD_UNSET_DIR:-/srv/faultd}",
    })
    user = config.snmp.users[0]
    assert (user.auth_key, user.priv_key) == ("authpass123", "privpass456")
    assert config.state_directory == "/srv/faultd"
    # credential: only applies to a whole value, like file:
    assert config.dispatch.headers["Authorization"] == "Bearer credential:token"
    config = config_from_mapping({"dispatch": {"headers": {"X-Token": "credential:token"}}})
    assert config.dispatch.headers["X-Token"] == "s3cret"


def test_missing_secret_names_path_but_not_value(tmp_path: Path) -> None:
    errors = errors_of({"snmp": {"users": [{"name": "noc", "auth_protocol": "md5",
                                            "auth_key": f"file:{tmp_path}/missing"}]}})
    assert errors[0].startswith("snmp.users.noc.auth_key: cannot read secret file")


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("snmp:\n  listen: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line" in info.value.errors[0]


@pytest.mark.parametrize(("text", "expected"), [
    ("0.0.0.0:162", ("0.0.0.0", 162)), ("[::]:514", ("::", 514)),
    ("localhost:1", ("localhost", 1)), ("[::1]:0", ("::1", 0)),
])
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", ["162", "[::1]", "host:99999", "[nothex]:1", ":162"])
def test_parse_hostport_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hostport(text)


def test_changed_sections() -> None:
    a = config_from_mapping({})
    b = config_from_mapping({"dispatch": {"timeout_seconds": 3}})
    assert changed_sections(a, b) == {"dispatch"}


def test_keep_restart_only_names_and_reverts_what_a_reload_cannot_apply(tmp_path: Path) -> None:
    old = config_from_mapping({"state_directory": str(tmp_path / "a"), "collector_name": "c1"})
    same, names = keep_restart_only(old, old)
    assert same is old and names == []

    new = config_from_mapping({
        "state_directory": str(tmp_path / "b"), "collector_name": "c2",
        "bus": {"role": "collector", "servers": ["nats://127.0.0.1:4222"]},
        "spill": {"fsync": "never", "journal": False, "max_bytes": 1 << 30},
        "metrics": {"ring_size": 5, "debug_endpoints": False},
        "accumulator": {"critical_window_seconds": 0.5},
    })
    kept, names = keep_restart_only(old, new)
    assert names == ["collector_name", "bus", "metrics.ring_size",
                     "the spill location (spill.directory, or state_directory)",
                     "spill.journal", "spill.fsync", "spill.max_bytes"]
    # the running values stay; everything else is the new file's
    assert (kept.collector_name, kept.bus, kept.metrics.ring_size) == (
        "c1", old.bus, old.metrics.ring_size)
    assert kept.spill_directory == old.spill_directory
    assert (kept.spill.fsync, kept.spill.journal, kept.spill.max_bytes) == (
        old.spill.fsync, old.spill.journal, old.spill.max_bytes)
    assert kept.state_directory == str(tmp_path / "b")
    assert kept.metrics.debug_endpoints is False
    assert kept.accumulator.critical_window_seconds == 0.5
    # applied again, nothing is left to name
    assert keep_restart_only(old, kept)[1] == []


def test_keep_restart_only_names_an_explicit_spill_directory(tmp_path: Path) -> None:
    old = config_from_mapping({"state_directory": str(tmp_path)})
    new = config_from_mapping({"state_directory": str(tmp_path),
                               "spill": {"directory": str(tmp_path / "elsewhere")}})
    kept, names = keep_restart_only(old, new)
    assert names == ["the spill location (spill.directory, or state_directory)"]
    assert kept.spill_directory == old.spill_directory
    # the file put back as it was: nothing left to name
    assert keep_restart_only(kept, old)[1] == []


def test_keep_restart_only_workers_and_overflow_only_across_their_boundaries() -> None:
    one = config_from_mapping({"workers": 1, "accumulator": {"overflow": "spill"}})
    two = config_from_mapping({"workers": 2, "accumulator": {"overflow": "drop_newest"}})
    kept, names = keep_restart_only(one, two)
    assert names == ["workers (between 1 and more)",
                     "accumulator.overflow (to or from spill)"]
    assert (kept.workers, kept.accumulator.overflow) == (1, "spill")
    # applied live: another worker count above 1, the other drop policy
    four = config_from_mapping({"workers": 4, "accumulator": {"overflow": "drop_oldest"}})
    kept, names = keep_restart_only(two, four)
    assert names == [] and kept is four


def test_the_shipped_file_documents_every_key() -> None:
    """README: every key is documented in etc/faultd.yaml (set, or commented out)."""
    shipped = (Path(__file__).parents[1] / "etc" / "faultd.yaml").read_text()
    defaults = config_from_mapping({})
    missing = []
    for section in Config.__struct_fields__:
        found = re.search(rf"^#? ?{section}:.*\n((?:[ #].*\n|\n)*)", shipped, re.MULTILINE)
        if found is None:
            missing.append(section)
            continue
        value = getattr(defaults, section)
        if isinstance(value, msgspec.Struct):
            block = found.group(1)
            missing += [f"{section}.{key}" for key in type(value).__struct_fields__
                        if not re.search(rf"^ +#? ?{key}:", block, re.MULTILINE)]
    assert missing == []
