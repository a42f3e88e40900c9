"""Central's signed time over the sync link: a real Mosquitto, the real central bridge, a
real sync agent and a real gate process. A mark that one bad boot pushed a year ahead is
not a year-long trap: central's time brings the gate back to trusted, with an alarm."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.auth_store import AuthStore
from edge.card_csv import parse_cards_csv
from edge.clock_files import evidence_path, load_mark
from firmware_config.schema import EdgeConfig
from sync.agent.edge_agent import EdgeAgent
from sync.hub.bridge import CentralSync
from sync.wire import topics
from sync.wire.auth_messages import TimeAnswer, TimeRequest
from sync.wire.signing import public_key_text, verify
from tests.edge.conftest import door_doc, write_doc
from tests.edge.faketime import clock_events, gate_process, tap
from tests.sync.conftest import SITE, Broker, ConnectProbe
from tests.sync.test_edge_agent import Central, events, refusals, wait_for

DEVICE = "dev-a"
YEAR_S = 365 * 86400.0
LAPSING = "0C0C0C0C"  # valid for another month


def gate_config(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> EdgeConfig:
    """A door with a sync agent. NTP is not a trusted source here, so that the machine
    running the test cannot answer for central (its kernel may well be synchronised)."""
    doc = door_doc(tmp_path / "data")
    doc["device"]["id"] = DEVICE
    password = tmp_path / "password"
    password.write_text(broker.passwords[DEVICE] + "\n")
    doc["sync"] = {"broker_port": broker.port, "password_file": str(password),
                   "central_public_key": public_key_text(key), "reconnect_max": "1s"}
    doc["clock"] = {"trust_ntp": False}
    return write_doc(tmp_path / "door.toml", doc)


def commission(config: EdgeConfig) -> None:
    """Cards as sync leaves them: with the issue time of the signed list they came in."""
    until = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=30)).isoformat()
    csv = ("uid,status,valid_from,valid_until,access_groups,schedule,holder_kind,plate\n"
           f"{LAPSING},active,2020-01-01,{until},b1,,tenant,\n")
    store = AuthStore(config.auth_db)
    try:
        store.upsert(parse_cards_csv(csv), list_issued_at=time.time())
    finally:
        store.close()


@pytest.fixture
def central_sync(broker: Broker, tmp_path: Path,
                 key: Ed25519PrivateKey) -> Iterator[CentralSync]:
    central = CentralSync(tmp_path / "central.db", SITE, key, "127.0.0.1", broker.port,
                          password=broker.passwords["menwei-central"], reconnect_delay=(1, 1))
    central.start()
    wait_for(lambda: central.connected, what="central connected")
    yield central
    central.close()


@pytest.mark.timeout(120)
def test_central_time_resets_a_mark_a_year_ahead_and_says_so(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey,
        central_sync: CentralSync) -> None:
    config = gate_config(tmp_path, broker, key)
    commission(config)
    # One bad boot: the clock a year ahead, nothing to contradict it (the network not up).
    with gate_process(config, "+365d") as gate:
        assert gate.call("status")["clock_trusted"] is True
    mark = load_mark(config.clock_state)
    assert mark is not None and mark > time.time() + YEAR_S - 3600
    # The next boot, with the right time: behind the mark, and every card "expired".
    with gate_process(config) as gate:
        assert gate.call("status")["clock_trusted"] is False
        assert clock_events(gate)[-1]["data"]["cause"] == "clock behind saved mark"
        assert tap(gate, LAPSING) == "expired"
        agent = EdgeAgent(config)
        agent.start()
        try:
            assert agent.wait_connected(10)
            wait_for(lambda: gate.call("status")["clock_trusted"] is True, timeout=30,
                     what="the gate trusts its clock again")
            reset = clock_events(gate)[-1]
            assert reset["alarm"] is True
            assert reset["data"]["cause"] == "mark reset by central time"
            assert reset["data"]["previous_mark"] == mark
            assert tap(gate, LAPSING) == "granted"
        finally:
            agent.stop()
    fixed = load_mark(config.clock_state)
    assert fixed is not None and abs(fixed - time.time()) < 600


def test_central_answers_a_time_request_signed_with_the_nonce(
        broker: Broker, key: Ed25519PrivateKey, central_sync: CentralSync,
        mqtt_clients: ConnectProbe) -> None:
    device = mqtt_clients(broker.port, DEVICE, broker.passwords[DEVICE])
    assert not device.subscribe(topics.device_auth(SITE, DEVICE)).is_failure
    nonce = uuid.uuid4().hex
    before = time.time()
    device.publish(topics.catchup(SITE, DEVICE), TimeRequest(DEVICE, nonce).dump().encode())
    wait_for(lambda: device.on(topics.device_auth(SITE, DEVICE)), what="the time answer")
    raw = device.on(topics.device_auth(SITE, DEVICE))[0]
    answer = TimeAnswer.parse(verify(key.public_key(), raw))
    assert (answer.site, answer.device, answer.nonce) == (SITE, DEVICE, nonce)
    assert before <= answer.now <= time.time()
    # Asking in another device's name, on one's own topic, gets nothing.
    device.publish(topics.catchup(SITE, DEVICE), TimeRequest("dev-b", nonce).dump().encode())
    wait_for(lambda: central_sync.dropped == 1, what="the misaddressed request dropped")
    assert len(device.on(topics.device_auth(SITE, DEVICE))) == 1


def test_a_recorded_time_answer_cannot_set_the_clock(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> None:
    config = gate_config(tmp_path, broker, key)
    central = Central(broker, key)
    agent = EdgeAgent(config)
    agent.start()
    try:
        wait_for(agent.trust.trusted, what="central's time")
        before = json.loads(evidence_path(config.clock_state).read_text())
        # Signed by central, but for a question this agent never asked: a month back.
        recorded = TimeAnswer(SITE, DEVICE, uuid.uuid4().hex, time.time() - 30 * 86400)
        central.send(topics.device_auth(SITE, DEVICE), recorded.dump())
        wait_for(lambda: refusals(config) == [("time", "unknown_nonce")],
                 what="the answer refused")
        assert json.loads(evidence_path(config.clock_state).read_text()) == before
        assert agent.trust.trusted()
        answered: list[Any] = events(config, "central_time")
        assert answered == []  # the genuine answer agreed with the clock: nothing to say
    finally:
        agent.stop()
        central.close()
