"""The desk's auth log reaches the site's sync log: in order, at least once, and a bad
entry never blocks the ones after it."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.gate_link import DeskToGates
from central.models import AuthLogEntry
from central.services.context import Desk
from edge.card_record import CardRow, to_wire
from edge.cards import CardStatus
from sync.hub.bridge import CentralSync
from tests.central.conftest import NOW, SITE


def append(desk: Desk, card: CardRow | dict[str, object], site: str = SITE) -> None:
    text = json.dumps(card if isinstance(card, dict) else to_wire(card))
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
    # Valid field by field, but too large for any message: refused at the hub before.
    append(desk, replace(row("0D0D0D0D", CardStatus.ACTIVE),
                         access_groups=tuple(f"group-{i}" for i in range(200))))
    append(desk, row("0C0C0C0C", CardStatus.ACTIVE))
    relay = DeskToGates(desk.engine, {SITE: sync}, tmp_path / "relay.json")
    assert relay.relay_once() == 4
    assert [c.uid for c in sync.current_cards()] == ["0C0C0C0C"]
    sync.close()


def test_the_desk_text_is_what_the_hub_logs(desk: Desk, tmp_path: Path) -> None:
    """Encoded once: the desk's text reaches the hub's log as it is, not re-encoded."""
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    append(desk, row("04A1B2C3", CardStatus.ACTIVE))
    DeskToGates(desk.engine, {SITE: sync}, tmp_path / "relay.json").relay_once()
    [(_seq, text)] = sync.store.entries(1, 1)
    assert text == json.dumps(to_wire(row("04A1B2C3", CardStatus.ACTIVE)))
    sync.close()


def test_a_desk_commit_that_appends_wakes_the_relay_at_once(desk: Desk, tmp_path: Path) -> None:
    """A revocation committed by this process goes out as it commits, not at the next poll
    (here a minute away)."""
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    relay = DeskToGates(desk.engine, {SITE: sync}, tmp_path / "relay.json", interval=60)
    relay.start()
    try:
        time.sleep(0.2)  # past its first look at the (empty) log
        append(desk, row("04A1B2C3", CardStatus.LOST))
        deadline = time.monotonic() + 5
        while sync.head_seq() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sync.head_seq() == 1
    finally:
        relay.stop()
        sync.close()
