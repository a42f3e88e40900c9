"""The site rules from the desk to every gate (LANE.md rule 9) against a real Mosquitto: the
hub's publisher (sync/hub/site_rules_publisher.py) signs and retains them, two gates' sync
agents (sync/agent/site_rules_reception.py) write them to ``site-rules.json``, a gate
restarted later gets the retained ones, a change of content gets a higher version (and the
same content none, also after a desk restart with its clock set back), and an older, forged,
foreign or malformed message leaves the file alone — the last three with a security alarm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.cards import parse_schedule
from edge.site_rules import (
    FILE_NAME,
    DayKind,
    ExpiredPolicy,
    Lot,
    ParkingPolicy,
    SiteRules,
    SiteRulesFile,
    SpaceClass,
    TimedMode,
    TimedModeKind,
)
from firmware_config.schema import EdgeConfig
from sync.agent.edge_agent import EdgeAgent
from sync.hub.bridge import CentralSync
from sync.hub.site_rules_publisher import content_digest
from sync.hub.store import CentralStore
from sync.wire import topics
from sync.wire.signing import sign, verify
from sync.wire.site_rules_message import SiteRulesRefused, open_rules, seal
from tests.sync.conftest import SITE, Broker, ConnectProbe, Probe
from tests.sync.test_edge_agent import agent_config, refusals, wait_for

TOPIC = topics.site_rules(SITE)
NATIONAL_DAY = date(2026, 10, 1)


def rules(version: int = 1, *, grace_days: int = 3, site: str = SITE) -> SiteRules:
    """Rules as the desk would build them (version and issue time are the hub's to set)."""
    return SiteRules(
        site, version, 0.0,
        parking={"monthly": ParkingPolicy(ExpiredPolicy.TEMPORARY, grace_days, 10)},
        lots=(Lot("main", "地面停车场", ("carpark-in", "carpark-out"),
                  {SpaceClass.FIXED: 20, SpaceClass.MONTHLY: 60, SpaceClass.TEMPORARY: 30}),),
        holidays={NATIONAL_DAY: DayKind.HOLIDAY, date(2026, 10, 10): DayKind.WORKDAY},
        timed_modes=(TimedMode("dev-a", parse_schedule("Mon-Fri 07:00-09:00"),
                               TimedModeKind.HOLD_OPEN),))


class Desk:
    """What the desk's builder answers: the site's rules, changed by the test."""

    def __init__(self) -> None:
        self.grace_days = 3
        self.builds = 0
        self._lock = threading.Lock()

    def site_rules(self) -> list[SiteRules]:
        with self._lock:
            self.builds += 1
            # Another site's rules are another hub's business: this one must leave them.
            return [rules(grace_days=self.grace_days), rules(site="other-site")]


class Clock:
    """The desk's clock, settable (a desk whose clock was set back)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def start_central(broker: Broker, store_path: Path, key: Ed25519PrivateKey, desk: Desk,
                  clock: Callable[[], float] = time.time) -> CentralSync:
    central = CentralSync(store_path, SITE, key, "127.0.0.1", broker.port,
                          password="central-pw", reconnect_delay=(1, 1), clock=clock,
                          site_rules=desk.site_rules)
    assert central.site_rules is not None
    central.site_rules.interval_s = 0.1  # the desk's records are polled; quick in a test
    central.start()
    wait_for(lambda: central.connected, what="the hub connected")
    return central


def published(central: CentralSync) -> int:
    """The version the store says the broker acknowledged (0: none yet)."""
    last = central.store.published_site_rules()
    return 0 if last is None else last.version


def kept(config: EdgeConfig) -> SiteRules:
    """The rules the gate reads from its data directory (DEFAULT, version 0, with none)."""
    return SiteRulesFile(config.device.data_dir / FILE_NAME, SITE).current()


def file_bytes(config: EdgeConfig) -> bytes:
    return (config.device.data_dir / FILE_NAME).read_bytes()


@pytest.fixture
def desk() -> Desk:
    return Desk()


@pytest.fixture
def central(broker: Broker, tmp_path: Path, key: Ed25519PrivateKey,
            desk: Desk) -> Iterator[CentralSync]:
    """The hub of the site, publishing what ``desk`` builds."""
    c = start_central(broker, tmp_path / "central.db", key, desk)
    yield c
    c.close()


@pytest.fixture
def start_agent() -> Iterator[Callable[[EdgeConfig], EdgeAgent]]:
    agents: list[EdgeAgent] = []

    def start(config: EdgeConfig) -> EdgeAgent:
        agent = EdgeAgent(config)
        agents.append(agent)
        agent.start()
        assert agent.wait_connected(10), "the agent did not connect"
        return agent

    yield start
    for agent in agents:
        agent.stop()


@pytest.fixture
def gates(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> list[EdgeConfig]:
    """Two gates of the site, dev-a and dev-b."""
    return [agent_config(tmp_path, broker, key, device=d, name=d) for d in ("dev-a", "dev-b")]


# ---------------------------------------------------------------- desk to gates


def test_the_desk_publishes_and_every_gate_writes_the_signed_payload(
        central: CentralSync, key: Ed25519PrivateKey, gates: list[EdgeConfig],
        start_agent: Callable[[EdgeConfig], EdgeAgent]) -> None:
    assert all(kept(g).version == 0 for g in gates)  # DEFAULT before any arrived
    wait_for(lambda: published(central) > 0, what="the rules published")
    version = published(central)
    assert version >= int(time.time() * 1000) - 60_000  # numbered by the clock, in ms
    for gate in gates:  # both started after the publish: the rules are retained
        start_agent(gate)
    wait_for(lambda: all(kept(g).version == version for g in gates),
             what="the rules written at both gates")
    last = central.store.published_site_rules()
    assert last is not None
    signed_text = verify(key.public_key(), last.payload)
    for gate in gates:
        # The payload exactly as central signed it, read back as the gate reads it.
        assert file_bytes(gate).decode() == signed_text
        got = kept(gate)
        assert got.policy("monthly") == ParkingPolicy(ExpiredPolicy.TEMPORARY, 3, 10)
        assert got.lot_of("carpark-in") is not None
        assert got.day_numbers(NATIONAL_DAY) == frozenset({8})
        assert [m.gate for m in got.timed_modes] == ["dev-a"]
        assert not (gate.device.data_dir / f"{FILE_NAME}.tmp").exists()
    assert last.digest == content_digest(kept(gates[0]))
    assert refusals(gates[0]) == [] and refusals(gates[1]) == []


def test_a_change_gets_a_higher_version_and_the_same_content_none(
        central: CentralSync, desk: Desk, gates: list[EdgeConfig],
        start_agent: Callable[[EdgeConfig], EdgeAgent]) -> None:
    gate = gates[0]
    start_agent(gate)
    wait_for(lambda: published(central) > 0 and kept(gate).version == published(central),
             what="the first rules kept")
    first = published(central)
    written = file_bytes(gate)
    builds = desk.builds
    wait_for(lambda: desk.builds >= builds + 5, what="the desk asked again")
    assert published(central) == first and file_bytes(gate) == written

    desk.grace_days = 7
    wait_for(lambda: published(central) > first, what="the changed rules published")
    wait_for(lambda: kept(gate).version == published(central), what="the new rules kept")
    assert kept(gate).policy("monthly").grace_days == 7


def test_a_company_hub_builds_the_rules_when_told_and_at_its_refresh(
        broker: Broker, tmp_path: Path, key: Ed25519PrivateKey, desk: Desk) -> None:
    """A company's hub (``lists_refresh_s``) does not build the rules at every round; a change
    the desk tells of (``desk_changed``) goes out at once, one it could not, within the
    refresh."""
    central = CentralSync(tmp_path / "central.db", SITE, key, "127.0.0.1", broker.port,
                          password="central-pw", reconnect_delay=(1, 1),
                          site_rules=desk.site_rules, lists_refresh_s=60.0)
    assert central.site_rules is not None
    central.site_rules.interval_s = 0.05
    central.start()
    try:
        wait_for(lambda: published(central) > 0, what="the first rules published")
        first = published(central)
        time.sleep(0.3)  # the round that saw the PUBACK has ended
        builds = desk.builds
        time.sleep(0.5)  # ten rounds
        assert desk.builds == builds
        desk.grace_days = 7
        central.desk_changed()
        wait_for(lambda: published(central) > first, timeout=2.0, what="the told change")
        second = published(central)
        central.site_rules.refresh_s = 0.5
        desk.grace_days = 9
        wait_for(lambda: published(central) > second, timeout=3.0, what="the refresh")
    finally:
        central.close()


def test_a_restarted_desk_never_numbers_backwards(
        broker: Broker, tmp_path: Path, key: Ed25519PrivateKey, desk: Desk) -> None:
    central = start_central(broker, tmp_path / "central.db", key, desk)
    wait_for(lambda: published(central) > 0, what="the rules published")
    first = published(central)
    central.close()

    # Restarted with its clock an hour back: the same content is not published again, and
    # changed content is numbered after the last version, not by the clock.
    clock = Clock()
    clock.offset = -3600.0
    again = start_central(broker, tmp_path / "central.db", key, desk, clock)
    try:
        builds = desk.builds
        wait_for(lambda: desk.builds >= builds + 5, what="the desk asked again")
        assert published(again) == first
        desk.grace_days = 0
        wait_for(lambda: published(again) > first, what="the changed rules published")
        assert published(again) == first + 1
    finally:
        again.close()
    stored = CentralStore(tmp_path / "central.db", SITE).published_site_rules()
    assert stored is not None and stored.version == first + 1


def test_a_gate_restarted_later_gets_the_retained_rules(
        central: CentralSync, desk: Desk, gates: list[EdgeConfig],
        start_agent: Callable[[EdgeConfig], EdgeAgent]) -> None:
    gate = gates[0]
    agent = start_agent(gate)
    wait_for(lambda: published(central) > 0 and kept(gate).version == published(central),
             what="the first rules kept")
    first = published(central)
    agent.stop()
    desk.grace_days = 9  # changed while the gate's agent is down
    wait_for(lambda: published(central) > first, what="the changed rules published")
    start_agent(gate)
    wait_for(lambda: kept(gate).version == published(central), what="the retained rules")
    assert kept(gate).policy("monthly").grace_days == 9


def test_a_broker_that_lost_its_retained_messages_gets_the_last_rules_again(
        central: CentralSync, broker: Broker, key: Ed25519PrivateKey,
        mqtt_clients: ConnectProbe) -> None:
    wait_for(lambda: published(central) > 0, what="the rules published")
    version = published(central)
    broker.stop()
    for saved in broker.layout.data_dir.glob("*.db"):
        saved.unlink()  # restarted without its persistence file
    broker.start()
    wait_for(lambda: central.connected, timeout=20, what="the hub back")
    probe = mqtt_clients(broker.port, "dev-b", broker.passwords["dev-b"])
    assert not probe.subscribe(TOPIC).is_failure
    wait_for(lambda: len(probe.on(TOPIC)) >= 1, timeout=20, what="the rules again")
    assert probe.received[0].retain
    got = open_rules(key.public_key(), probe.on(TOPIC)[-1], SITE).rules
    assert got.version == version == published(central)  # the same, not new ones


# ---------------------------------------------------------------- what a gate refuses


def central_probe(broker: Broker, mqtt_clients: ConnectProbe) -> Probe:
    """The central user's own connection, to send what the real hub never would."""
    return mqtt_clients(broker.port, topics.CENTRAL_USER, broker.passwords[topics.CENTRAL_USER])


def test_older_forged_foreign_and_malformed_rules_leave_the_file_alone(
        broker: Broker, key: Ed25519PrivateKey, gates: list[EdgeConfig],
        mqtt_clients: ConnectProbe, start_agent: Callable[[EdgeConfig], EdgeAgent]) -> None:
    gate = gates[0]
    central = central_probe(broker, mqtt_clients)
    start_agent(gate)

    def send(raw: bytes) -> None:
        assert not central.publish(TOPIC, raw, retain=True).is_failure

    send(seal(key, rules(5)))
    wait_for(lambda: kept(gate).version == 5, what="version 5 kept")
    written = file_bytes(gate)

    # An older version (a broker's stale copy) is no alarm; the forged one after it is
    # handled after it (one worker, in order), so its alarm means both were handled.
    send(seal(key, rules(4, grace_days=0)))
    send(seal(Ed25519PrivateKey.generate(), rules(9, grace_days=0)))
    wait_for(lambda: refusals(gate) == [("site_rules", "bad_signature")])
    assert file_bytes(gate) == written

    send(seal(key, rules(10, site="other-site")))
    wait_for(lambda: refusals(gate)[-1:] == [("site_rules", "wrong_site")])
    send(b"not a signed message")
    wait_for(lambda: refusals(gate)[-1:] == [("site_rules", "malformed")])
    # Signed by central but not a rules payload this gate reads.
    send(sign(key, '{"type": "site_rules", "v": 1, "site": "test-site", "version": 11}'))
    wait_for(lambda: refusals(gate)[-1:] == [("site_rules", "invalid")])
    send(sign(key, replace(rules(12), version=0).dump()))
    wait_for(lambda: len(refusals(gate)) == 5)
    assert refusals(gate) == [("site_rules", r) for r in
                              ("bad_signature", "wrong_site", "malformed", "invalid",
                               "invalid")]
    assert file_bytes(gate) == written and kept(gate).version == 5
    assert not (gate.device.data_dir / f"{FILE_NAME}.tmp").exists()

    # A newer genuine version still replaces it.
    send(seal(key, rules(13, grace_days=1)))
    wait_for(lambda: kept(gate).version == 13, what="version 13 kept")


def test_a_file_that_does_not_read_is_written_again_from_the_same_version(
        broker: Broker, key: Ed25519PrivateKey, gates: list[EdgeConfig],
        mqtt_clients: ConnectProbe, start_agent: Callable[[EdgeConfig], EdgeAgent]) -> None:
    gate = gates[0]
    central = central_probe(broker, mqtt_clients)
    assert not central.publish(TOPIC, seal(key, rules(5)), retain=True).is_failure
    path = gate.device.data_dir / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{half a fi")  # a card that lost the end of it
    start_agent(gate)
    wait_for(lambda: kept(gate).version == 5, what="the retained version 5 written over it")


def test_open_rules_names_why_it_refuses(key: Ed25519PrivateKey) -> None:
    assert open_rules(key.public_key(), seal(key, rules(3)), SITE).rules.version == 3
    cases = {
        b"[]": "malformed",
        sign(Ed25519PrivateKey.generate(), rules(3).dump()): "bad_signature",
        b'{"payload": "{}"}': "bad_signature",
        sign(key, '{"type": "booth_list", "v": 1}'): "invalid",
        seal(key, rules(3, site="elsewhere")): "wrong_site",
    }
    for raw, reason in cases.items():
        with pytest.raises(SiteRulesRefused) as refused:
            open_rules(key.public_key(), raw, SITE)
        assert refused.value.reason == reason, raw
