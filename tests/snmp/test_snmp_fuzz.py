"""Property: no input makes SnmpReceiver.receive raise; garbage is rejected and labelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultd.snmp.receiver import SnmpReceiver, SnmpUser

from .test_snmp_differential import messages, mutated

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LABELS = {
    "malformed", "community", "unknown_user", "auth", "decrypt", "security_level",
    "unknown_engine", "unsupported_pdu", "not_in_time_window",
}  # fmt: skip


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> SnmpReceiver:
    return SnmpReceiver(
        communities=["public"],
        users=[SnmpUser("noc", "sha", "authpass-123", "aes", "privpass-456")],
        state_directory=Path(tmp_path_factory.mktemp("state")),
    )


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_are_rejected(receiver: SnmpReceiver, data: bytes) -> None:
    r = receiver.receive(data, ("127.0.0.1", 1), 0.0)
    assert r.events == []
    assert r.rejected in LABELS


@SETTINGS
@given(st.one_of(mutated(), messages))
def test_mutated_messages_never_raise(receiver: SnmpReceiver, data: bytes) -> None:
    r = receiver.receive(data, ("127.0.0.1", 1), 0.0)
    assert len(r.events) <= 1
    assert (r.rejected is None) == bool(r.events) or r.response is not None
    assert r.rejected is None or r.rejected in LABELS


@SETTINGS
@given(st.binary(min_size=1, max_size=200))
def test_v3_shaped_garbage_is_rejected(receiver: SnmpReceiver, tail: bytes) -> None:
    # a plausible v3 header followed by noise: exercises the USM pre-check and pysnmp
    data = bytes.fromhex("3081") + bytes([len(tail) + 3]) + bytes.fromhex("020103") + tail
    r = receiver.receive(data, ("127.0.0.1", 1), 0.0)
    assert r.events == []
    assert r.rejected in LABELS
