"""The desk's auth log reaches the site's sync log: in order, at least once, and a bad
entry never blocks the ones after it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.gate_link import DeskToGates
from central.models import AuthLogEntry
from central.services.context import Desk
from edge.auth_store import CardRow
from edge.cards import CardStatus
from sync.hub.bridge import CentralSync
from sync.wire.messages import card_to_wire
from tests.central.conftest import NOW, SITE


def append(desk: Desk, card: CardRow | dict[str, object], site: str = SITE) -> None:
    text = json.dumps(card if isinstance(card, dict) else card_to_wire(card))
    uid = str(card["uid"]) if isinstance(card, dict) else card.uid
    with desk.write_sessions() as s, s.begin():
        s.add(AuthLogEntry(site=site, uid=uid, card=text, created_at=NOW))


def row(uid: str, status: CardStatus) -> CardRow:
    return CardRow(uid, status, date(2026, 1, 1), date(2027, 1, 1), ("lobby",), None,
                   "owner", None)


def test_desk_entries_reach_the_sync_log_in_order_and_resume_after_restart(
        desk: Desk, tmp_path: Path) -> None:
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    state = tmp_path / "relay.json"
    append(desk, row("04A1B2C3", CardStatus.ACTIVE))
    append(desk, row("04A1B2C3", CardStatus.LOST))
    relay = DeskToGates(desk.engine, {SITE: sync}, state)
    assert relay.relay_once() == 2
    assert relay.relay_once() == 0
    [current] = sync.current_cards()
    assert current.status is CardStatus.LOST and sync.head_seq() == 2
    # A new relay (a restarted service) continues where the last one stopped.
    append(desk, row("0B0B0B0B", CardStatus.ACTIVE))
    again = DeskToGates(desk.engine, {SITE: sync}, state)
    assert again.relay_once() == 1
    assert sync.head_seq() == 3
    sync.close()


def test_an_entry_the_gates_would_refuse_does_not_block_later_ones(
        desk: Desk, tmp_path: Path) -> None:
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    append(desk, {"uid": "not-hex", "status": "active", "access_groups": []})
    append(desk, row("04A1B2C3", CardStatus.REVOKED), site="other-site")
    append(desk, row("0C0C0C0C", CardStatus.ACTIVE))
    relay = DeskToGates(desk.engine, {SITE: sync}, tmp_path / "relay.json")
    assert relay.relay_once() == 3
    assert [c.uid for c in sync.current_cards()] == ["0C0C0C0C"]
    sync.close()
