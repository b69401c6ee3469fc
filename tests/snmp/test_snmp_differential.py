"""Differential proof that the fast path (faultd.parse.ber) decodes exactly like pysnmp.

Invariant checked on every input: if the fast path accepts a datagram, pysnmp
accepts it too and yields the identical DecodedTrap (OIDs, value kinds,
values, v1 header fields, request-id); where the fast path declines, pysnmp
decides alone.  Inputs: hypothesis-generated messages encoded by pysnmp/pyasn1,
hand-built BER near the grammar (odd tags, lengths, integer encodings),
mutations of valid messages, and messages captured from net-snmp's snmptrap
and snmpinform.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v1, v2c
from pysnmp.proto.rfc1905 import endOfMibView, noSuchInstance, noSuchObject

from faultd.parse import ber
from faultd.snmp.engine import PysnmpPath
from faultd.snmp.types import DecodedTrap, VarBind

from .harness import LINKDOWN_VARBINDS, capture, needs_netsnmp, target, udp_socket

SETTINGS = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SENDER = ("127.0.0.1", 40000)


def check(data: bytes, path: PysnmpPath) -> DecodedTrap | None:
    """Assert the invariant for one datagram; return the fast path's result."""
    fast = ber.decode(data)
    slow = path.receive(data, SENDER, 0.0)
    if fast is None:
        return None
    if fast.community != b"public":
        assert slow.trap is None
        assert slow.rejected == "community"
    else:
        assert slow.rejected is None, f"fast path accepted what pysnmp rejects: {data.hex()}"
        assert slow.trap == fast, data.hex()
    return fast


# --- messages encoded by pysnmp ------------------------------------------------

arc = st.integers(0, 2**32 - 1)
oids = st.one_of(
    st.tuples(st.integers(0, 1), st.integers(0, 39), st.lists(arc, max_size=12)),
    st.tuples(st.just(2), st.integers(0, 100_000), st.lists(arc, max_size=12)),
).map(lambda t: (t[0], t[1], *t[2]))
u32 = st.integers(0, 2**32 - 1)

v2_values = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(v2c.Integer),
    st.binary(max_size=80).map(v2c.OctetString),
    st.builds(lambda: v2c.Null("")),
    oids.map(v2c.ObjectIdentifier),
    st.binary(min_size=4, max_size=4).map(v2c.IpAddress),
    u32.map(v2c.Counter32),
    u32.map(v2c.Gauge32),
    u32.map(v2c.TimeTicks),
    st.binary(max_size=20).map(v2c.Opaque),
    st.integers(0, 2**64 - 1).map(v2c.Counter64),
    st.integers(0, 2).map(lambda i: (noSuchObject, noSuchInstance, endOfMibView)[i]),
)
v1_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(v1.Integer),
    st.binary(max_size=80).map(v1.OctetString),
    st.builds(lambda: v1.Null("")),
    oids.map(v1.ObjectIdentifier),
    st.binary(min_size=4, max_size=4).map(v1.IpAddress),
    u32.map(v1.Counter),
    u32.map(v1.Gauge),
    u32.map(v1.TimeTicks),
    st.binary(max_size=20).map(v1.Opaque),
)
communities = st.one_of(st.just(b"public"), st.binary(max_size=12))


@st.composite
def v2_messages(draw: st.DrawFn, inform: bool | None = None) -> bytes:
    is_inform = draw(st.booleans()) if inform is None else inform
    pdu = v2c.InformRequestPDU() if is_inform else v2c.SNMPv2TrapPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, draw(st.integers(-(2**31), 2**31 - 1)))
    vbs = draw(st.lists(st.tuples(oids, v2_values), max_size=8))
    v2c.apiPDU.set_varbinds(pdu, vbs)
    msg = v2c.Message()
    v2c.apiMessage.set_defaults(msg)
    v2c.apiMessage.set_community(msg, draw(communities))
    v2c.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


@st.composite
def v1_messages(draw: st.DrawFn) -> bytes:
    pdu = v1.TrapPDU()
    v1.apiTrapPDU.set_defaults(pdu)
    v1.apiTrapPDU.set_enterprise(pdu, draw(oids))
    v1.apiTrapPDU.set_agent_address(pdu, draw(st.binary(min_size=4, max_size=4)))
    v1.apiTrapPDU.set_generic_trap(pdu, draw(st.integers(0, 6)))
    v1.apiTrapPDU.set_specific_trap(pdu, draw(st.integers(-(2**31), 2**31 - 1)))
    v1.apiTrapPDU.set_timestamp(pdu, draw(u32))
    v1.apiTrapPDU.set_varbinds(pdu, draw(st.lists(st.tuples(oids, v1_values), max_size=8)))
    msg = v1.Message()
    v1.apiMessage.set_defaults(msg)
    v1.apiMessage.set_community(msg, draw(communities))
    v1.apiMessage.set_pdu(msg, pdu)
    return bytes(encoder.encode(msg))


messages = st.one_of(v1_messages(), v2_messages())


@SETTINGS
@given(messages)
def test_pysnmp_encoded_messages_take_the_fast_path_and_decode_identically(
    pysnmp_path: PysnmpPath, data: bytes
) -> None:
    assert ber.decode(data) is not None, data.hex()  # canonical encodings are all ours
    check(data, pysnmp_path)


# --- hand-built BER near the grammar -------------------------------------------


def tlv(tag: int, body: bytes, long_len: int = 0) -> bytes:
    n = len(body)
    if long_len:  # long form with long_len length octets (more if the length needs them)
        long_len = max(long_len, (n.bit_length() + 7) // 8)
        return bytes([tag, 0x80 | long_len]) + n.to_bytes(long_len, "big") + body
    if n < 0x80:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def int_body(value: int, pad: int = 0) -> bytes:
    size = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    body = value.to_bytes(size, "big", signed=True)
    return (b"\xff" if value < 0 else b"\x00") * pad + body


@st.composite
def raw_ints(draw: st.DrawFn) -> bytes:
    value = draw(st.one_of(st.integers(-(2**70), 2**70), st.sampled_from(
        [0, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32 - 1, 2**32, 2**64 - 1, 2**64]
    )))  # fmt: skip
    pad = draw(st.sampled_from([0, 0, 0, 1]))
    return b"" if draw(st.integers(0, 30)) == 0 else int_body(value, pad)


@st.composite
def raw_values(draw: st.DrawFn) -> bytes:
    tag = draw(st.sampled_from(
        [0x02, 0x04, 0x05, 0x06, 0x40, 0x41, 0x42, 0x43, 0x44, 0x46, 0x80, 0x81, 0x82,
         0x01, 0x03, 0x24, 0x30, 0x45, 0x47, 0x83, 0x9F]
    ))  # fmt: skip
    if tag in (0x02, 0x41, 0x42, 0x43, 0x46):
        body = draw(raw_ints())
    elif tag == 0x06:
        body = encoder.encode(v2c.ObjectIdentifier(draw(oids)))[2:]
        if draw(st.integers(0, 10)) == 0:
            body = b"\x80" + body
    elif tag in (0x05, 0x80, 0x81, 0x82):
        body = b"" if draw(st.integers(0, 5)) else b"\x00"
    elif tag == 0x40:
        body = draw(st.binary(min_size=3, max_size=5))
    else:
        body = draw(st.binary(max_size=10))
    return tlv(tag, body, draw(st.sampled_from([0, 0, 0, 1, 2])))


@st.composite
def raw_messages(draw: st.DrawFn) -> bytes:
    ll = st.sampled_from([0, 0, 0, 1, 2, 4])
    vbs = b"".join(
        tlv(0x30, tlv(0x06, encoder.encode(v2c.ObjectIdentifier(oid))[2:]) + value, draw(ll))
        for oid, value in draw(st.lists(st.tuples(oids, raw_values()), max_size=5))
    )
    vbl = tlv(0x30, vbs, draw(ll))
    version = draw(st.sampled_from([0, 1, 1, 2, 3]))
    pdu_tag = draw(st.sampled_from([0xA4, 0xA6, 0xA7, 0xA7, 0xA0, 0xA2, 0xA5, 0xA8]))
    if pdu_tag == 0xA4:
        body = (
            tlv(0x06, encoder.encode(v2c.ObjectIdentifier(draw(oids)))[2:])
            + tlv(0x40, draw(st.binary(min_size=3, max_size=5)))
            + tlv(0x02, int_body(draw(st.integers(-2, 9))))
            + tlv(0x02, draw(raw_ints()))
            + tlv(0x43, draw(raw_ints()))
            + vbl
        )
    else:
        body = (
            tlv(0x02, draw(raw_ints()))
            + tlv(0x02, int_body(draw(st.sampled_from([0, 0, 0, 1]))))
            + tlv(0x02, int_body(draw(st.sampled_from([0, 0, 0, 1]))))
            + vbl
        )
    msg = tlv(
        0x30,
        tlv(0x02, int_body(version)) + tlv(0x04, b"public") + tlv(pdu_tag, body, draw(ll)),
        draw(ll),
    )
    return msg + draw(st.sampled_from([b"", b"", b"", b"\x00", b"\x05\x00"]))


@SETTINGS
@given(raw_messages())
@example(bytes.fromhex("300d02010104067075626c6963a7"))  # truncated
def test_hand_built_ber_is_a_subset_of_pysnmp(pysnmp_path: PysnmpPath, data: bytes) -> None:
    check(data, pysnmp_path)


# --- mutations of valid messages -----------------------------------------------


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(messages))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=3))
        else:
            del data[i]
    return bytes(data)


@settings(SETTINGS, max_examples=500)
@given(mutated())
def test_mutated_messages_never_diverge(pysnmp_path: PysnmpPath, data: bytes) -> None:
    check(data, pysnmp_path)


@settings(SETTINGS, max_examples=300)
@given(st.binary(max_size=120))
def test_random_bytes_never_diverge(pysnmp_path: PysnmpPath, data: bytes) -> None:
    check(data, pysnmp_path)


# --- INFORM responses ----------------------------------------------------------


def _decoded_response(data: bytes) -> tuple[int, int, int, list[tuple[object, object]], bytes]:
    msg, rest = decoder.decode(data, asn1Spec=v2c.Message())
    assert rest == b""
    pdu = v2c.apiMessage.get_pdu(msg)
    assert pdu.tagSet == v2c.ResponsePDU.tagSet
    return (
        int(v2c.apiPDU.get_request_id(pdu)),
        int(v2c.apiPDU.get_error_status(pdu)),
        int(v2c.apiPDU.get_error_index(pdu)),
        [(tuple(n), v) for n, v in v2c.apiPDU.get_varbinds(pdu)],
        bytes(v2c.apiMessage.get_community(msg)),
    )


@SETTINGS
@given(v2_messages(inform=True).filter(lambda d: b"public" in d))
def test_fast_inform_response_equals_pysnmps(pysnmp_path: PysnmpPath, data: bytes) -> None:
    trap = ber.decode(data)
    if trap is None or trap.community != b"public":
        return
    ours = ber.inform_response(data)
    theirs = pysnmp_path.receive(data, SENDER, 0.0).response
    assert theirs is not None
    assert _decoded_response(ours) == _decoded_response(theirs)
    assert _decoded_response(ours)[:3] == (trap.request_id, 0, 0)


# --- net-snmp captures ---------------------------------------------------------

ALL_TYPES = (
    "1.3.6.1.4.1.99999.1.1", "i", "-7",
    "1.3.6.1.4.1.99999.1.2", "u", "4294967295",
    "1.3.6.1.4.1.99999.1.3", "c", "123456",
    "1.3.6.1.4.1.99999.1.4", "s", "hello world",
    "1.3.6.1.4.1.99999.1.5", "x", "00 ff 10",
    "1.3.6.1.4.1.99999.1.6", "d", "1.2.3",
    "1.3.6.1.4.1.99999.1.7", "n", "",
    "1.3.6.1.4.1.99999.1.8", "o", "1.3.6.1.2.1.1",
    "1.3.6.1.4.1.99999.1.9", "t", "4294967295",
    "1.3.6.1.4.1.99999.1.10", "a", "192.0.2.1",
    "1.3.6.1.4.1.99999.1.11", "b", "1 3",
    "1.3.6.1.4.1.99999.1.12", "s", "",
    "1.3.6.1.4.1.99999.1.13", "i", "2147483647",
    "1.3.6.1.4.1.99999.1.14", "o", "1.3.6.1.4.1.4294967295.0",
)  # fmt: skip


@needs_netsnmp
def test_netsnmp_captures_take_the_fast_path_and_decode_identically(
    pysnmp_path: PysnmpPath,
) -> None:
    sock = udp_socket()
    t = target(sock)
    commands = [
        ["snmptrap", "-v2c", "-c", "public", t, "123", "1.3.6.1.6.3.1.1.5.3", *LINKDOWN_VARBINDS],
        ["snmptrap", "-v2c", "-c", "public", t, "", "1.3.6.1.4.1.99999.2.0.1", *ALL_TYPES],
        ["snmptrap", "-v2c", "-c", "other", t, "", "1.3.6.1.6.3.1.1.5.1"],
        ["snmptrap", "-v1", "-c", "public", t, "1.3.6.1.4.1.9", "10.1.2.3", "2", "0", "55",
         *LINKDOWN_VARBINDS],
        ["snmptrap", "-v1", "-c", "public", t, "1.3.6.1.4.1.99999.2", "0.0.0.0", "6", "17", "",
         *ALL_TYPES],
        ["snmptrap", "-v1", "-c", "public", t, "1.3.6.1.4.1.9", "", "0", "0", ""],
        ["snmpinform", "-v2c", "-c", "public", "-r", "0", "-t", "0.2", t, "", "1.3.6.1.6.3.1.1.5.4",
         *ALL_TYPES],
    ]  # fmt: skip
    try:
        for argv in commands:
            data = capture(argv, sock)
            fast = check(data, pysnmp_path)
            assert fast is not None, f"{argv[:3]} missed the fast path: {data.hex()}"
    finally:
        sock.close()


# --- the fast path's own shortcuts -----------------------------------------------


@settings(SETTINGS, max_examples=300)
@given(st.one_of(messages, raw_messages(), mutated()))
def test_oid_cache_is_transparent(data: bytes) -> None:
    """OIDs are cached by their encoded octets: a cold and a warm decode agree."""
    ber._OID_CACHE.clear()
    cold = ber.decode(data)
    warm = ber.decode(data)
    assert cold == warm
    if cold is not None:  # the cached tuples are the decoded ones, arc for arc
        for vb in cold.varbinds:
            assert all(isinstance(arc, int) and arc >= 0 for arc in vb.oid)


def test_oid_cache_is_bounded() -> None:
    ber._OID_CACHE.clear()
    head = bytes.fromhex("2b06010401")  # 1.3.6.1.4.1.<n>, n in 3 octets
    for i in range(ber._OID_CACHE_MAX + 10):
        n = i + (1 << 14)
        arc = bytes([0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F, n & 0x7F])
        oid = tlv(0x06, head + arc)
        vb = tlv(0x30, oid + tlv(0x05, b""))
        msg = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, b"public") + tlv(0xA7, (
            tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, vb))))
        trap = ber.decode(msg)
        assert trap is not None and trap.varbinds[0].oid == (1, 3, 6, 1, 4, 1, n)
    assert len(ber._OID_CACHE) <= ber._OID_CACHE_MAX


def test_long_oids_are_decoded_but_not_cached() -> None:
    ber._OID_CACHE.clear()
    arcs = bytes.fromhex("2b06010401") + bytes(range(1, 100))  # 104 octets
    vb = tlv(0x30, tlv(0x06, arcs) + tlv(0x06, arcs))
    msg = tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, b"public") + tlv(0xA7, (
        tlv(0x02, b"\x01") + tlv(0x02, b"\x00") + tlv(0x02, b"\x00") + tlv(0x30, vb))))
    trap = ber.decode(msg)
    assert trap is not None
    assert trap.varbinds[0].oid == trap.varbinds[0].value == (1, 3, 6, 1, 4, 1, *range(1, 100))
    assert not ber._OID_CACHE


@given(st.sampled_from(["v2trap", "inform"]), st.integers(-(2**31), 2**31 - 1),
       st.binary(max_size=8))
def test_fast_v2c_constructor_builds_the_dataclass(pdu: str, request_id: int,
                                                   community: bytes) -> None:
    vbs = (VarBind((1, 3, 6, 1, 2, 1, 1, 3, 0), "TimeTicks", 5),)
    fast = ber._v2c_trap(pdu, vbs, request_id, community)
    plain = DecodedTrap(version=1, pdu=pdu, varbinds=vbs, request_id=request_id,
                        community=community)
    assert type(fast) is DecodedTrap
    assert fast == plain and repr(fast) == repr(plain) and hash(fast) == hash(plain)
