"""A company's desk workers on one central broker: the worker holding a site's lease is the
one that takes its gates' messages in (sync/hub/bridge.py), so a journal's batches are
stored in order by one worker; when the lease moves, the messages follow it. And a
subscription a worker's persistent session kept from before (it died holding the site) is
given up when it connects without the site (sync/mqtt/link.py ``follow``)."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hardware_sim.compound_processes import wait_for
from hardware_sim.local_ports import free_tcp_port
from hardware_sim.site_broker import start_mosquitto, stop_mosquitto
from sync.broker.central_broker import CentralBrokerLayout, write_central_broker
from sync.broker.config import bridge_user
from sync.hub.bridge import CentralSync
from sync.hub.site_lease import PostgresSiteLease
from sync.hub.store import CentralStore
from sync.mqtt.link import LinkSettings, MqttLink, Received
from sync.wire import topics
from sync.wire.device_messages import EventAck, EventBatch
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import ConnectProbe, Probe

SITE = "sunrise-garden"
DEVICE = "main-gate"
WALL = 1_796_000_000.0  # in 2026
DESK_PASSWORD = "desk-pw"
BRIDGE_PASSWORD = "bridge-pw"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[CentralBrokerLayout]:
    """A central Mosquitto as the product renders it: the desk's and the sites' listeners."""
    layout = CentralBrokerLayout(tmp_path / "central", tmp_path / "central" / "data",
                                 free_tcp_port(), free_tcp_port(), bind="127.0.0.1",
                                 run_as=getpass.getuser() if os.geteuid() == 0 else None)
    write_central_broker(layout, [(SITE, BRIDGE_PASSWORD)], DESK_PASSWORD)
    proc = start_mosquitto(layout.conf, layout.desk_port)
    yield layout
    stop_mosquitto(proc)


def worker(central: CentralBrokerLayout, url: str, name: str) -> CentralSync:
    """One desk worker's hub of the site, as central/desk_sync.py makes it for a company."""
    return CentralSync(url, SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       central.desk_port, password=DESK_PASSWORD,
                       client_id=f"central-{SITE}-{name}",
                       lease=PostgresSiteLease(url, SITE, name), lease_interval=0.2)


def send(site_side: Probe, seqs: range) -> list[bytes]:
    """Batches of one event each of the gate's journal, in order, as its uplink sends them
    (through the site's bridge); their payloads."""
    sent = []
    for seq in seqs:
        event = {"seq": seq, "boot_id": "b", "wall": WALL + seq, "mono": float(seq),
                 "kind": "tap", "alarm": False, "clock_trusted": True, "data": {}}
        payload = EventBatch(DEVICE, (event,), seq - 1, "j").dump().encode()
        rc = site_side.publish(topics.events(SITE, DEVICE), payload)
        assert not rc.is_failure, rc
        sent.append(payload)
    return sent


def acked(site_side: Probe) -> int:
    """How far the desk acknowledged the gate's journal."""
    acks = [EventAck.parse(p) for p in site_side.on(topics.ack(SITE, DEVICE))]
    return max((a.upto_seq for a in acks), default=0)


def test_the_worker_publishing_a_site_takes_its_messages_in_and_they_follow_the_lease(
        central: CentralBrokerLayout, url: str, mqtt_clients: ConnectProbe) -> None:
    w1, w2 = worker(central, url, "w1"), worker(central, url, "w2")
    site_side = mqtt_clients(central.port, bridge_user(SITE), BRIDGE_PASSWORD)
    site_side.subscribe(topics.ack(SITE, DEVICE))
    try:
        w1.start()
        wait_for("w1 publishing the site", lambda: w1.publishing, 15)
        w2.start()
        wait_for("w2 connected", lambda: w2.connected, 15)
        assert not w2.publishing
        send(site_side, range(1, 41))
        wait_for("the 40 events acknowledged", lambda: acked(site_side) == 40, 30)
        # Every batch went to the one worker publishing the site; none to the other (with
        # the messages shared out, or every worker subscribed, it takes some or all).
        assert (w1.taken_in, w2.taken_in) == (40, 0)
        # Every ack the gate was sent moved forward: never one held at a hole that another
        # worker's batch had not filled yet.
        uptos = [EventAck.parse(p).upto_seq for p in site_side.on(topics.ack(SITE, DEVICE))]
        assert uptos == list(range(1, 41))

        w1.close()  # its lease ends with it; w2 takes the site over
        wait_for("w2 publishing the site", lambda: w2.publishing, 15)
        send(site_side, range(41, 61))
        wait_for("the 60 events acknowledged", lambda: acked(site_side) == 60, 30)
        assert w2.taken_in == 20
    finally:
        w1.close()
        w2.close()
    store = CentralStore(url, SITE)
    try:
        assert store.count_events(DEVICE) == 60
    finally:
        store.close()


def test_a_subscription_left_in_a_persistent_session_is_given_up_at_connect(
        central: CentralBrokerLayout, mqtt_clients: ConnectProbe) -> None:
    topic = topics.events(SITE, DEVICE)
    wildcard = topics.device_wildcard(SITE, "events")
    received: list[bytes] = []

    def took(message: Received) -> None:
        received.append(message.payload)
        message.ack()

    def link() -> MqttLink:
        settings = LinkSettings("127.0.0.1", central.desk_port, f"central-{SITE}-w1",
                                CENTRAL_USER, DESK_PASSWORD, (), session_expiry_s=3600)
        return MqttLink(settings, on_message=took)

    site_side = mqtt_clients(central.port, bridge_user(SITE), BRIDGE_PASSWORD)
    first = link()
    first.follow([wildcard], subscribed=True)
    first.start()
    wait_for("connected", lambda: first.connected, 15)
    one = send(site_side, range(1, 2))
    wait_for("the batch taken in", lambda: received == one, 15)
    first.close()  # as a worker that died holding the site: its session keeps the filter

    again = link()
    again.follow([wildcard], subscribed=False)  # not this worker's site now
    again.start()
    try:
        wait_for("connected again", lambda: again.connected, 15)
        # Another client's SUBACK: by then the broker has long taken the link's UNSUBSCRIBE,
        # sent as it connected.
        watcher = mqtt_clients(central.desk_port, CENTRAL_USER, DESK_PASSWORD,
                               client_id="watcher")
        watcher.subscribe(wildcard)
        two = send(site_side, range(2, 3))
        assert watcher.wait_for(topic, two[0], 10), "the broker did not route the batch"
        time.sleep(0.5)  # as long again for the link to have been given it
        assert received == one, "the session still held the filter given up"
    finally:
        again.close()

