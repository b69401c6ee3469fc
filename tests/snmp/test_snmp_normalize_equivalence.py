"""The optimised Normalizer builds exactly the events of the reference implementation.

faultd.snmp.normalize caches per varbind OID and per trap OID and renders the
values in one pass; tests/snmp/normalize_reference.py is the straightforward
implementation it replaced.  For hypothesis-generated v1/v2c/v3 notifications
(known MIB objects with enumerations, unknown OIDs, every value kind, repeated
and hidden varbinds, forwarded snmpTrapAddress, odd trap-OID varbinds) both
must agree on every field but event_id, on the attribute *order* (the JSON
wire form keeps it), and on which inputs raise.  Run with rules and volatile
OIDs configured too, and with warm caches (the same normalizer for all examples).
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultd.event import FaultEvent
from faultd.snmp import normalize
from faultd.snmp.mib import MibNames
from faultd.snmp.types import (
    COUNTER32,
    COUNTER64,
    END_OF_MIB_VIEW,
    GAUGE32,
    INTEGER,
    IP_ADDRESS,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    NULL,
    OCTET_STRING,
    OID,
    OPAQUE,
    PDU_INFORM,
    PDU_V1_TRAP,
    PDU_V2_TRAP,
    TIMETICKS,
    DecodedTrap,
    VarBind,
)

from . import normalize_reference as reference

SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
KNOWN_OBJECTS = [
    (*IF_ENTRY, 1), (*IF_ENTRY, 2), (*IF_ENTRY, 7), (*IF_ENTRY, 8),  # ifIndex/Descr/Admin/Oper
    (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1),  # ifName
    (1, 3, 6, 1, 2, 1, 15, 3, 1, 2),  # bgpPeerState (enum)
    (1, 3, 6, 1, 2, 1, 15, 3, 1, 14),  # bgpPeerLastError
    (1, 3, 6, 1, 2, 1, 1, 5),  # sysName
]  # fmt: skip
SPECIAL = [normalize.SYS_UPTIME, normalize.SNMP_TRAP_OID, normalize.SNMP_TRAP_ADDRESS,
           normalize.SNMP_TRAP_ENTERPRISE]  # fmt: skip
TRAP_OIDS = [
    normalize.LINK_DOWN, normalize.LINK_UP, normalize.COLD_START, normalize.WARM_START,
    normalize.AUTH_FAILURE, (*normalize.SNMP_TRAPS, 6),
    (1, 3, 6, 1, 2, 1, 15, 0, 1), (1, 3, 6, 1, 2, 1, 15, 0, 2), (1, 3, 6, 1, 2, 1, 15, 7, 1),
    (1, 3, 6, 1, 2, 1, 118, 0, 3), (1, 3, 6, 1, 4, 1, 99998, 0, 1),
]  # fmt: skip

arcs = st.integers(0, 2**32 - 1)
small = st.integers(0, 70)
random_oids = st.tuples(st.integers(0, 2), st.integers(0, 39), st.lists(arcs, max_size=8)).map(
    lambda t: (t[0], t[1], *t[2]))
oids = st.one_of(
    st.tuples(st.sampled_from(KNOWN_OBJECTS), st.lists(small, min_size=0, max_size=2)).map(
        lambda t: (*t[0], *t[1])),
    st.sampled_from(SPECIAL),
    random_oids,
    st.just((1, 3)), st.just((1,)),
)  # fmt: skip
texts = st.one_of(
    st.binary(max_size=24),
    st.text(max_size=16).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"eth0", b"Gi0/1 uplink", b'say "hi"', b"a\tb", b"\xff\xfe", b"\x00"]),
)
values = st.one_of(
    st.tuples(st.just(INTEGER), st.one_of(st.integers(-3, 10), st.integers(-(2**31), 2**31 - 1))),
    st.tuples(st.just(OCTET_STRING), texts),
    st.tuples(st.just(OID), st.one_of(st.sampled_from(TRAP_OIDS + KNOWN_OBJECTS), random_oids)),
    st.tuples(st.just(IP_ADDRESS), st.binary(min_size=4, max_size=4)),
    st.tuples(st.sampled_from([COUNTER32, GAUGE32, TIMETICKS]), st.integers(0, 2**32 - 1)),
    st.tuples(st.just(COUNTER64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(OPAQUE), st.binary(max_size=8)),
    st.tuples(st.sampled_from([NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW]),
              st.none()),
)  # fmt: skip
varbinds = st.lists(st.tuples(oids, values).map(lambda t: VarBind(t[0], *t[1])), max_size=7)


@st.composite
def v2_traps(draw: st.DrawFn) -> DecodedTrap:
    head: list[VarBind] = []
    if draw(st.integers(0, 9)):
        head.append(VarBind(normalize.SYS_UPTIME, TIMETICKS, draw(st.integers(0, 2**32 - 1))))
    if draw(st.integers(0, 19)):
        trap_oid = draw(st.one_of(st.sampled_from(TRAP_OIDS), random_oids))
        head.append(VarBind(normalize.SNMP_TRAP_OID, OID, trap_oid))
    vbs = head + draw(varbinds)
    if draw(st.booleans()):
        vbs = draw(st.permutations(vbs))
    v3 = draw(st.integers(0, 4)) == 0
    return DecodedTrap(
        version=3 if v3 else 1,
        pdu=draw(st.sampled_from([PDU_V2_TRAP, PDU_INFORM])),
        varbinds=tuple(vbs),
        request_id=draw(st.integers(-(2**31), 2**31 - 1)),
        community=None if v3 else draw(st.sampled_from([b"public", b"p\xffx", b"with space"])),
        user="noc" if v3 else None,
        engine_id=b"\x80\x00\x01" if v3 else None,
        context_name=draw(st.sampled_from([None, b"", b"ctx"])) if v3 else None,
    )


@st.composite
def v1_traps(draw: st.DrawFn) -> DecodedTrap:
    return DecodedTrap(
        version=0,
        pdu=PDU_V1_TRAP,
        varbinds=tuple(draw(varbinds)),
        community=b"public",
        enterprise=draw(st.one_of(st.just((1, 3, 6, 1, 4, 1, 9)), random_oids)),
        agent_addr=draw(st.sampled_from([bytes(4), bytes([10, 0, 0, 1])])),
        generic_trap=draw(st.integers(0, 6)),
        specific_trap=draw(st.integers(-5, 2**31 - 1)),
        time_stamp=draw(st.integers(0, 2**32 - 1)),
    )


traps = st.one_of(v2_traps(), v1_traps())
senders = st.sampled_from([("192.0.2.50", 50000), ("FE80::AB", 1), ("::ffff:10.1.1.1", 162)])

CONFIGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "rules+volatile": {
        "severity_rules": [
            {"match": "IF-MIB::linkDown", "varbinds": {"ifDescr": "eth*"}, "severity": 1},
            {"match": "linkDown", "varbinds": {"IF-MIB::ifAdminStatus.*": "up"}, "severity": 1},
            {"match": "linkUp", "varbinds": {"ifOperStatus": "2"}, "severity": 3},
            {"match": "1.3.6.1.4.1.*", "severity": 4},
            {"match": "*", "varbinds": {"1.3.6.1.2.1.2.2.1.8*": "down*"}, "severity": 2},
        ],
        "volatile_oids": ["IF-MIB::ifDescr", "1.3.6.1.2.1.15"],
    },
}


def _outcome(norm: Any, trap: DecodedTrap, sender: tuple[str, int]) -> Any:
    try:
        event: FaultEvent = norm.normalize(trap, sender, 1234.5)
    except Exception as exc:  # which exception is part of the contract
        return ("raised", type(exc).__name__)
    assert event.event_id
    return (event.node_id, event.source, event.severity, event.fault_code, event.message,
            event.timestamp, event.received_at, event.tier, event.dedup_key, event.duplicates,
            list(event.attributes.items()))  # fmt: skip


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request: pytest.FixtureRequest, mib_names: MibNames) -> tuple[Any, Any]:
    config = CONFIGS[request.param]
    return reference.Normalizer(mib_names, **config), normalize.Normalizer(mib_names, **config)


@SETTINGS
@given(trap=traps, sender=senders)
def test_optimised_normalizer_matches_the_reference(
    pair: tuple[Any, Any], trap: DecodedTrap, sender: tuple[str, int]
) -> None:
    ref, fast = pair
    assert _outcome(fast, trap, sender) == _outcome(ref, trap, sender)


def test_the_link_down_example_is_identical_cold_and_warm(mib_names: MibNames) -> None:
    trap = DecodedTrap(version=1, pdu=PDU_V2_TRAP, request_id=1, community=b"public", varbinds=(
        VarBind(normalize.SYS_UPTIME, TIMETICKS, 7),
        VarBind(normalize.SNMP_TRAP_OID, OID, normalize.LINK_DOWN),
        VarBind((*IF_ENTRY, 1, 2), INTEGER, 2),
        VarBind((*IF_ENTRY, 7, 2), INTEGER, 1),
        VarBind((*IF_ENTRY, 2, 2), OCTET_STRING, b"Gi0/2 to core"),
    ))  # fmt: skip
    ref, fast = reference.Normalizer(mib_names), normalize.Normalizer(mib_names)
    for _ in range(2):
        assert _outcome(fast, trap, ("192.0.2.1", 1)) == _outcome(ref, trap, ("192.0.2.1", 1))


def test_quoting_whitespace_test_is_str_isspace() -> None:
    # _quoted uses re's \s instead of any(c.isspace()): the same set of code points.
    space = re.compile(r"\s")
    assert all(
        chr(c).isspace() == bool(space.search(chr(c))) for c in range(sys.maxunicode + 1)
    )
    for text in ["", "a", "a b", "a\u00a0b", "a\u2028", 'q"q x']:
        assert normalize._quoted(text) == reference._quoted(text)


def test_huge_oids_are_rendered_but_not_cached(mib_names: MibNames) -> None:
    huge = (1, 3, 6, 1, 4, 1, *range(200))
    trap = DecodedTrap(version=1, pdu=PDU_V2_TRAP, request_id=1, community=b"public", varbinds=(
        VarBind(normalize.SNMP_TRAP_OID, OID, huge),
        VarBind(huge, OID, huge),
    ))  # fmt: skip
    ref, fast = reference.Normalizer(mib_names), normalize.Normalizer(mib_names)
    assert _outcome(fast, trap, ("192.0.2.1", 1)) == _outcome(ref, trap, ("192.0.2.1", 1))
    assert huge not in fast._plans and huge not in fast._traps and huge not in fast._oid_values
    assert huge not in mib_names._names
