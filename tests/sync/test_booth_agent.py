"""The sync agent of a guard's booth (``device.role = "booth"``) against a real Mosquitto: it
keeps the booth list the desk publishes retained on the booth's own topic, refuses forged,
malformed, foreign and older lists, refuses commands (a booth has no gate), and ships the
booth's records to a real hub (sync.hub.bridge.CentralSync) like a gate's events."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from booth.list_file import FILE_NAME, BoothListFile
from booth.store import BoothStore
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig, load_config
from sync.agent.edge_agent import EdgeAgent
from sync.wire import topics
from sync.wire.booth_list import BoothGuard, BoothList, ParkingTariff
from sync.wire.signing import public_key_text, sign
from tests.edge.conftest import door_doc
from tests.sync.conftest import SITE, Broker
from tests.sync.test_central_bridge import make_central
from tests.sync.test_edge_agent import Central, events, refusals, wait_for

BOOTH = "booth-east"
TARIFF = ParkingTariff(15, 500, 200, "22:00", "07:00", 4000)


def booth_config(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> EdgeConfig:
    """A booth driving one simulated door, its [sync] table pointing at the test broker."""
    gate = door_doc(tmp_path / "door-data")
    (tmp_path / "door.toml").write_text(tomli_w.dumps(gate))
    password = tmp_path / "booth.password"
    password.write_text(broker.add_device(BOOTH) + "\n")
    doc: dict[str, Any] = {
        "site": {"id": SITE, "timezone": "Asia/Shanghai"},
        "device": {"id": BOOTH, "role": "booth", "access_groups": ["b1"],
                   "data_dir": str(tmp_path / "booth-data")},
        "booth": {"post": "东门岗", "gates": [str(tmp_path / "door.toml")]},
        "sync": {"broker_port": broker.port, "password_file": str(password),
                 "central_public_key": public_key_text(key), "reconnect_max": "1s"},
    }
    path = tmp_path / "booth.toml"
    path.write_text(tomli_w.dumps(doc))
    return load_config(path)


def booth_list(version: int, *, booth: str = BOOTH) -> BoothList:
    """A list as the desk builds it (the hash is not checked here: the agent only keeps it)."""
    return BoothList(SITE, booth, version, time.time(), "Asia/Shanghai", 60000, TARIFF,
                     (BoothGuard("guard", "王保安", "$argon2id$stand-in"),), (), (), ())


def publish_retained(central: Central, payload: bytes, booth: str = BOOTH) -> None:
    """What the desk does with a booth's list: publish it retained on the booth's topic."""
    central.client.publish(topics.booth_list(SITE, booth), payload, qos=1,
                           retain=True).wait_for_publish(5)


def kept_version(config: EdgeConfig, key: Ed25519PrivateKey) -> int | None:
    """The version in the booth's booth-list.json, read as the booth reads it."""
    kept = BoothListFile(config.device.data_dir / FILE_NAME, key.public_key(), SITE,
                         BOOTH).current()
    return None if kept is None else kept.version


@pytest.fixture
def config(tmp_path: Path, broker: Broker, key: Ed25519PrivateKey) -> EdgeConfig:
    return booth_config(tmp_path, broker, key)


@pytest.fixture
def central(broker: Broker, key: Ed25519PrivateKey) -> Iterator[Central]:
    c = Central(broker, key)
    yield c
    c.close()


@pytest.fixture
def start_agent() -> Iterator[Callable[..., EdgeAgent]]:
    agents: list[EdgeAgent] = []

    def start(config: EdgeConfig) -> EdgeAgent:
        agent = EdgeAgent(config)
        agents.append(agent)
        agent.start()
        assert agent.wait_connected(10), "the booth's agent did not connect"
        return agent

    yield start
    for agent in agents:
        agent.stop()


def test_the_retained_list_reaches_the_booth_and_only_a_newer_one_replaces_it(
        config: EdgeConfig, central: Central, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent], caplog: pytest.LogCaptureFixture) -> None:
    # Published before the booth's agent ever connected: retained, it arrives at subscribe.
    publish_retained(central, sign(key, booth_list(2).dump()))
    agent = start_agent(config)
    wait_for(lambda: kept_version(config, key) == 2, what="the retained list kept")

    publish_retained(central, sign(key, booth_list(5).dump()))
    wait_for(lambda: kept_version(config, key) == 5, what="the newer list kept")

    # An older one (a broker's stale copy) is refused without an alarm; the forged one after
    # it is handled after it (one worker, in order), so its alarm means both were handled.
    publish_retained(central, sign(key, booth_list(4).dump()))
    publish_retained(central, sign(Ed25519PrivateKey.generate(), booth_list(9).dump()))
    wait_for(lambda: refusals(config) == [("booth_list", "bad_signature")])
    assert kept_version(config, key) == 5
    assert not list(config.device.data_dir.glob("*.tmp"))

    # Every reconnect brings the retained list again: the version kept is no refusal.
    agent.stop()
    publish_retained(central, sign(key, booth_list(5).dump()))  # the desk's own, again
    caplog.set_level(logging.DEBUG, logger="sync.agent.booth_list_reception")
    start_agent(config)
    wait_for(lambda: "version 5 again" in caplog.text, what="the retained list seen again")
    assert kept_version(config, key) == 5
    assert refusals(config) == [("booth_list", "bad_signature")]


def test_malformed_and_foreign_lists_are_refused_with_an_alarm(
        config: EdgeConfig, central: Central, key: Ed25519PrivateKey,
        start_agent: Callable[..., EdgeAgent]) -> None:
    start_agent(config)
    publish_retained(central, sign(key, booth_list(1).dump()))
    wait_for(lambda: kept_version(config, key) == 1, what="the first list kept")

    publish_retained(central, b"not a signed message")
    wait_for(lambda: refusals(config) == [("booth_list", "malformed")])
    # Signed by central but not a booth list at all.
    publish_retained(central, sign(key, '{"v": 1, "type": "booth_list", "site": "x"}'))
    wait_for(lambda: refusals(config)[-1:] == [("booth_list", "invalid")])
    # Another booth's list, on this booth's topic (a desk bug): never this booth's guards.
    publish_retained(central, sign(key, booth_list(7, booth="booth-west").dump()))
    wait_for(lambda: refusals(config)[-1:] == [("booth_list", "wrong_booth")])
    assert kept_version(config, key) == 1


def test_a_command_for_a_booth_is_refused_and_journalled(
        config: EdgeConfig, central: Central, start_agent: Callable[..., EdgeAgent]) -> None:
    start_agent(config)
    command = central.command(device=BOOTH, lifetime=30)
    central.send_command(command, to_device=BOOTH)
    wait_for(lambda: refusals(config) == [("command", "not_a_gate")])
    (refused,) = events(config, "security")
    assert refused.data["nonce"] == command.nonce
    assert events(config, "remote_command_undelivered") == []


def test_booth_records_reach_the_hubs_central_store_once(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, config: EdgeConfig,
        start_agent: Callable[..., EdgeAgent]) -> None:
    store = BoothStore(config.events_db, SystemClock(), max_events=config.journal.max_events)
    try:
        with store.record() as rec:
            rec.append("booth_sign_in", {"guard": "guard"})
            rec.append("shift_start", {"shift_id": 1, "guard": "guard",
                                       "opening_float_fen": 20000, "at": time.time()})
        hub = make_central(broker, tmp_path / "hub", key)
        try:
            start_agent(config)
            wait_for(lambda: hub.count_events(BOOTH) == 2, what="two booth records at the hub")
            # One written while the agent runs goes the same way.
            with store.record() as rec:
                rec.append("float_over_limit", {"shift_id": 1, "guard": "guard",
                                                "float_fen": 65000, "limit_fen": 60000},
                           alarm=True)
            wait_for(lambda: hub.count_events(BOOTH) == 3, what="the third record")
            stored = hub.events_for(BOOTH)
            assert [(e["seq"], e["kind"]) for e in stored] == [
                (1, "booth_sign_in"), (2, "shift_start"), (3, "float_over_limit")]
            assert stored[2]["alarm"] and stored[2]["data"]["float_fen"] == 65000
        finally:
            hub.close()
    finally:
        store.close()
