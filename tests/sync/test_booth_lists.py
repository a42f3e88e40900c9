"""The hub's booth-list publisher (sync/hub/booth_lists.py) against a real Mosquitto, with a
paho client playing the booth: a retained list for a booth that connects later, a newer
version when the desk's records change, none when they do not (also after a restart of the
desk), nothing while the broker is down and the catch-up when it is back, and the last list
again for a broker that lost its retained messages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.booth_lists import content_digest
from sync.hub.bridge import CentralSync
from sync.hub.store import CentralStore
from sync.wire import topics
from sync.wire.booth_list import (
    BoothGuard,
    BoothList,
    BoothSlip,
    ParkingTariff,
)
from sync.wire.device_messages import EventBatch
from sync.wire.signing import verify
from tests.sync.conftest import SITE, Broker, ConnectProbe, Probe

BOOTH = "east-booth"
TOPIC = topics.booth_list(SITE, BOOTH)
TARIFF = ParkingTariff(15, 500, 200, "22:00", "07:00", 4000)


class Desk:
    """What the desk would build: one booth's list, changed by the test."""

    def __init__(self) -> None:
        self.guards = [BoothGuard("guard", "王保安", "$argon2id$v=19$m=1024,t=1,p=1$x$y")]
        self.slips: list[BoothSlip] = []
        self.builds = 0
        self._lock = threading.Lock()

    def lists(self) -> list[BoothList]:
        with self._lock:
            self.builds += 1
            return [BoothList(SITE, BOOTH, 1, 0.0, "Asia/Shanghai", 60_000, TARIFF,
                              tuple(self.guards), tuple(self.slips), (), ())]


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def booth_broker(broker: Broker) -> Broker:
    """The site broker with the booth's account."""
    broker.add_device(BOOTH)
    return broker


@pytest.fixture
def desk() -> Desk:
    return Desk()


def start_central(broker: Broker, store_path: Path, key: Ed25519PrivateKey,
                  desk: Desk) -> CentralSync:
    central = CentralSync(store_path, SITE, key, "127.0.0.1", broker.port,
                          password="central-pw", reconnect_delay=(1, 1),
                          booth_lists=desk.lists)
    assert central.booth_lists is not None
    central.booth_lists.interval_s = 0.1  # the desk's records are polled; quick in a test
    central.start()
    wait_until(lambda: central.connected)
    return central


@pytest.fixture
def central(booth_broker: Broker, tmp_path: Path, key: Ed25519PrivateKey,
            desk: Desk) -> Iterator[CentralSync]:
    c = start_central(booth_broker, tmp_path / "central.db", key, desk)
    yield c
    c.close()


def published(central: CentralSync) -> int:
    """The version the store says the broker acknowledged (0: none yet)."""
    last = central.store.published_booth_list(BOOTH)
    return 0 if last is None else last.version


def the_booth(broker: Broker, mqtt_clients: ConnectProbe) -> Probe:
    """The booth's own connection, subscribed to its list."""
    probe = mqtt_clients(broker.port, BOOTH, broker.passwords[BOOTH])
    assert not probe.subscribe(TOPIC).is_failure
    return probe


def lists_received(probe: Probe, key: Ed25519PrivateKey) -> list[BoothList]:
    return [BoothList.parse(verify(key.public_key(), raw)) for raw in probe.on(TOPIC)]


def test_a_booth_connecting_later_finds_its_signed_list(
        central: CentralSync, booth_broker: Broker, key: Ed25519PrivateKey,
        mqtt_clients: ConnectProbe) -> None:
    wait_until(lambda: published(central) > 0)
    version = published(central)
    assert version >= int(time.time() * 1000) - 60_000  # numbered by the clock, in ms
    probe = the_booth(booth_broker, mqtt_clients)
    wait_until(lambda: len(probe.on(TOPIC)) == 1)
    assert probe.received[0].retain
    [got] = lists_received(probe, key)
    assert (got.site, got.booth, got.version) == (SITE, BOOTH, version)
    assert [g.username for g in got.guards] == ["guard"]
    assert central.store.published_booth_list(BOOTH).digest == content_digest(got)  # type: ignore[union-attr]


def test_a_change_gives_a_newer_version_and_the_same_content_none(
        central: CentralSync, desk: Desk, booth_broker: Broker, key: Ed25519PrivateKey,
        mqtt_clients: ConnectProbe) -> None:
    wait_until(lambda: published(central) > 0)
    first = published(central)
    probe = the_booth(booth_broker, mqtt_clients)
    wait_until(lambda: len(probe.on(TOPIC)) == 1)
    # Unchanged content: the desk is asked again and again, nothing new goes out.
    builds = desk.builds
    wait_until(lambda: desk.builds >= builds + 5)
    assert published(central) == first and len(probe.on(TOPIC)) == 1
    desk.slips.append(BoothSlip(7, "1-1201", "李师傅", "沙发一套", date(2026, 6, 9), True, "open"))
    wait_until(lambda: published(central) > first)
    wait_until(lambda: len(probe.on(TOPIC)) == 2)
    newer = lists_received(probe, key)[-1]
    assert newer.version == published(central) > first
    assert [s.number for s in newer.slips] == [7]


def test_a_restarted_desk_publishes_no_new_version_of_the_same_list(
        booth_broker: Broker, tmp_path: Path, key: Ed25519PrivateKey, desk: Desk) -> None:
    central = start_central(booth_broker, tmp_path / "central.db", key, desk)
    wait_until(lambda: published(central) > 0)
    first = published(central)
    central.close()
    again = start_central(booth_broker, tmp_path / "central.db", key, desk)
    try:
        builds = desk.builds
        wait_until(lambda: desk.builds >= builds + 5)
        assert published(again) == first
    finally:
        again.close()
    assert CentralStore(tmp_path / "central.db", SITE).published_booth_list(BOOTH) is not None


def test_nothing_while_the_broker_is_down_then_it_catches_up(
        central: CentralSync, desk: Desk, booth_broker: Broker, key: Ed25519PrivateKey,
        mqtt_clients: ConnectProbe) -> None:
    wait_until(lambda: published(central) > 0)
    first = published(central)
    booth_broker.stop()
    wait_until(lambda: not central.connected)
    desk.guards.append(BoothGuard("li.gang", "李刚", "$argon2id$v=19$m=1024,t=1,p=1$a$b"))
    builds = desk.builds
    time.sleep(1.0)
    assert published(central) == first  # nothing recorded without the broker's PUBACK
    assert desk.builds <= builds + 1  # nor even built: there is no one to send it to
    booth_broker.start()
    wait_until(lambda: published(central) > first, timeout=20)
    probe = the_booth(booth_broker, mqtt_clients)
    wait_until(lambda: len(probe.on(TOPIC)) >= 1)
    got = lists_received(probe, key)[-1]
    assert got.version == published(central)
    assert [g.username for g in got.guards] == ["guard", "li.gang"]


def test_a_broker_that_lost_its_retained_messages_gets_the_last_list_again(
        central: CentralSync, booth_broker: Broker, key: Ed25519PrivateKey,
        mqtt_clients: ConnectProbe) -> None:
    wait_until(lambda: published(central) > 0)
    version = published(central)
    booth_broker.stop()
    for saved in booth_broker.layout.data_dir.glob("*.db"):
        saved.unlink()  # restarted without its persistence file
    booth_broker.start()
    wait_until(lambda: central.connected, timeout=20)
    probe = the_booth(booth_broker, mqtt_clients)
    wait_until(lambda: len(probe.on(TOPIC)) >= 1, timeout=20)
    got = lists_received(probe, key)[-1]
    assert got.version == version == published(central)  # the same list, not a new one


def test_a_booth_reads_its_own_list_only(booth_broker: Broker,
                                         mqtt_clients: ConnectProbe) -> None:
    central = mqtt_clients(booth_broker.port, "menwei-central", "central-pw")
    others = topics.booth_list(SITE, "dev-a")
    for topic in (TOPIC, others):
        assert not central.publish(topic, topic.encode(), retain=True).is_failure
    probe = mqtt_clients(booth_broker.port, BOOTH, booth_broker.passwords[BOOTH])
    probe.subscribe(TOPIC)
    probe.subscribe(others)
    assert probe.wait_for(TOPIC, TOPIC.encode())
    assert not probe.wait_for(others, others.encode(), timeout=0.5)
    # Nor may a booth write its own list: only central signs and publishes it.
    assert probe.publish(TOPIC, b"forged", retain=True).is_failure


def test_acknowledging_the_gates_events_does_not_rebuild_the_lists(
        booth_broker: Broker, tmp_path: Path, key: Ed25519PrivateKey, desk: Desk,
        mqtt_clients: ConnectProbe) -> None:
    """Each event batch's ack is a QoS 1 publish with a PUBACK of its own. A PUBACK wakes
    only the publisher waiting for it: when every PUBACK woke every publisher, a busy
    site's booth lists (and site rules) were rebuilt from the desk's database hundreds of
    times a second, most of a company desk worker's CPU (bench/company.py)."""
    central = start_central(booth_broker, tmp_path / "central.db", key, desk)
    try:
        assert central.booth_lists is not None
        central.booth_lists.interval_s = 60.0  # only a wake-up can rebuild now
        wait_until(lambda: published(central) > 0)
        time.sleep(0.3)  # the round that saw the first PUBACK has ended
        builds = desk.builds
        gate = "gate-1"
        booth_broker.add_device(gate)
        probe = mqtt_clients(booth_broker.port, gate, booth_broker.passwords[gate])
        assert not probe.subscribe(topics.ack(SITE, gate)).is_failure
        event = {"boot_id": "b", "wall": time.time(), "mono": 1.0, "kind": "tap",
                 "alarm": False, "clock_trusted": True, "uid": "04A1", "granted": True,
                 "reason": "granted", "data": {}}
        for seq in range(1, 101):
            batch = EventBatch(gate, ({**event, "seq": seq},), seq - 1, "j1")
            assert not probe.publish(topics.events(SITE, gate),
                                     batch.dump().encode()).is_failure
        wait_until(lambda: len(probe.on(topics.ack(SITE, gate))) == 100)
        time.sleep(0.3)
        assert desk.builds - builds <= 1
    finally:
        central.close()


def test_a_company_hub_builds_the_lists_when_told_and_at_its_refresh(
        booth_broker: Broker, tmp_path: Path, key: Ed25519PrivateKey, desk: Desk) -> None:
    """A company's hub (``lists_refresh_s``) does not build its lists at every round: at 100
    sites, every site's lists built every 3 s were half of a desk worker's time. A change
    the desk tells of (``desk_changed``, central/list_changes.py) goes out at once; one it
    could not tell of, within the refresh."""
    central = CentralSync(tmp_path / "central.db", SITE, key, "127.0.0.1", booth_broker.port,
                          password="central-pw", reconnect_delay=(1, 1),
                          booth_lists=desk.lists, lists_refresh_s=60.0)
    assert central.booth_lists is not None
    central.booth_lists.interval_s = 0.05
    central.start()
    try:
        wait_until(lambda: published(central) > 0)
        first = published(central)
        time.sleep(0.3)  # the round that saw the PUBACK has ended
        builds = desk.builds
        time.sleep(0.5)  # ten rounds
        assert desk.builds == builds
        desk.slips.append(BoothSlip(7, "1-1201", "李师傅", "沙发一套", date(2026, 6, 9), True,
                                    "open"))
        central.desk_changed()
        wait_until(lambda: published(central) > first, timeout=2.0)
        second = published(central)
        central.booth_lists.refresh_s = 0.5
        desk.slips.append(BoothSlip(8, "1-1202", "张师傅", "冰箱", date(2026, 6, 9), True, "open"))
        wait_until(lambda: published(central) > second, timeout=3.0)
    finally:
        central.close()
