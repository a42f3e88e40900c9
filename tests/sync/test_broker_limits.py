"""What strangers on the site network can cost the broker, on a real Mosquitto configured by
sync.broker.config: a connection that never finishes its CONNECT must not pin memory.

Mosquitto allocates the length a packet's fixed header declares as soon as it has read the
header, before the client has sent a user name, and keeps it until the packet is complete or
the connection is dropped (about 95 s for a client that never finishes its CONNECT, measured
on 2.0.11; the delay is not configurable). So the broker's memory is bounded by
``max_packet_size`` (refused above it, at the header) times ``max_connections``.

Memory is the broker's resident set (VmRSS in /proc/<pid>/status), sampled while the
connections are open (8 MB at rest here; 14 MB was measured elsewhere).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync.broker.config import DEFAULT_MAX_CONNECTIONS
from sync.broker.provision import ProvisionError, SiteBroker, configure_broker
from sync.wire import topics
from tests.sync.conftest import SITE, Broker, ConnectProbe, MakeSiteCa

STRANGERS = 150
MIB = 1024 * 1024
# Room for the broker's own bookkeeping of so many connections and for a device's session.
SLACK = 8 * MIB


def setting(broker: Broker, name: str) -> int:
    """A whole-number setting of the broker's mosquitto.conf (the first, for a listener's:
    the test broker has one listener)."""
    for line in broker.layout.conf.read_text().splitlines():
        if line.split()[:1] == [name]:
            return int(line.split()[1])
    raise AssertionError(f"mosquitto.conf sets no {name}")


def rss(pid: int) -> int:
    """The resident set of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def connect_header(declared: int) -> bytes:
    """A CONNECT packet's fixed header declaring ``declared`` bytes to follow."""
    out, n = bytearray([0x10]), declared
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end has closed ``sock`` (EOF or reset), without waiting."""
    sock.setblocking(False)  # a socket with a timeout would wait for it before recv
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.fixture
def strangers() -> Iterator[list[socket.socket]]:
    made: list[socket.socket] = []
    yield made
    for sock in made:
        sock.close()


def stalled_connects(port: int, declared: int, sent: int, into: list[socket.socket]) -> None:
    """Open STRANGERS connections that each send a CONNECT header declaring ``declared``
    bytes, then ``sent`` of them, and stall."""
    body = b"\0" * sent
    for _ in range(STRANGERS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        into.append(sock)
        # The broker may close it part-way: what it should do with an oversize one.
        with contextlib.suppress(OSError):
            sock.sendall(connect_header(declared) + body)


def device_still_works(broker: Broker, connect: ConnectProbe) -> None:
    dev_a = connect(broker.port, "dev-a", broker.passwords["dev-a"])
    rc = dev_a.publish(topics.events(SITE, "dev-a"), b'{"not": "checked by the broker"}')
    assert not rc.is_failure, rc


def test_half_sent_2mb_connects_pin_no_memory(broker: Broker, mqtt_clients: ConnectProbe,
                                             strangers: list[socket.socket]) -> None:
    assert broker.proc is not None
    pid = broker.proc.pid
    before = rss(pid)

    stalled_connects(broker.port, 2 * MIB, MIB, strangers)
    time.sleep(0.5)  # let the broker read what it was sent
    during = rss(pid)
    device_still_works(broker, mqtt_clients)
    during = max(during, rss(pid))

    # A header over max_packet_size is refused as soon as it is read.
    assert during < 60 * MIB, f"broker RSS {during / MIB:.0f} MB (was {before / MIB:.0f})"
    assert during - before < SLACK, f"the strangers pinned {(during - before) / MIB:.0f} MB"
    assert all(closed_by_peer(s) for s in strangers), "an oversize CONNECT was kept"


def test_stalled_connects_within_the_limit_pin_a_bounded_amount(
        broker: Broker, strangers: list[socket.socket]) -> None:
    assert broker.proc is not None
    pid = broker.proc.pid
    before = rss(pid)

    largest, connections = setting(broker, "max_packet_size"), setting(broker, "max_connections")
    # Mosquitto 2.0.11 lets one more in than max_connections says (it checks the count
    # before adding the new connection).
    worst_case = (connections + 1) * largest

    # All but the last byte: the broker holds every page of what it allocated.
    stalled_connects(broker.port, largest - 5, largest - 6, strangers)
    time.sleep(0.5)
    during = rss(pid)

    assert during - before < worst_case + SLACK, \
        f"the strangers pinned {(during - before) / MIB:.0f} MB"
    assert during < 60 * MIB, f"broker RSS {during / MIB:.0f} MB"
    kept = sum(not closed_by_peer(s) for s in strangers)
    assert kept <= connections + 1, f"{kept} half-open connections kept"


def test_broker_config_sets_the_connection_limit_on_every_listener(
        tmp_path: Path, make_site_ca: MakeSiteCa) -> None:
    ca = make_site_ca(tmp_path / "ca", "127.0.0.1")
    directory, data = tmp_path / "broker", tmp_path / "data"

    def configure(**kw: Any) -> SiteBroker:
        return configure_broker(SITE, directory, data_dir=data, tls_port=8883,
                                tls_ca=ca / "ca.crt", tls_cert=ca / "server.crt",
                                tls_key=ca / "server.key", **kw)

    broker = configure(max_connections=40)
    conf = broker.layout.conf.read_text().splitlines()
    assert conf.count("max_connections 40") == 2
    assert conf.count("use_username_as_clientid true") == 2
    for listener in (i for i, line in enumerate(conf) if line.startswith("listener ")):
        assert "max_connections 40" in conf[listener:listener + 4]

    # Run again to change something else: the limit a site chose is kept.
    again = configure(port=1884)
    assert again.layout.max_connections == 40
    assert configure_broker(SITE, tmp_path / "fresh", data_dir=data).layout.max_connections \
        == DEFAULT_MAX_CONNECTIONS
    with pytest.raises(ProvisionError, match="max-connections 1"):
        configure_broker(SITE, directory, data_dir=data, max_connections=1)
