"""The edge sync agent against a real Mosquitto, with the test playing the central side: a
paho client logged in as menwei-central that signs what it sends with a key of its own and
stores the events it receives by (device, seq), acknowledging them as it goes.

Longer than ~400 lines on purpose: every case shares the scripted central side above (its
signing, its event store, its acknowledgements); the agent's concerns each have their own
module of code, but they are proved against the one central a gate meets."""

from __future__ import annotations

import dataclasses
import datetime
import getpass
import ipaddress
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.auth_store import AuthStore
from edge.card_record import CardRow
from edge.cards import CardStatus
from edge.control_socket import ControlClient, wait_until_answering
from edge.journal import Event, Journal
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig
from hardware_sim.local_ports import free_tcp_port
from sync.agent import edge_agent
from sync.agent.auth_apply import Outcome
from sync.agent.edge_agent import EdgeAgent
from sync.agent.inbox import InboxBudget
from sync.agent.snapshot_staging import STALE_AFTER_S, SnapshotStaging, open_staging_connection
from sync.broker.config import BrokerLayout, write_broker
from sync.mqtt.link import Received
from sync.wire import topics
from sync.wire.auth_messages import (
    AuthChanges,
    CatchupRequest,
    SnapshotChunk,
    SnapshotRows,
    TimeAnswer,
    TimeRequest,
    parse_catchup_message,
)
from sync.wire.command import Command
from sync.wire.device_messages import DeviceStatus, EventAck, EventBatch
from sync.wire.signing import public_key_text, sign
from sync.wire.topics import CENTRAL_USER
from tests.edge.conftest import door_doc, write_doc
from tests.sync.conftest import SITE, Broker

BIN = Path(sys.executable).parent
DEVICE = "dev-a"


# ---------------------------------------------------------------- helpers


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}"
        time.sleep(0.02)


def card(n: int, status: CardStatus = CardStatus.ACTIVE, seq: int = 0) -> CardRow:
    return CardRow(uid=f"{n:08X}", status=status, valid_from=None, valid_until=None,
                   access_groups=("b1",), schedule=None, holder_kind="owner", plate=None,
                   auth_seq=seq)


def agent_config(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, *,
                 device: str = DEVICE, name: str = "gate", **sync: Any) -> EdgeConfig:
    """A simulated door whose [sync] table points at the test broker."""
    doc = door_doc(tmp_path / f"{name}-data")
    doc["device"]["id"] = device
    password = tmp_path / f"{name}.password"
    password.write_text(broker.passwords[device] + "\n")
    doc["sync"] = {"broker_port": broker.port, "password_file": str(password),
                   "central_public_key": public_key_text(key), "reconnect_max": "1s",
                   **sync}
    return write_doc(tmp_path / f"{name}.toml", doc)


def whitelist(config: EdgeConfig) -> tuple[int, dict[str, tuple[str, int]]]:
    """(applied_seq, {uid: (status, auth_seq)}) as auth.db holds them now."""
    conn = sqlite3.connect(config.auth_db)
    try:
        applied = int(conn.execute("SELECT value FROM meta WHERE key = 'applied_seq'")
                      .fetchone()[0])
        cards = {uid: (status, seq) for uid, status, seq in
                 conn.execute("SELECT uid, status, auth_seq FROM cards")}
    finally:
        conn.close()
    return applied, cards


def commission(config: EdgeConfig, cards: list[CardRow], applied_seq: int) -> None:
    store = AuthStore(config.auth_db)
    try:
        store.upsert(cards, applied_seq=applied_seq)
    finally:
        store.close()


def journal(config: EdgeConfig) -> Journal:
    return Journal(config.events_db, SystemClock(), max_events=config.journal.max_events)


def events(config: EdgeConfig, kind: str | None = None) -> list[Event]:
    j = journal(config)
    try:
        found = j.read(0, 1_000_000)
    finally:
        j.close()
    return [e for e in found if kind is None or e.kind == kind]


# Refusals ordinary operation produces (a signed list already applied, redelivered or
# overlapping a catch-up) are journalled without an alarm; every other refusal is an alarm.
QUIET_REASONS = {"rollback"}


def refusals(config: EdgeConfig) -> list[tuple[str, str]]:
    """(subject, reason) of every security event, each alarmed unless it is a quiet one."""
    found = events(config, "security")
    for e in found:
        assert e.alarm is (e.data["reason"] not in QUIET_REASONS), e
    return [(str(e.data["subject"]), str(e.data["reason"])) for e in found]


def append_events(config: EdgeConfig, n: int) -> None:
    """``n`` tap events as the gate writes them, in one transaction (the test's shortcut for
    a gate that has been busy)."""
    journal(config).close()  # creates the schema
    conn = sqlite3.connect(config.events_db, isolation_level=None, timeout=10)
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO events (boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, "
        "reason, data) VALUES ('test', ?, ?, 'tap', 0, 1, '04A1B2C3', 1, 'granted', ?)",
        [(now, float(i), json.dumps({"i": i})) for i in range(n)])
    conn.execute("COMMIT")
    conn.close()


class Central:
    """The central side of the protocol, as much of it as these tests need."""

    def __init__(self, broker: Broker, key: Ed25519PrivateKey, *, auto_ack: bool = True,
                 client_id: str = "central-test", answer_time: bool = True) -> None:
        self.key = key
        self.answer_time = answer_time  # as the real central does (sync.hub.bridge)
        self.time_requests: list[TimeRequest] = []
        self.auto_ack = auto_ack
        self.lock = threading.Lock()
        self.stored: dict[tuple[str, int], dict[str, Any]] = {}
        self.batches = 0
        self.journals: dict[str, str] = {}  # device -> the journal its last batch came from
        self.catchups: list[CatchupRequest] = []
        self.statuses: list[tuple[DeviceStatus, bool]] = []
        self.subscribed = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(CENTRAL_USER, broker.passwords[CENTRAL_USER])
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_a: self.subscribed.set()
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 1)
        # A persistent session, as a real central keeps: the broker queues for it while it
        # is away (the device side must not rely on that, and does not).
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 600
        client.connect_async("127.0.0.1", broker.port, clean_start=False, properties=props)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10), "central could not subscribe"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode,
                    _p: object) -> None:
        assert not rc.is_failure, rc
        client.subscribe([(topics.device_wildcard(SITE, leaf), SubscribeOptions(qos=1))
                          for leaf in ("events", "catchup", "status")])

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        where = topics.device_of(msg.topic)
        assert where is not None
        _site, device, leaf = where
        with self.lock:
            if leaf == "events":
                batch = EventBatch.parse(bytes(msg.payload))
                self.batches += 1
                self.journals[device] = batch.journal_id
                for event in batch.events:
                    self.stored.setdefault((device, int(event["seq"])), event)
                if self.auto_ack:
                    client.publish(topics.ack(SITE, device),
                                   EventAck(device, batch.last_seq, batch.journal_id).dump(),
                                   qos=1)
            elif leaf == "catchup":
                request = parse_catchup_message(bytes(msg.payload))
                if isinstance(request, CatchupRequest):
                    self.catchups.append(request)
                    return
                self.time_requests.append(request)
                if self.answer_time:
                    answer = TimeAnswer(SITE, device, request.nonce, time.time())
                    client.publish(topics.device_auth(SITE, device),
                                   sign(self.key, answer.dump()), qos=1)
            elif leaf == "status":
                self.statuses.append((DeviceStatus.parse(bytes(msg.payload)), bool(msg.retain)))

    # what central sends

    def send(self, topic: str, payload: str, *, key: Ed25519PrivateKey | None = None,
             signed: bool = True) -> None:
        body = sign(key or self.key, payload) if signed else payload.encode()
        self.client.publish(topic, body, qos=1).wait_for_publish(5)

    def send_changes(self, from_seq: int, cards: list[CardRow], *, site: str = SITE,
                     issued_at: float | None = None, key: Ed25519PrivateKey | None = None,
                     to_device: str | None = None, signed: bool = True) -> None:
        rows = tuple(dataclasses.replace(c, auth_seq=from_seq + i) for i, c in enumerate(cards))
        changes = AuthChanges(site, from_seq, from_seq + len(rows) - 1,
                              time.time() if issued_at is None else issued_at, rows)
        topic = (topics.device_auth(SITE, to_device) if to_device
                 else topics.auth_changes(SITE))
        self.send(topic, changes.dump(), key=key, signed=signed)

    def snapshot(self, upto_seq: int, cards: list[CardRow], per_chunk: int,
                 snapshot_id: str | None = None) -> list[SnapshotChunk]:
        sid = snapshot_id or uuid.uuid4().hex
        parts = [cards[i:i + per_chunk] for i in range(0, len(cards), per_chunk)]
        return [SnapshotChunk(SITE, sid, upto_seq, i, i == len(parts) - 1, time.time(), tuple(p))
                for i, p in enumerate(parts)]

    def send_chunk(self, chunk: SnapshotChunk, device: str = DEVICE) -> None:
        self.send(topics.device_auth(SITE, device), chunk.dump())

    def command(self, *, device: str = DEVICE, command: str = "open_once",
                issued_at: float | None = None, lifetime: float = 10.0,
                hold_for: float | None = None) -> Command:
        issued = time.time() if issued_at is None else issued_at
        return Command(SITE, device, command, uuid.uuid4().hex, issued, issued + lifetime,
                       "desk:wang", None if hold_for is None else issued + hold_for)

    def send_command(self, command: Command, to_device: str = DEVICE) -> None:
        self.send(topics.command(SITE, to_device), command.dump())

    def ack(self, device: str, upto_seq: int, journal_id: str | None = None) -> None:
        """Acknowledge ``device``'s events up to ``upto_seq`` of ``journal_id`` (by default
        the journal its last batch came from)."""
        with self.lock:
            journal_id = self.journals[device] if journal_id is None else journal_id
        self.client.publish(topics.ack(SITE, device),
                            EventAck(device, upto_seq, journal_id).dump(),
                            qos=1).wait_for_publish(5)

    # what central saw

    def seqs(self, device: str = DEVICE) -> list[int]:
        with self.lock:
            return sorted(seq for dev, seq in self.stored if dev == device)

    def catchups_after(self) -> list[int]:
        with self.lock:
            return [c.after_seq for c in self.catchups if c.device == DEVICE]

    def status_of(self, device: str = DEVICE) -> list[DeviceStatus]:
        with self.lock:
            return [s for s, _retained in self.statuses if s.device == device]


@pytest.fixture
def central(broker: Broker, key: Ed25519PrivateKey) -> Iterator[Central]:
    c = Central(broker, key)
    yield c
    c.close()


@pytest.fixture
def config(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> EdgeConfig:
    return agent_config(tmp_path, broker, key)


@pytest.fixture
def start_agent() -> Iterator[Callable[..., EdgeAgent]]:
    agents: list[EdgeAgent] = []

    def start(config: EdgeConfig, **kwargs: Any) -> EdgeAgent:
        agent = EdgeAgent(config, **kwargs)
        agents.append(agent)
        agent.start()
        assert agent.wait_connected(10), "the agent did not connect"
        return agent

    yield start
    for agent in agents:
        agent.stop()


# ---------------------------------------------------------------- authorisation changes


def test_connect_sends_a_catchup_from_the_applied_sequence(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    commission(config, [card(1)], applied_seq=7)
    start_agent(config)
    wait_for(lambda: central.catchups_after() == [7], what="catch-up after 7")


def test_changes_are_applied_in_order_and_an_overlap_applies_only_its_tail(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    start_agent(config)
    central.send_changes(1, [card(1), card(2)])
    central.send_changes(3, [card(3), card(1, CardStatus.LOST)])
    wait_for(lambda: whitelist(config)[0] == 4, what="applied 4")
    # 3..6 overlaps: its entry 3 says card 3 is revoked, but entry 3 is already applied
    # (as active); only 5 and 6 are new.
    central.send_changes(3, [card(3, CardStatus.REVOKED), card(9), card(10), card(2,
                         CardStatus.REVOKED)])
    wait_for(lambda: whitelist(config)[0] == 6, what="applied 6")
    # Card 9 (entry 4 of the overlap) is not there: entry 4 was card 1 going lost.
    assert whitelist(config)[1] == {"00000001": ("lost", 4), "00000002": ("revoked", 6),
                                    "00000003": ("active", 3), "0000000A": ("active", 5)}
    assert refusals(config) == []


def test_a_gap_asks_for_a_catchup_and_applies_nothing_until_it_comes(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    commission(config, [card(1, seq=1)], applied_seq=1)
    start_agent(config)
    wait_for(lambda: central.catchups_after() == [1], what="catch-up at connect")
    central.send_changes(4, [card(4), card(5)])  # 2 and 3 are missing
    wait_for(lambda: central.catchups_after() == [1, 1], what="catch-up for the gap")
    assert whitelist(config) == (1, {"00000001": ("active", 1)})
    central.send_changes(2, [card(2), card(3), card(4), card(5)], to_device=DEVICE)
    wait_for(lambda: whitelist(config)[0] == 5, what="applied 5 after the catch-up")
    assert sorted(whitelist(config)[1]) == ["00000001", "00000002", "00000003", "00000004",
                                            "00000005"]


def test_changes_beyond_a_gap_wait_unverified_and_the_furthest_is_taken_up_after(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    commission(config, [card(1, seq=1)], applied_seq=1)
    start_agent(config)
    wait_for(lambda: central.catchups_after() == [1], what="catch-up at connect")
    central.send_changes(4, [card(4)])  # a gap, verified: the agent knows it is behind
    wait_for(lambda: central.catchups_after() == [1, 1], what="catch-up for the gap")
    # While behind, further gaps are set aside without being verified: a forgery among
    # them is not refused yet, and the furthest genuine one is kept.
    central.send_changes(6, [card(6)], key=Ed25519PrivateKey.generate())
    central.send_changes(7, [card(7), card(8)])
    time.sleep(0.5)
    assert refusals(config) == []
    assert whitelist(config)[0] == 1
    central.send_changes(2, [card(2), card(3), card(4)], to_device=DEVICE)
    # Caught up to 4: the message kept (7..8) is verified now, is a gap, and asks again.
    wait_for(lambda: central.catchups_after()[-1:] == [4], what="catch-up after 4")
    central.send_changes(5, [card(5), card(6), card(7), card(8)], to_device=DEVICE)
    wait_for(lambda: whitelist(config)[0] == 8, what="applied 8")
    assert refusals(config) == []  # the forgery was displaced, never taken for anything


def test_a_forgery_set_aside_is_refused_when_taken_up_and_asks_for_a_catchup(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    commission(config, [card(1, seq=1)], applied_seq=1)
    start_agent(config)
    wait_for(lambda: central.catchups_after() == [1], what="catch-up at connect")
    central.send_changes(4, [card(4)])
    wait_for(lambda: central.catchups_after() == [1, 1], what="catch-up for the gap")
    central.send_changes(9, [card(9)], key=Ed25519PrivateKey.generate())  # set aside
    central.send_changes(2, [card(2), card(3), card(4)], to_device=DEVICE)
    wait_for(lambda: refusals(config) == [("auth", "bad_signature")], what="the forgery")
    assert whitelist(config)[0] == 4
    # It may have displaced a genuine change: the agent asks for what came after 4.
    wait_for(lambda: central.catchups_after()[-1:] == [4], what="catch-up after 4")


def test_changes_a_staged_snapshot_covers_are_left_to_it(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    start_agent(config)
    wait_for(lambda: central.catchups_after() == [0], what="catch-up at connect")
    chunks = central.snapshot(10, [card(n) for n in range(1, 11)], per_chunk=5)
    central.send_chunk(chunks[0])
    # In order, but the snapshot being staged brings it: dropped unverified (a forgery too).
    central.send_changes(1, [card(1, CardStatus.LOST)])
    central.send_changes(1, [card(1, CardStatus.LOST)], key=Ed25519PrivateKey.generate())
    time.sleep(0.5)
    assert whitelist(config)[0] == 0
    central.send_chunk(chunks[1])
    wait_for(lambda: whitelist(config)[0] == 10, what="snapshot applied")
    assert whitelist(config)[1]["00000001"] == ("active", 10)
    assert refusals(config) == []
    # Beyond the snapshot, changes apply as ever.
    central.send_changes(11, [card(1, CardStatus.LOST)])
    wait_for(lambda: whitelist(config)[0] == 11)


REFUSED_LISTS: dict[str, tuple[dict[str, Any], tuple[str, str]]] = {
    "wrong key": ({"key": "other"}, ("auth", "bad_signature")),
    "unsigned": ({"signed": False}, ("auth", "bad_signature")),
    "replayed older list": ({"from_seq": 1}, ("auth_changes", "rollback")),
    "another site's list": ({"site": "other-site"}, ("auth_changes", "wrong_site")),
}  # a list issued in the agent's future is applied: tests/sync/test_clock_behind.py


@pytest.mark.parametrize("case", list(REFUSED_LISTS))
def test_refused_lists_are_journalled_and_leave_the_whitelist_alone(
        case: str, config: EdgeConfig, central: Central,
        start_agent: Callable[..., EdgeAgent]) -> None:
    start_agent(config)
    central.send_changes(1, [card(1), card(2)])
    central.send_changes(3, [card(1, CardStatus.REVOKED)])  # card 1 revoked at seq 3
    wait_for(lambda: whitelist(config)[0] == 3)
    before = whitelist(config)

    kwargs, expected = REFUSED_LISTS[case]
    args: dict[str, Any] = dict(kwargs)
    from_seq = args.pop("from_seq", 4)
    if args.get("key") == "other":
        args["key"] = Ed25519PrivateKey.generate()
    # What an attacker would love: card 1 active again, and a new card.
    central.send_changes(from_seq, [card(1), card(66)], **args)
    wait_for(lambda: refusals(config) == [expected], what=f"refusal {expected}")
    assert whitelist(config) == before
    # Still in business: the next genuine list applies.
    central.send_changes(4, [card(5)])
    wait_for(lambda: whitelist(config)[0] == 4)


# ---------------------------------------------------------------- snapshots


def test_a_snapshot_replaces_the_whole_list_once_every_chunk_is_there(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    old = [card(n, seq=n) for n in range(1, 6)]
    commission(config, old, applied_seq=5)
    # The gate's connection, open (and its lookup prepared) before the swap.
    gate = AuthStore(config.auth_db, readonly=True)
    assert (record := gate.lookup("00000003")) is not None
    assert record.status is CardStatus.ACTIVE
    start_agent(config)
    new = [card(n) for n in range(100, 130)] + [card(3, CardStatus.LOST)]
    chunks = central.snapshot(200, new, per_chunk=10)
    assert len(chunks) == 4
    for chunk in chunks[:-1]:
        central.send_chunk(chunk)
    central.send_chunk(chunks[0])  # a QoS 1 duplicate
    time.sleep(0.5)
    assert whitelist(config) == (5, {c.uid: ("active", c.auth_seq) for c in old})
    central.send_chunk(chunks[-1])
    wait_for(lambda: whitelist(config)[0] == 200, what="snapshot applied")
    assert whitelist(config)[1] == {c.uid: (c.status.value, 200) for c in new}
    # The gate reads the new list on the connection it had: the renamed table is found.
    assert (record := gate.lookup("00000003")) is not None
    assert record.status is CardStatus.LOST
    assert gate.lookup("00000001") is None and gate.lookup("00000064") is not None
    gate.close()
    # Then it asks for whatever came after the snapshot.
    wait_for(lambda: 200 in central.catchups_after(), what="catch-up after the snapshot")
    # The staged tables became the list: nothing is left staged beside it.
    conn = sqlite3.connect(config.auth_db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not {"cards_staged", "schedules_staged"} & tables
    assert conn.execute("SELECT count(*) FROM snapshot_chunks").fetchone()[0] == 0
    # The cards table keeps the indexes the plate lookups use.
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                       "AND tbl_name = 'cards' AND sql IS NOT NULL")} \
        == {"cards_plate_key", "cards_plate_tail"}
    conn.close()


def test_a_forged_last_chunk_is_refused_and_the_genuine_snapshot_still_applies(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    # A chunk says whether it is the last: a forged "last" must neither complete the
    # snapshot nor make the genuine last chunk look like a contradiction.
    commission(config, [card(1, seq=1)], applied_seq=1)
    start_agent(config)
    chunks = central.snapshot(50, [card(n) for n in range(10, 40)], per_chunk=10)
    topic = topics.device_auth(SITE, DEVICE)
    central.send_chunk(chunks[0])
    # The forger's "last" chunk, which would complete the snapshot with its own cards.
    forged = dataclasses.replace(chunks[1], cards=(card(666),), last=True)
    central.send(topic, forged.dump(), key=Ed25519PrivateKey.generate())
    wait_for(lambda: refusals(config) == [("auth", "bad_signature")], what="the forgery")
    assert whitelist(config)[0] == 1
    for chunk in chunks[1:]:
        central.send_chunk(chunk)
    wait_for(lambda: whitelist(config)[0] == 50, what="snapshot applied")
    assert set(whitelist(config)[1]) == {card(n).uid for n in range(10, 40)}


def test_an_older_snapshot_is_refused_and_a_newer_one_discards_a_partial_one(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    commission(config, [card(1, seq=50)], applied_seq=50)
    start_agent(config)
    central.send_chunk(central.snapshot(40, [card(9)], per_chunk=10)[0])
    wait_for(lambda: refusals(config) == [("auth_snapshot", "rollback")])
    assert whitelist(config) == (50, {"00000001": ("active", 50)})

    partial = central.snapshot(60, [card(n) for n in range(20)], per_chunk=10)
    central.send_chunk(partial[0])
    newer = central.snapshot(70, [card(n) for n in range(30, 50)], per_chunk=10)
    central.send_chunk(newer[0])
    central.send_chunk(partial[1])  # the older snapshot's last chunk, too late
    time.sleep(0.5)
    assert whitelist(config)[0] == 50  # the partial one never completed
    central.send_chunk(newer[1])
    wait_for(lambda: whitelist(config)[0] == 70)
    assert set(whitelist(config)[1]) == {f"{n:08X}" for n in range(30, 50)}


class SettableClock:
    """A wall clock the test moves by hand (monotonic stays real)."""

    def __init__(self) -> None:
        self.now = time.time()

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return time.monotonic()


def test_an_incomplete_snapshot_is_discarded_once_stale(tmp_path: Path) -> None:
    clock = SettableClock()
    AuthStore(tmp_path / "auth.db").close()
    conn = open_staging_connection(tmp_path / "auth.db")
    staging = SnapshotStaging(conn, clock)
    chunk = SnapshotChunk(SITE, "s1", 10, 0, False, clock.now, (card(1, seq=10),))
    assert staging.add(SnapshotRows.of(chunk)) is None
    clock.now += STALE_AFTER_S - 60
    assert staging.discard_stale() == []
    clock.now += 120
    assert staging.discard_stale() == ["s1"]
    assert staging.staged() == []
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'cards_staged'"
                        ).fetchone()[0] == 0
    conn.close()


def test_a_backlog_waits_in_the_broker_not_in_the_agent(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A broker need not keep to the Receive Maximum (Mosquitto 2.0.11 sends past it once it
    # has queued for the client): what the agent holds is bounded by its own inbox budget,
    # well below RECEIVE_MAXIMUM messages here, and making the broker wait loses nothing.
    monkeypatch.setattr(edge_agent, "INBOX_BYTES", 64 * 1024)
    agent = start_agent(config)
    lock = threading.Lock()
    sizes: list[int] = []
    handled = 0
    most_waiting = 0
    deliver = agent.link._on_message

    def arriving(msg: Received) -> None:
        nonlocal most_waiting
        with lock:
            sizes.append(len(msg.payload))
            most_waiting = max(most_waiting, len(sizes) - handled)
        deliver(msg)

    apply = agent.applier.handle

    def slow_apply(raw: bytes) -> Outcome:
        nonlocal handled
        time.sleep(0.03)  # a Pi's SD card, or a worker busy with a snapshot
        try:
            return apply(raw)
        finally:
            with lock:
                handled += 1

    agent.link._on_message = arriving
    monkeypatch.setattr(agent.applier, "handle", slow_apply)
    messages, per = 40, 100
    for i in range(messages):
        central.send_changes(1 + i * per, [card(i * per + n) for n in range(per)])
    wait_for(lambda: whitelist(config)[0] == messages * per, timeout=30, what="all applied")
    assert len(whitelist(config)[1]) == messages * per
    assert refusals(config) == []
    # What fits in the budget, the one being handled and the one paho waits with.
    assert most_waiting <= 64 * 1024 // min(sizes) + 2, (most_waiting, min(sizes))


def test_the_inbox_budget_waits_while_full_and_lets_go_on_close() -> None:
    budget = InboxBudget(100)
    assert budget.take(500)  # an empty inbox takes any message, however large
    taken: list[bool] = []

    def take(size: int) -> threading.Thread:
        thread = threading.Thread(target=lambda: taken.append(budget.take(size)))
        thread.start()
        return thread

    waiting = take(10)
    waiting.join(0.2)
    assert waiting.is_alive()
    budget.give_back(500)
    waiting.join(2)
    assert taken == [True]
    assert budget.take(90)
    waiting = take(10)
    waiting.join(0.2)
    assert waiting.is_alive()
    budget.close()  # the agent stops: paho's thread must not stay here
    waiting.join(2)
    assert taken == [True, False]
    assert not budget.take(1)


# ---------------------------------------------------------------- the journal uplink


def test_events_are_shipped_and_marked_acked_only_after_the_ack(
        config: EdgeConfig, broker: Broker, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    central = Central(broker, key, auto_ack=False)
    try:
        gate = journal(config)
        seqs = [gate.append("tap", {"n": n}, uid="04A1B2C3", granted=True, reason="granted")
                for n in range(5)]
        start_agent(config, ack_timeout=30.0)
        wait_for(lambda: central.seqs() == seqs, what="events at central")
        time.sleep(0.3)
        assert gate.acked_seq == 0
        assert central.stored[(DEVICE, 3)]["data"] == {"n": 2}
        central.ack(DEVICE, 3)
        wait_for(lambda: gate.acked_seq == 3, what="acked 3")
        # The gate keeps appending; new events follow without anything else happening.
        later = gate.append("door_forced", {}, alarm=True)
        wait_for(lambda: later in central.seqs(), what="a later event")
        central.ack(DEVICE, later)
        wait_for(lambda: gate.acked_seq == later)
        # Nothing is deleted by the agent.
        assert [e.seq for e in gate.read(0, 100)] == [*seqs, later]
        gate.close()
    finally:
        central.close()


def test_an_ack_for_another_journal_never_marks_this_journals_events(
        config: EdgeConfig, broker: Broker, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    # The device's SD card was replaced: an ack central sends late for the old journal
    # (or one from a central that predates journal ids) must not let the gate prune the new
    # journal's events unshipped.
    central = Central(broker, key, auto_ack=False)
    try:
        append_events(config, 5)
        gate = journal(config)
        start_agent(config, ack_timeout=30.0)
        wait_for(lambda: central.seqs() == [1, 2, 3, 4, 5], what="events at central")
        assert central.journals[DEVICE] == gate.journal_id
        central.ack(DEVICE, 5, journal_id="0" * 32)  # the lost journal's
        central.ack(DEVICE, 4, journal_id="")  # a journal without an id
        central.ack(DEVICE, 2)  # this journal's: acks arrive and are handled in order
        wait_for(lambda: gate.acked_seq == 2, what="acked 2")
        time.sleep(0.3)
        assert gate.acked_seq == 2
        central.ack(DEVICE, 5)
        wait_for(lambda: gate.acked_seq == 5, what="acked 5")
        gate.close()
    finally:
        central.close()


def test_unacknowledged_events_are_sent_again_after_the_ack_timeout(
        config: EdgeConfig, broker: Broker, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    central = Central(broker, key, auto_ack=False)
    try:
        append_events(config, 3)
        start_agent(config, ack_timeout=0.5)
        wait_for(lambda: central.batches >= 2, what="the batch sent again")
        assert central.seqs() == [1, 2, 3]
        central.ack(DEVICE, 3)
        gate = journal(config)
        wait_for(lambda: gate.acked_seq == 3)
        gate.close()
        sent = central.batches
        time.sleep(1.0)
        assert central.batches == sent  # acknowledged: no more resending
    finally:
        central.close()


def test_broker_restart_mid_uplink_every_event_arrives_once(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, central: Central,
        start_agent: Callable[..., EdgeAgent]) -> None:
    config = agent_config(tmp_path, broker, key, batch_size=50)
    append_events(config, 6000)
    start_agent(config, ack_timeout=3.0)
    wait_for(lambda: len(central.seqs()) >= 600, what="uplink under way")
    gate = journal(config)
    assert gate.acked_seq < 6000, "the drain finished before the restart: test proves nothing"
    broker.restart()
    extra = [gate.append("tap", {"after": "restart"}) for _ in range(3)]
    wait_for(lambda: gate.acked_seq == extra[-1], timeout=60, what="drained after restart")
    assert central.seqs() == list(range(1, extra[-1] + 1))
    assert central.stored[(DEVICE, 6001)]["data"] == {"after": "restart"}
    gate.close()


def test_a_device_offline_while_10000_events_accumulate_drains_them_all(
        config: EdgeConfig, broker: Broker, central: Central,
        start_agent: Callable[..., EdgeAgent]) -> None:
    agent = start_agent(config)
    broker.stop()
    wait_for(lambda: not agent.link.connected, what="agent noticed the outage")
    append_events(config, 10_000)
    broker.start()
    gate = journal(config)
    wait_for(lambda: gate.acked_seq == 10_000, timeout=60, what="10,000 events drained")
    assert central.seqs() == list(range(1, 10_001))
    assert gate.count() == 10_000
    gate.close()


# ---------------------------------------------------------------- remote commands


def test_refused_commands_are_journalled(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    agent = start_agent(config)
    # Central's signed time makes the clock trusted: "issued in the future" means something.
    wait_for(agent.trust.trusted, what="central's time")
    now = time.time()
    central.send_command(central.command(issued_at=now - 40, lifetime=20))
    wait_for(lambda: refusals(config) == [("command", "expired")])
    central.send_command(central.command(device="dev-b"))
    wait_for(lambda: refusals(config)[-1:] == [("command", "wrong_device")])
    central.send_command(central.command(issued_at=now + 3600))
    wait_for(lambda: refusals(config)[-1:] == [("command", "issued_in_future")])
    central.send(topics.command(SITE, DEVICE), central.command().dump(),
                 key=Ed25519PrivateKey.generate())
    wait_for(lambda: refusals(config)[-1:] == [("command", "bad_signature")])
    assert events(config, "remote_command_undelivered") == []
    # Commands and an untrusted clock: tests/sync/test_clock_behind.py


def test_a_replayed_command_is_refused_also_after_an_agent_restart(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    agent = start_agent(config)
    command = central.command(lifetime=30)
    central.send_command(command)
    # Accepted; no gate is running, so the failure is journalled (not queued).
    wait_for(lambda: len(events(config, "remote_command_undelivered")) == 1)
    failed = events(config, "remote_command_undelivered")[0]
    assert failed.alarm and failed.data["nonce"] == command.nonce
    assert failed.data["reason"] == "gate not running"
    central.send_command(command)
    wait_for(lambda: refusals(config) == [("command", "replayed_nonce")])
    agent.stop()
    start_agent(config)
    central.send_command(command)
    wait_for(lambda: refusals(config) == [("command", "replayed_nonce")] * 2)
    assert len(events(config, "remote_command_undelivered")) == 1


def test_an_accepted_command_reaches_the_running_gate(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    gate = subprocess.Popen([str(BIN / "menwei-edge"), "run", "--config", str(config.source)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answering(config.control_socket, 20, gate)
        start_agent(config)
        command = central.command(command="hold_open", hold_for=3600)
        central.send_command(command)
        wait_for(lambda: [e.data.get("nonce") for e in events(config, "remote_command")]
                 == [command.nonce], what="remote_command in the gate's journal")
        done = events(config, "remote_command")[0]
        caller = done.data.pop("caller")
        assert done.data == {"command": "hold_open", "issued_by": "desk:wang",
                             "nonce": command.nonce, "until": command.until}
        # Who handed it to the gate, as the kernel says: the agent (in this test process).
        assert isinstance(caller, dict) and caller["pid"] == os.getpid()
        with ControlClient(config.control_socket) as client:
            status = client.call("status")
        assert (status["mode"], status["mode_until"]) == ("hold_open", command.until)
        assert refusals(config) == []
        assert events(config, "remote_command_undelivered") == []
    finally:
        gate.send_signal(signal.SIGTERM)
        gate.wait(10)


# ---------------------------------------------------------------- status, will, process


def test_retained_status_last_will_and_sigterm(
        tmp_path: Path, config: EdgeConfig, broker: Broker, key: Ed25519PrivateKey,
        central: Central) -> None:
    commission(config, [card(1, seq=3)], applied_seq=3)
    append_events(config, 2)
    cmd = [str(BIN / "menwei-sync"), "run", "--config", str(config.source)]
    # systemd's side of Type=notify: a datagram socket named in $NOTIFY_SOCKET.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(10)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert notify.recv(4096).startswith(b"READY=1")
        wait_for(lambda: any(s.online and s.applied_seq == 3 for s in central.status_of()),
                 what="online status")
        # A change is reported: a new list applied.
        central.send_changes(4, [card(2)])
        wait_for(lambda: any(s.online and s.applied_seq == 4 and s.backlog == 0
                             and s.clock_trusted for s in central.status_of()),
                 what="status after the change, backlog drained")
        proc.kill()  # no chance to say goodbye: the broker publishes the last will
        proc.wait()
        wait_for(lambda: central.status_of()[-1].online is False, what="last will")
        assert central.status_of()[-1].applied_seq is None  # the will, not a goodbye

        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: central.status_of()[-1].online, what="online again")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        wait_for(lambda: central.status_of()[-1].online is False, what="offline status")
        assert central.status_of()[-1].applied_seq == 4  # said by the agent itself

        # Retained: someone who looks later still sees it.
        late = Central(broker, key, client_id="late-observer")
        try:
            wait_for(lambda: late.statuses, what="retained status")
            status, retained = late.statuses[-1]
            assert retained and status.device == DEVICE and status.online is False
        finally:
            late.close()
    finally:
        notify.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_change_is_applied_at_once_and_a_burst_is_reported_in_one_status(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    # A poll far beyond the test: only the message itself can wake the worker.
    start_agent(config, poll_interval=60.0)
    wait_for(central.status_of, what="the status at connect")
    sent = time.monotonic()
    central.send_changes(1, [card(1)])
    wait_for(lambda: whitelist(config)[0] == 1, what="the change applied")
    assert time.monotonic() - sent < 1.0
    for seq in range(2, 7):
        central.send_changes(seq, [card(seq)])
    wait_for(lambda: whitelist(config)[0] == 6, what="the burst applied")
    applied = time.monotonic()
    wait_for(lambda: central.status_of()[-1].applied_seq == 6, what="the burst reported")
    # Reported within the coalescing gap (the desk's "已同步 n/m" follows promptly)...
    assert time.monotonic() - applied < edge_agent.STATUS_MIN_GAP_S + 0.5
    time.sleep(edge_agent.STATUS_MIN_GAP_S + edge_agent.STATUS_SETTLE_S)
    # ... in one or two statuses (one per change before), nothing owed after it.
    reported = [s.applied_seq for s in central.status_of()]
    assert reported[0] == 0 and reported[-1] == 6 and len(reported) <= 3, reported


def test_malformed_messages_are_dropped_and_the_agent_keeps_working(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    start_agent(config)
    for topic in (topics.auth_changes(SITE), topics.command(SITE, DEVICE),
                  topics.ack(SITE, DEVICE), topics.device_auth(SITE, DEVICE)):
        central.client.publish(topic, b"\xff not json", qos=1).wait_for_publish(5)
    central.client.publish(topics.ack(SITE, DEVICE), b'{"v":1,"type":"ack"}',
                           qos=1).wait_for_publish(5)
    central.send_changes(1, [card(1)])
    wait_for(lambda: whitelist(config)[0] == 1)
    assert refusals(config) == []


# ---------------------------------------------------------------- TLS


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(
        ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("menwei test CA"))
          .issuer_name(name("menwei test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(name("127.0.0.1"))
              .issuer_name(ca.subject).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1))
              .not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.SubjectAlternativeName(
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    for path in paths:
        path.chmod(0o644)  # mosquitto may run as another user
    return paths


def test_the_agent_talks_tls_when_a_ca_file_is_set(
        tmp_path: Path, key: Ed25519PrivateKey, start_agent: Callable[..., EdgeAgent]) -> None:
    ca, cert, server_key = _tls_files(tmp_path / "tls")
    layout = BrokerLayout(site=SITE, conf_dir=tmp_path / "tls-broker",
                          data_dir=tmp_path / "tls-broker" / "data", port=free_tcp_port(),
                          tls_port=free_tcp_port(), tls_ca=ca, tls_cert=cert,
                          tls_key=server_key,
                          run_as=getpass.getuser() if os.geteuid() == 0 else None)
    users = {CENTRAL_USER: "central-pw", DEVICE: "pw-dev-a"}
    write_broker(layout, users)
    tls_broker = Broker(layout, dict(users))
    tls_broker.start()
    central = Central(tls_broker, key)  # on the plain listener
    try:
        # Without a CA file the agent speaks plain MQTT, which the TLS listener refuses.
        plain = EdgeAgent(agent_config(tmp_path, tls_broker, key, broker_port=layout.tls_port))
        plain.start()
        try:
            assert not plain.wait_connected(2)
        finally:
            plain.stop()
        config = agent_config(tmp_path, tls_broker, key, name="tls-gate",
                              broker_port=layout.tls_port, tls_ca_file=str(ca))
        start_agent(config)
        wait_for(lambda: central.catchups_after() == [0], what="catch-up over TLS")
    finally:
        central.close()
        tls_broker.stop()
