"""A client id belongs to its broker user, on a real Mosquitto configured by
sync.broker.config: a device that connects with another client's id (central's, whose
persistent session queues the gates' events while it is away, or another device's) neither
disconnects that client nor inherits its session.

"Receives nothing" is made exact without waiting: the intruder publishes a marker on its own
status topic (which it may write and read back) and must receive the marker and nothing
before it; a resumed session's queued messages are delivered as soon as the session is
resumed, before anything the client publishes afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from sync.hub.bridge import SESSION_EXPIRY_S, CentralSync
from sync.wire import topics
from sync.wire.device_messages import EventBatch
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import SITE, Broker, Probe

CENTRAL_ID = f"{CENTRAL_USER}-{SITE}"  # what CentralSync connects with
AGENT_ID_B = "menwei-sync-dev-b"  # what dev-b's sync agent connects with
MARKER = b"marker"


class SessionProbe(Probe):
    """A Probe that asks for a persistent session, as central does, and records whether the
    broker resumed one."""

    session_present: bool | None = None

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object,
                    rc: ReasonCode, props: Properties | None) -> None:
        self.session_present = bool(getattr(flags, "session_present", False))
        super()._on_connect(client, userdata, flags, rc, props)

    def connect(self) -> ReasonCode | None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect(self.host, self.port, clean_start=False, properties=props)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None or self.closed)
        return self.connack


Connect = Callable[[str, str], SessionProbe]


@pytest.fixture
def connect(broker: Broker) -> Iterator[Connect]:
    """``connect(user, client_id)``: a connected SessionProbe, closed at the end."""
    made: list[SessionProbe] = []

    def make(user: str, client_id: str) -> SessionProbe:
        probe = SessionProbe(broker.port, user, broker.passwords[user], client_id=client_id)
        made.append(probe)
        rc = probe.connect()
        assert rc is not None and not rc.is_failure, f"{user} refused: {rc}"
        return probe

    yield make
    for probe in made:
        probe.close()


def still_connected(probe: Probe, topic: str) -> bool:
    """A round trip through the broker on ``probe``'s own connection (``topic`` is one it
    may write and read)."""
    if probe.closed:
        return False
    try:
        assert not probe.subscribe(topic).is_failure
        return not probe.publish(topic, MARKER).is_failure and probe.wait_for(topic, MARKER)
    except AssertionError:  # no SUBACK or PUBACK: the connection is gone
        return False


def receives_nothing_but_its_marker(probe: Probe, device: str) -> None:
    own = topics.status(SITE, device)
    assert not probe.subscribe(own).is_failure
    assert not probe.publish(own, MARKER).is_failure
    assert probe.wait_for(own, MARKER), "the intruder never got its own marker"
    assert [(m.topic, m.payload) for m in probe.received] == [(own, MARKER)], \
        "the intruder received messages meant for another client"


def test_a_device_using_centrals_client_id_neither_disconnects_nor_joins_it(
        connect: Connect) -> None:
    central = connect(CENTRAL_USER, CENTRAL_ID)
    assert not central.subscribe(topics.device_wildcard(SITE, "events")).is_failure

    intruder = connect("dev-a", CENTRAL_ID)

    assert not intruder.session_present, "dev-a resumed central's session"
    assert still_connected(central, topics.events(SITE, "x")), "central was disconnected"
    dev_b = connect("dev-b", AGENT_ID_B)
    assert not dev_b.publish(topics.events(SITE, "dev-b"), b"batch 1").is_failure
    assert central.wait_for(topics.events(SITE, "dev-b"), b"batch 1")
    receives_nothing_but_its_marker(intruder, "dev-a")


def test_a_device_cannot_take_centrals_queued_messages_and_central_keeps_them(
        connect: Connect) -> None:
    central = connect(CENTRAL_USER, CENTRAL_ID)
    assert not central.subscribe(topics.device_wildcard(SITE, "events")).is_failure
    central.close()  # away: the broker queues the gates' events for its session
    dev_b = connect("dev-b", AGENT_ID_B)
    assert not dev_b.publish(topics.events(SITE, "dev-b"), b"queued for central").is_failure

    intruder = connect("dev-a", CENTRAL_ID)
    assert not intruder.session_present, "dev-a resumed central's session"
    receives_nothing_but_its_marker(intruder, "dev-a")
    intruder.close()

    back = connect(CENTRAL_USER, CENTRAL_ID)
    assert back.session_present, "central's session did not survive"
    assert back.wait_for(topics.events(SITE, "dev-b"), b"queued for central")


def test_a_device_using_another_devices_client_id_does_not_disconnect_it(
        connect: Connect) -> None:
    dev_b = connect("dev-b", AGENT_ID_B)
    intruder = connect("dev-a", AGENT_ID_B)
    assert not intruder.session_present
    assert still_connected(dev_b, topics.status(SITE, "dev-b")), "dev-b was disconnected"
    receives_nothing_but_its_marker(intruder, "dev-a")


def test_centrals_session_is_its_users_whatever_client_id_it_reconnects_with(
        connect: Connect) -> None:
    # The broker keys the session by the username, so a central service whose client id
    # changed (another site name, an upgrade) still finds what was queued for it.
    central = connect(CENTRAL_USER, CENTRAL_ID)
    assert not central.subscribe(topics.device_wildcard(SITE, "events")).is_failure
    central.close()
    dev_b = connect("dev-b", AGENT_ID_B)
    assert not dev_b.publish(topics.events(SITE, "dev-b"), b"queued").is_failure

    back = connect(CENTRAL_USER, "some-other-client-id")
    assert back.session_present
    assert back.wait_for(topics.events(SITE, "dev-b"), b"queued")


def wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_central_sync_finds_the_batches_sent_while_it_was_stopped(
        broker: Broker, connect: Connect, tmp_path: Path) -> None:
    central = CentralSync(tmp_path / "central.db", SITE, Ed25519PrivateKey.generate(),
                          "127.0.0.1", broker.port, password=broker.passwords[CENTRAL_USER],
                          reconnect_delay=(1, 1))
    try:
        central.start()
        assert wait(lambda: central.connected)
        time.sleep(0.3)  # its subscriptions are sent from on_connect
        central.stop()
        dev_b = connect("dev-b", AGENT_ID_B)
        event = {"seq": 1, "boot_id": "b", "wall": 1.0, "mono": 1.0, "kind": "boot",
                 "alarm": False, "clock_trusted": True}
        batch = EventBatch("dev-b", (event,)).dump().encode()
        assert not dev_b.publish(topics.events(SITE, "dev-b"), batch).is_failure

        central.start()
        assert wait(lambda: central.count_events("dev-b") == 1), "the queued batch was lost"
    finally:
        central.close()
