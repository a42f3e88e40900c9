"""The central sync bridge against a real Mosquitto, with paho clients playing the gates.

Longer than ~400 lines on purpose: the hub's workers are tested together, as the gates meet
them, over one broker fixture and one scripted central; split by worker, each module would
repeat that rig."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.card_record import CardRow
from edge.cards import CardStatus
from sync.hub.auth_payloads import changes_payloads
from sync.hub.bridge import CentralSync
from sync.hub.store import CentralStore
from sync.wire import topics
from sync.wire.auth_messages import AuthChanges, CatchupRequest, SnapshotChunk
from sync.wire.command import Command
from sync.wire.device_messages import DeviceStatus, EventAck, EventBatch
from sync.wire.signing import SignatureError, verify
from tests.sync.conftest import SITE, Broker


def card(i: int, status: CardStatus = CardStatus.ACTIVE) -> CardRow:
    return CardRow(f"04{i:012X}", status, date(2025, 1, 1), date(2027, 6, 30), ("b1", "car"),
                   "Mon-Sat 08:00-18:00" if i % 3 == 0 else None, "owner",
                   "京A1234" if i % 5 == 0 else None)


def event(seq: int, uid: str | None = None, granted: bool | None = True) -> dict[str, Any]:
    return {"seq": seq, "boot_id": "boot-1", "wall": 1_750_000_000.0 + seq, "mono": float(seq),
            "kind": "tap", "alarm": False, "clock_trusted": True, "uid": uid or f"04{seq:012X}",
            "granted": granted, "reason": "granted" if granted else "unknown_card",
            "data": {"reader": "front"}}


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


class Device:
    """A paho client acting as a gate: subscribes (in on_connect) and keeps what arrives."""

    def __init__(self, broker: Broker, name: str, subscriptions: list[str], *,
                 persistent: bool = False, will: DeviceStatus | None = None) -> None:
        self.name = name
        self.messages: list[mqtt.MQTTMessage] = []
        self.cond = threading.Condition()
        self.connects = 0
        self.subacks = 0
        self.subscriptions = subscriptions
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-test",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(name, broker.passwords[name])
        self.client.reconnect_delay_set(1, 1)
        if will is not None:
            self.client.will_set(topics.status(SITE, name), will.dump(), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:  # the broker keeps the subscription and queues while we are away
            props.SessionExpiryInterval = 600
        self.client.connect_async("127.0.0.1", broker.port, clean_start=not persistent,
                                  properties=props)
        self.subscribed = threading.Event()
        self.client.loop_start()
        assert self.subscribed.wait(10), f"{name} could not subscribe"

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: ReasonCode,
                    _p: Any) -> None:
        assert not rc.is_failure, rc
        with self.cond:
            self.connects += 1
        if self.subscriptions:
            client.subscribe([(t, SubscribeOptions(qos=1)) for t in self.subscriptions])
        else:
            self.subscribed.set()

    def _on_subscribe(self, *_args: Any) -> None:
        with self.cond:
            self.subacks += 1
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self.cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, n: int = 1, timeout: float = 10.0) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(got := [m for m in self.messages if m.topic == topic]) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"{self.name}: {len(got)} of {n} messages on {topic}"
                self.cond.wait(left)
            return got

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def make_central(broker: Broker, tmp_path: Path, key: Ed25519PrivateKey,
                 **kwargs: Any) -> CentralSync:
    central = CentralSync(tmp_path / "central.db", SITE, key, "127.0.0.1", broker.port,
                          password="central-pw", reconnect_delay=(1, 1), **kwargs)
    central.start()
    wait_until(lambda: central.connected)
    return central


@pytest.fixture
def central(broker: Broker, tmp_path: Path, key: Ed25519PrivateKey) -> Iterator[CentralSync]:
    c = make_central(broker, tmp_path, key, snapshot_threshold=20, chunk_size=7)
    yield c
    c.close()


@pytest.fixture
def devices() -> Iterator[list[Device]]:
    made: list[Device] = []
    yield made
    for d in made:
        d.close()


def device(devices: list[Device], broker: Broker, name: str, subs: list[str],
           **kwargs: Any) -> Device:
    d = Device(broker, name, subs, **kwargs)
    devices.append(d)
    return d


def acks_of(msgs: list[mqtt.MQTTMessage]) -> list[EventAck]:
    return [EventAck.parse(bytes(m.payload)) for m in msgs]


def changes_of(key: Ed25519PrivateKey, msgs: list[mqtt.MQTTMessage]) -> list[AuthChanges]:
    return [AuthChanges.parse(verify(key.public_key(), bytes(m.payload))) for m in msgs]


# ---------------------------------------------------------------- authorisation fan-out


def test_record_card_publishes_a_signed_change_on_the_site_topic(broker, central, key, devices):
    gate = device(devices, broker, "dev-a", [topics.auth_changes(SITE)])
    assert central.record_card(card(1)) == 1
    msg = gate.wait_for(topics.auth_changes(SITE))[0]
    assert not msg.retain
    (change,) = changes_of(key, [msg])
    assert (change.site, change.from_seq, change.to_seq) == (SITE, 1, 1)
    assert change.cards == (replace(card(1), auth_seq=1),)
    with pytest.raises(SignatureError):
        verify(Ed25519PrivateKey.generate().public_key(), bytes(msg.payload))

    # Rule L1: reporting the card lost is one more full record, newest wins everywhere.
    assert central.record_card(replace(card(1), status=CardStatus.LOST)) == 2
    lost = changes_of(key, gate.wait_for(topics.auth_changes(SITE), 2))[1]
    assert (lost.from_seq, lost.cards[0].status) == (2, CardStatus.LOST)
    assert [(c.uid, c.status, c.auth_seq) for c in central.current_cards()] == \
        [(card(1).uid, CardStatus.LOST, 2)]
    wait_until(lambda: central.store.outbox_counts() == {"published": 2})


def test_changes_made_while_the_broker_is_down_are_delivered_in_order(broker, central, key,
                                                                      devices):
    gate = device(devices, broker, "dev-a", [topics.auth_changes(SITE)], persistent=True)
    broker.stop()
    wait_until(lambda: not central.connected)
    for i in range(30):
        central.record_card(card(i))
    assert central.record_cards(card(i) for i in range(30, 1230)) == range(31, 1231)
    assert central.store.outbox_counts() == {"pending": 33}
    broker.start()
    wait_until(lambda: central.store.outbox_counts() == {"published": 33}, 20)
    wait_until(lambda: sum(len(c.cards) for c in
                           changes_of(key, gate.on(topics.auth_changes(SITE)))) >= 1230, 20)
    changes = changes_of(key, gate.on(topics.auth_changes(SITE)))
    seqs = [c.auth_seq for ch in changes for c in ch.cards]
    assert seqs == list(range(1, 1231))  # in order, none lost, none twice
    assert max(len(ch.cards) for ch in changes) <= 500
    assert len(changes) < 10  # coalesced, not one message per card


def test_a_change_is_published_only_once_the_broker_acknowledged_it(broker, tmp_path, key,
                                                                    devices):
    central = make_central(broker, tmp_path, key)
    gate = device(devices, broker, "dev-a", [topics.auth_changes(SITE)])
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGSTOP)  # takes the PUBLISH into its socket, never answers
    try:
        central.record_card(card(1))
        time.sleep(1.0)
        assert central.store.outbox_counts() == {"pending": 1}
        central.close()  # the central process dies too
    finally:
        broker.proc.kill()
        broker.proc.wait(10)
        broker.proc = None
    broker.start()
    wait_until(lambda: gate.subacks >= 2)  # the gate is back and subscribed again
    assert gate.on(topics.auth_changes(SITE)) == []
    later = make_central(broker, tmp_path, key)
    try:
        (change,) = changes_of(key, gate.wait_for(topics.auth_changes(SITE)))
        assert change.cards == (replace(card(1), auth_seq=1),)
        wait_until(lambda: later.store.outbox_counts() == {"published": 1})
    finally:
        later.close()


def test_what_arrives_while_central_is_down_is_handled_when_it_comes_back(broker, tmp_path,
                                                                          key, devices):
    make_central(broker, tmp_path, key).close()  # its broker session outlives the process
    gate = device(devices, broker, "dev-a", [topics.ack(SITE, "dev-a"),
                                             topics.auth_changes(SITE)])
    gate.publish(topics.events(SITE, "dev-a"),
                 EventBatch("dev-a", tuple(event(s) for s in (1, 2, 3))).dump())
    later = CentralSync(tmp_path / "central.db", SITE, key, "127.0.0.1", broker.port,
                        password="central-pw")
    try:
        later.record_card(card(1))  # the desk works before the bridge connects
        later.start()
        assert acks_of(gate.wait_for(topics.ack(SITE, "dev-a"))) == [EventAck("dev-a", 3)]
        assert later.count_events("dev-a") == 3
        (change,) = changes_of(key, gate.wait_for(topics.auth_changes(SITE)))
        assert change.from_seq == 1
    finally:
        later.close()


# ---------------------------------------------------------------- catch-up


def test_catchup_near_answers_with_the_missing_changes(broker, central, key, devices):
    for i in range(10):
        central.record_card(card(i))
    gate = device(devices, broker, "dev-a", [topics.device_auth(SITE, "dev-a")])
    other = device(devices, broker, "dev-b", [topics.device_auth(SITE, "dev-b")])
    gate.publish(topics.catchup(SITE, "dev-a"), CatchupRequest("dev-a", 3).dump())
    (change,) = changes_of(key, gate.wait_for(topics.device_auth(SITE, "dev-a")))
    assert (change.from_seq, change.to_seq) == (4, 10)
    assert [c.uid for c in change.cards] == [card(i).uid for i in range(3, 10)]
    assert other.on(topics.device_auth(SITE, "dev-b")) == []


def test_catchup_far_answers_with_a_complete_verifiable_snapshot(broker, central, key, devices):
    central.record_cards(card(i) for i in range(25))
    for i in (2, 4, 6, 8):
        central.record_card(replace(card(i), access_groups=("b2",)))
    central.record_card(card(5, CardStatus.LOST))  # 30 entries, 25 cards; threshold is 20
    gate = device(devices, broker, "dev-a", [topics.device_auth(SITE, "dev-a")])
    gate.publish(topics.catchup(SITE, "dev-a"), CatchupRequest("dev-a", 0).dump())
    msgs = gate.wait_for(topics.device_auth(SITE, "dev-a"), 4)
    chunks = [SnapshotChunk.parse(verify(key.public_key(), bytes(m.payload))) for m in msgs]
    assert len({c.snapshot_id for c in chunks}) == 1
    assert sorted(c.index for c in chunks) == [0, 1, 2, 3]
    assert {c.upto_seq for c in chunks} == {30}
    assert [c.index for c in chunks if c.last] == [3]
    assert all(len(c.cards) <= 7 for c in chunks)
    got = sorted((c for ch in chunks for c in ch.cards), key=lambda c: c.uid)
    assert got == [replace(c, auth_seq=30) for c in central.current_cards()]
    assert {c.uid: c.status for c in got}[card(5).uid] == CardStatus.LOST
    assert {c.uid: c.access_groups for c in got}[card(4).uid] == ("b2",)


# ---------------------------------------------------------------- events


def test_an_event_batch_is_stored_then_acknowledged(broker, central, devices):
    gate = device(devices, broker, "dev-a", [topics.ack(SITE, "dev-a")])
    batch = EventBatch("dev-a", (event(1), event(2, uid="04AABBCCDD", granted=False), event(3)))
    gate.publish(topics.events(SITE, "dev-a"), batch.dump())
    assert acks_of(gate.wait_for(topics.ack(SITE, "dev-a"))) == [EventAck("dev-a", 3)]
    assert central.count_events("dev-a") == 3  # stored before the ack was sent
    (denied,) = central.events_for(uid="04AABBCCDD")
    assert (denied["device"], denied["seq"], denied["granted"]) == ("dev-a", 2, False)
    assert denied["data"] == {"reader": "front"}
    assert [e["seq"] for e in central.events_for("dev-a", granted=True)] == [1, 3]
    assert [e["seq"] for e in central.events_for(since=1_750_000_002.0)] == [2, 3]


def test_a_replayed_batch_is_stored_once_and_acknowledged_again(broker, central, devices):
    gate = device(devices, broker, "dev-a", [topics.ack(SITE, "dev-a")])
    batch = EventBatch("dev-a", tuple(event(s) for s in range(1, 6))).dump()
    gate.publish(topics.events(SITE, "dev-a"), batch)
    gate.publish(topics.events(SITE, "dev-a"), batch)
    acks = gate.wait_for(topics.ack(SITE, "dev-a"), 2)
    assert [a.upto_seq for a in acks_of(acks)] == [5, 5]
    assert central.count_events("dev-a") == 5


def test_a_broker_restart_mid_stream_stores_every_event_exactly_once(broker, central, devices):
    gate = device(devices, broker, "dev-a", [topics.ack(SITE, "dev-a")])
    size, batches, in_flight = 25, 40, 8
    acked, sent, seen_connects, restarted = 0, 0, gate.connects, False
    deadline = time.monotonic() + 30
    while acked < size * batches:
        assert time.monotonic() < deadline, f"only {acked} events acknowledged"
        acked = max([acked] + [a.upto_seq for a in acks_of(gate.on(topics.ack(SITE, "dev-a")))])
        if gate.connects != seen_connects:  # as the agent does: resend what is unacked
            seen_connects, sent = gate.connects, acked // size
        while gate.client.is_connected() and sent < batches and sent * size < acked + \
                in_flight * size:
            b = EventBatch("dev-a", tuple(event(s) for s in
                                          range(sent * size + 1, (sent + 1) * size + 1)))
            gate.client.publish(topics.events(SITE, "dev-a"), b.dump(), qos=1)
            sent += 1
            if sent == batches // 2 and not restarted:
                broker.restart()
                restarted = True
        time.sleep(0.02)
    assert restarted and gate.connects >= 2
    assert central.count_events("dev-a") == size * batches
    stored = [e["seq"] for e in central.events_for("dev-a", limit=10_000)]
    assert sorted(stored) == list(range(1, size * batches + 1))


def test_malformed_or_oversized_messages_are_dropped_and_the_bridge_keeps_working(
        broker, tmp_path, key, devices):
    central = make_central(broker, tmp_path, key, max_inbound_bytes=64 * 1024)
    try:
        gate = device(devices, broker, "dev-a", [topics.ack(SITE, "dev-a")])
        ev = topics.events(SITE, "dev-a")
        gate.publish(ev, b"{not json")
        gate.publish(ev, EventAck("dev-a", 1).dump())  # a valid message of the wrong type
        bad_seq = json.loads(EventBatch("dev-a", (event(1),)).dump())
        bad_seq["events"][0]["seq"] = "1"
        gate.publish(ev, json.dumps(bad_seq))
        bad_uid = json.loads(EventBatch("dev-a", (event(1),)).dump())
        bad_uid["events"][0]["uid"] = 42
        gate.publish(ev, json.dumps(bad_uid))
        gate.publish(ev, EventBatch("dev-b", (event(1),)).dump())  # not its own device
        gate.publish(ev, EventBatch("dev-a", tuple(event(s) for s in range(1, 400))).dump())
        gate.publish(topics.status(SITE, "dev-a"), b"[]")
        gate.publish(topics.catchup(SITE, "dev-a"), b'{"v":1,"type":"catchup"}')
        wait_until(lambda: central.dropped == 8)
        gate.publish(ev, EventBatch("dev-a", (event(1), event(2))).dump())
        assert acks_of(gate.wait_for(topics.ack(SITE, "dev-a"))) == [EventAck("dev-a", 2)]
        assert central.count_events("dev-a") == 2
        assert central.connected and central.dropped == 8
    finally:
        central.close()


# ---------------------------------------------------------------- status and commands


def test_status_and_last_will_update_device_status(broker, central, devices):
    for i in range(5):
        central.record_card(card(i))
    gate = device(devices, broker, "dev-a", [], will=DeviceStatus("dev-a", online=False))
    gate.publish(topics.status(SITE, "dev-a"),
                 DeviceStatus("dev-a", True, applied_seq=2, backlog=7, clock_trusted=True,
                              at=1_750_000_000.0).dump(), retain=True)

    def row() -> dict[str, Any]:
        rows: dict[str, dict[str, Any]] = {r["device"]: r for r in central.device_status()}
        return rows.get("dev-a", {})

    wait_until(lambda: row().get("applied_seq") == 2)
    assert (row()["online"], row()["behind"], row()["backlog"], row()["clock_trusted"]) == \
        (True, 3, 7, True)
    central.record_card(card(9))
    assert row()["behind"] == 4
    gate.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))
    wait_until(lambda: row().get("online") is False)
    assert (row()["applied_seq"], row()["behind"]) == (2, 4)  # the will keeps what was known


def test_issue_command_publishes_a_signed_command_that_is_not_retained(broker, central, key,
                                                                       devices):
    gate = device(devices, broker, "dev-a", [topics.command(SITE, "dev-a")])
    nonce = central.issue_command("dev-a", "open_once", "desk:wang", lifetime_s=10)
    msg = gate.wait_for(topics.command(SITE, "dev-a"))[0]
    assert not msg.retain
    cmd = Command.parse(verify(key.public_key(), bytes(msg.payload)))
    assert (cmd.site, cmd.device, cmd.command, cmd.nonce, cmd.issued_by) == \
        (SITE, "dev-a", "open_once", nonce, "desk:wang")
    assert cmd.expires_at - cmd.issued_at == 10
    late = device(devices, broker, "dev-b", [topics.command(SITE, "dev-a")])
    time.sleep(0.5)
    assert late.on(topics.command(SITE, "dev-a")) == []  # nothing retained for newcomers
    with pytest.raises(ValueError, match="lifetime"):
        central.issue_command("dev-a", "open_once", "desk:wang", lifetime_s=31)
    with pytest.raises(ValueError, match="not one of"):
        central.issue_command("dev-a", "self_destruct", "desk:wang")


def test_a_command_that_expires_while_the_broker_is_down_is_never_sent(broker, tmp_path, key,
                                                                       devices):
    now = [1_750_000_000.0]
    central = make_central(broker, tmp_path, key, clock=lambda: now[0])
    try:
        gate = device(devices, broker, "dev-a", [topics.command(SITE, "dev-a"),
                                                 topics.auth_changes(SITE)], persistent=True)
        broker.stop()
        wait_until(lambda: not central.connected)
        central.issue_command("dev-a", "hold_open", "desk:wang", lifetime_s=5)
        now[0] += 6
        central.record_card(card(1))
        broker.start()
        gate.wait_for(topics.auth_changes(SITE), timeout=15)
        wait_until(lambda: central.store.outbox_counts() == {"expired": 1, "published": 1})
        assert gate.on(topics.command(SITE, "dev-a")) == []
    finally:
        central.close()


# ---------------------------------------------------------------- the store alone


def test_a_bulk_load_with_one_invalid_card_logs_nothing(tmp_path):
    store = CentralStore(tmp_path / "c.db", SITE)
    bad = replace(card(7), schedule="Someday 25:00-26:00")
    with pytest.raises(ValueError):
        store.record_cards([card(1), card(2), bad])
    assert store.head_seq() == 0 and store.outbox_counts() == {}
    with pytest.raises(ValueError, match="larger"):
        store.record_card(replace(card(1), access_groups=tuple(f"g{i}" for i in range(300))))
    store.close()


def test_changes_built_from_the_log_are_what_the_message_writes(tmp_path):
    store = CentralStore(tmp_path / "c.db", SITE)
    store.record_cards(card(i) for i in range(1, 7))
    [text] = changes_payloads(SITE, store.entries(2, 6), 123.0)
    parsed = AuthChanges.parse(text)
    assert text == parsed.dump()
    assert parsed.cards == tuple(replace(card(i), auth_seq=i) for i in range(2, 7))
    store.close()


def test_acks_never_cover_events_that_were_not_stored(tmp_path):
    store = CentralStore(tmp_path / "c.db", SITE)
    assert store.store_events("dev-a", [event(s) for s in (1, 2, 3)]) == 3
    assert store.store_events("dev-a", [event(s) for s in (7, 8)]) == 3  # 4..6 lost on the way
    assert store.store_events("dev-a", [event(s) for s in (4, 5, 6)]) == 6
    assert store.store_events("dev-a", [event(s) for s in (7, 8)]) == 8
    # The journal overflowed and dropped 9..11 for good, recording it in an alarm event.
    overflow = {**event(12), "kind": "journal_overflow", "alarm": True, "uid": None,
                "granted": None, "reason": None, "data": {"lost": 3, "first_seq": 9,
                                                          "last_seq": 11}}
    assert store.store_events("dev-a", [overflow]) == 12
    # A replaced journal starting again at 1 is not silently taken for duplicates.
    assert store.store_events("dev-a", [{**event(1), "boot_id": "new-sd-card"}]) == 1
    assert [e["boot_id"] for e in store.event_conflicts("dev-a")] == ["new-sd-card"]
    assert store.count_events("dev-a") == 9
    store.close()


def test_first_contact_starts_at_the_devices_acknowledged_mark_not_the_first_arrival(
        tmp_path: Path) -> None:
    # A device's events 1-3 went out before this central store subscribed and were lost at
    # the broker; 4-6 arrive first. Acknowledging 6 would make the device forget 1-3.
    from sync.hub.store import CentralStore

    def ev(seq: int) -> dict[str, object]:
        return {"seq": seq, "boot_id": "b", "wall": 1.0, "mono": 1.0, "kind": "boot",
                "alarm": False, "clock_trusted": True, "data": {}}

    store = CentralStore(tmp_path / "central.db", "test-site")
    assert store.store_events("dev-a", [ev(4), ev(5), ev(6)], acked_seq=0) == 0
    assert store.store_events("dev-a", [ev(1), ev(2), ev(3)], acked_seq=0) == 3
    # The device re-sends what was not acknowledged; now all six are stored, in order.
    assert store.store_events("dev-a", [ev(4), ev(5), ev(6)], acked_seq=3) == 6
    assert store.count_events("dev-a") == 6
    # A device whose older events an earlier central store acknowledged starts after them.
    assert store.store_events("dev-b", [ev(41), ev(42)], acked_seq=40) == 42
    store.close()


def test_a_status_or_an_outbox_mark_is_not_waited_onto_the_disk_but_what_follows_is(
        tmp_path: Path) -> None:
    # Every gate reports after each change it applies (fifty fsyncs per revocation at fifty
    # gates), and the outbox marks each change sent: both only repeat something if lost, so
    # their commits do not wait for the disk; what the same thread writes next still does
    # (an EventAck promises it, and a logged change must never be lost).
    store = CentralStore(tmp_path / "central.db", SITE)
    # This thread's connection, as every write of the store uses it: a SQLite file's.
    conn = cast(sqlite3.Connection, store._conn())
    full, normal = 2, 1  # PRAGMA synchronous values
    seen: list[int] = []

    def note(statement: str) -> None:
        if statement.startswith(("BEGIN", "COMMIT")):
            seen.append(conn.execute("PRAGMA synchronous").fetchone()[0])

    def traced(write: Callable[[], object]) -> set[int]:
        seen.clear()
        conn.set_trace_callback(note)
        try:
            write()
        finally:
            conn.set_trace_callback(None)
        return set(seen)

    assert traced(lambda: store.update_status(DeviceStatus("gate-1", True, 4, 0, True),
                                              retained=False)) == {normal}
    assert traced(lambda: store.record_card(card(1))) == {full}
    [row] = store.pending_outbox(0, 10)
    assert traced(lambda: store.mark_outbox([row.id], "published")) == {normal}
    assert traced(lambda: store.store_events("gate-1", [event(1)])) == {full}
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == full
    [status] = store.device_status()
    assert status["applied_seq"] == 4 and status["online"]
    assert store.outbox_counts() == {"published": 1} and store.count_events("gate-1") == 1
    store.close()
