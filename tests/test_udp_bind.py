"""UDP listener sockets: a second bind of the same port fails loudly, workers share."""

from __future__ import annotations

import os
import socket

import pytest

from faultd.sources.udp import bind_udp


def test_second_listener_on_the_same_port_is_refused() -> None:
    first = bind_udp("127.0.0.1:0")
    port = first.getsockname()[1]
    try:
        with pytest.raises(OSError):
            bind_udp(f"127.0.0.1:{port}")
    finally:
        first.close()


def test_reuse_port_workers_share_a_port_and_get_a_large_buffer() -> None:
    a = bind_udp("127.0.0.1:0", reuse_port=True)
    port = a.getsockname()[1]
    b = bind_udp(f"127.0.0.1:{port}", reuse_port=True)
    try:
        assert b.getsockname()[1] == port
        if os.geteuid() == 0:  # SO_RCVBUFFORCE; others get net.core.rmem_max at most
            assert a.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) >= 4 << 20
    finally:
        a.close()
        b.close()


def test_dual_stack_any_address() -> None:
    sock = bind_udp("[::]:0")
    try:
        assert sock.family == socket.AF_INET6
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
    finally:
        sock.close()
