"""Every message central sends fits the broker's packet limit, whatever its cards weigh, on a
real Mosquitto configured by sync.broker.config (a larger packet would get central
disconnected, and the fan-out or the snapshot would never arrive).

The cards here are the largest the desk accepts (just under MAX_WIRE_BYTES on the
wire): 500 of them, the most one message may carry by count, weigh almost twice
MAX_MESSAGE_BYTES, so central must cut by bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.card_record import MAX_WIRE_BYTES, CardRow, encode
from edge.cards import CardStatus
from sync.hub.bridge import CentralSync
from sync.wire import topics
from sync.wire.auth_messages import CatchupRequest, SnapshotRows, parse_auth_message
from sync.wire.payload import MAX_MESSAGE_BYTES
from sync.wire.signing import parse_public_key, public_key_text, verify
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import SITE, Broker, ConnectProbe, Probe

CARDS = 1000
BY_COUNT = 500  # CHANGES_PER_MESSAGE: entries a message may carry by count alone


def heavy_card(i: int) -> CardRow:
    """A card whose record is just under MAX_WIRE_BYTES on the wire."""
    groups = tuple(f"building-{k:02d}-有效门禁组" for k in range(15))
    return CardRow(f"04{i:012X}", CardStatus.ACTIVE, date(2025, 1, 1), date(2027, 6, 30),
                   groups, "Mon-Sat 08:00-12:00 14:00-18:00", "owner", "京A12345")


def wait_until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def central(broker: Broker, tmp_path: Path) -> Iterator[CentralSync]:
    sync = CentralSync(tmp_path / "central.db", SITE, Ed25519PrivateKey.generate(),
                       "127.0.0.1", broker.port, password=broker.passwords[CENTRAL_USER],
                       snapshot_threshold=600, reconnect_delay=(1, 1))
    yield sync
    sync.close()


def opened(central: CentralSync, payloads: list[bytes]) -> list[Any]:
    """Each payload verified with central's public key and parsed as a device would."""
    key = parse_public_key(public_key_text(central.key))
    return [parse_auth_message(verify(key, p)) for p in payloads]


def test_the_test_cards_are_heavy() -> None:
    size = len(json.dumps(encode(heavy_card(1)).text))
    assert MAX_WIRE_BYTES - 100 < size <= MAX_WIRE_BYTES
    assert CARDS * size > 3 * MAX_MESSAGE_BYTES


def test_a_bulk_load_of_heavy_cards_fans_out_in_messages_that_fit(
        broker: Broker, central: CentralSync, mqtt_clients: ConnectProbe) -> None:
    dev_a = mqtt_clients(broker.port, "dev-a", broker.passwords["dev-a"])
    changes = topics.auth_changes(SITE)
    assert not dev_a.subscribe(changes).is_failure
    central.record_cards(heavy_card(i) for i in range(CARDS))
    central.start()

    wait_until(lambda: central.store.outbox_counts() == {"published": CARDS // BY_COUNT})
    payloads = dev_a.on(changes)
    assert all(len(p) <= MAX_MESSAGE_BYTES for p in payloads), [len(p) for p in payloads]
    assert len(payloads) > CARDS // BY_COUNT  # cut by bytes, not only by count
    messages = opened(central, payloads)
    assert [(m.from_seq, m.to_seq) for m in messages] == [
        (m.cards[0].auth_seq, m.cards[-1].auth_seq) for m in messages]
    seqs = [c.auth_seq for m in messages for c in m.cards]
    assert seqs == list(range(1, CARDS + 1))
    assert central.connected


def _catch_up(broker: Broker, central: CentralSync, dev_a: Probe, after: int) -> list[Any]:
    own = topics.device_auth(SITE, "dev-a")
    assert not dev_a.subscribe(own).is_failure
    request = CatchupRequest("dev-a", after).dump().encode()
    assert not dev_a.publish(topics.catchup(SITE, "dev-a"), request).is_failure
    wait_until(lambda: sum(len(m.rows if isinstance(m, SnapshotRows) else m.cards) for m in
                           opened(central, dev_a.on(own))) >= CARDS - after)
    payloads = dev_a.on(own)
    assert all(len(p) <= MAX_MESSAGE_BYTES for p in payloads), [len(p) for p in payloads]
    return opened(central, payloads)


@pytest.fixture
def dev_a(broker: Broker, central: CentralSync, mqtt_clients: ConnectProbe) -> Probe:
    """Device dev-a, connected to a running central that holds CARDS heavy cards."""
    central.record_cards(heavy_card(i) for i in range(CARDS))
    central.start()
    wait_until(lambda: central.connected)
    return mqtt_clients(broker.port, "dev-a", broker.passwords["dev-a"])


def test_a_snapshot_of_heavy_cards_comes_in_chunks_that_fit(
        broker: Broker, central: CentralSync, dev_a: Probe) -> None:
    chunks = _catch_up(broker, central, dev_a, 0)  # over the threshold: a snapshot

    assert len(chunks) >= 4  # one by count (chunk_size 2,000)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert len({(c.snapshot_id, c.upto_seq) for c in chunks}) == 1
    uids = [row[0] for c in chunks for row in c.rows]
    assert uids == sorted(heavy_card(i).uid for i in range(CARDS))


def test_a_catch_up_of_heavy_cards_comes_in_changes_that_fit(
        broker: Broker, central: CentralSync, dev_a: Probe) -> None:
    messages = _catch_up(broker, central, dev_a, CARDS - 600)  # within the threshold

    assert len(messages) > 600 // BY_COUNT + 1  # cut by bytes, not only by count
    seqs = [c.auth_seq for m in messages for c in m.cards]
    assert seqs == list(range(CARDS - 600 + 1, CARDS + 1))
