"""Ports for local servers are chosen where no outgoing connection can take them between the
choice and the server's bind (a CI run once lost a booth to "address already in use")."""

from __future__ import annotations

import socket
from pathlib import Path

from hardware_sim.local_ports import free_tcp_port, free_udp_port


def _ephemeral_range() -> tuple[int, int]:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_ports_lie_below_the_range_outgoing_connections_take_theirs_from() -> None:
    low, _high = _ephemeral_range()
    ports = [free_tcp_port() for _ in range(50)] + [free_udp_port() for _ in range(50)]
    assert all(1024 < port < low for port in ports), ports
    # An outgoing connection's local port comes from the other range.
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", free_tcp_port()))
        listener.listen()
        client.connect(listener.getsockname())
        assert client.getsockname()[1] >= low


def test_one_process_never_hands_out_a_port_twice() -> None:
    tcp = [free_tcp_port() for _ in range(200)]
    udp = [free_udp_port() for _ in range(200)]
    assert len(set(tcp)) == len(tcp) and len(set(udp)) == len(udp)


def test_a_port_in_use_is_passed_over_and_a_free_preferred_port_is_kept() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", free_tcp_port()))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        assert free_tcp_port(port) != port
        chosen = free_tcp_port()
        assert free_tcp_port(chosen) == chosen
    finally:
        taken.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as reader:
        reader.bind(("127.0.0.1", free_udp_port()))
        assert free_udp_port(reader.getsockname()[1]) != reader.getsockname()[1]
