"""The desk's auth log reaches the site's sync log: in order, at least once, and a bad
entry never blocks the ones after it."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from central.gate_link import DeskToGates
from central.models import AuthLogEntry, Site
from central.services.context import Desk
from central.services.gate_record import append_entry
from edge.card_record import CardRow, check_text, to_wire
from edge.cards import CardStatus
from sync.hub.bridge import CentralSync
from tests.central.conftest import NOW, SITE, load_second_site


def append(desk: Desk, card: CardRow | dict[str, object], site: str = SITE) -> None:
    """One auth_log entry in a desk transaction of its own, as the desk appends it."""
    with desk.write_sessions() as s, s.begin():
        append_in(s, card, site)


def append_in(session: Session, card: CardRow | dict[str, object], site: str = SITE) -> None:
    """Append to the auth_log in ``session``'s transaction, its site row locked as a desk
    action locks it (row lock on PostgreSQL, the write lock on SQLite)."""
    text = json.dumps(card if isinstance(card, dict) else to_wire(card))
    uid = str(card["uid"]) if isinstance(card, dict) else card.uid
    site_row = session.scalars(select(Site).where(Site.code == site).with_for_update()).one()
    append_entry(session, site_row, uid, text, NOW)


def head_within(sync: CentralSync, seconds: float) -> int:
    """The hub log's head once something is relayed, or after ``seconds`` (far less than
    the relays' minute-long poll in the tests that use it)."""
    deadline = time.monotonic() + seconds
    while sync.head_seq() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return sync.head_seq()


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
    load_second_site(desk, "other-site")
    append(desk, {"uid": "not-hex", "status": "active", "access_groups": []})
    # A site this desk service has no link to: not read, not in the way.
    append(desk, row("04A1B2C3", CardStatus.REVOKED), site="other-site")
    # Valid field by field, but too large for any message: refused at the hub before.
    append(desk, replace(row("0D0D0D0D", CardStatus.ACTIVE),
                         access_groups=tuple(f"group-{i}" for i in range(200))))
    append(desk, row("0C0C0C0C", CardStatus.ACTIVE))
    relay = DeskToGates(desk.engine, {SITE: sync}, tmp_path / "relay.json")
    assert relay.relay_once() == 3
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
        assert head_within(sync, 5.0) == 1
    finally:
        relay.stop()
        sync.close()


def test_a_change_committed_after_a_later_numbered_one_of_another_site_still_reaches_the_gates(
        desk: Desk, tmp_path: Path) -> None:
    """Two desk transactions at once (on PostgreSQL they really run together): the first
    takes its log entry's number, the second (another site) takes the next and commits
    first, the relay runs, then the first commits. Read by the desk-wide number, the
    first's entry sat below the relay's cursor and was skipped for ever: that card's
    change never reached its gates."""
    load_second_site(desk, "moonlight-court")
    here = CentralSync(tmp_path / "here.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    there = CentralSync(tmp_path / "there.db", "moonlight-court",
                        Ed25519PrivateKey.generate(), "127.0.0.1", 1, password="unused")
    relay = DeskToGates(desk.engine, {SITE: here, "moonlight-court": there},
                        tmp_path / "relay.json")
    first = desk.write_sessions()
    first.begin()
    append_in(first, row("04A1B2C3", CardStatus.LOST))
    first.flush()  # its number is taken; not committed
    second = threading.Thread(
        target=append, args=(desk, row("0B0B0B0B", CardStatus.LOST), "moonlight-court"))
    second.start()
    second.join(1.0)  # on SQLite it waits for the first's write lock: it cannot finish yet
    relay.relay_once()
    first.commit()
    first.close()
    second.join(10)
    assert not second.is_alive()
    while relay.relay_once():
        pass
    assert [(c.uid, c.status) for c in here.current_cards()] == [("04A1B2C3", CardStatus.LOST)]
    assert [(c.uid, c.status) for c in there.current_cards()] == \
        [("0B0B0B0B", CardStatus.LOST)]
    here.close()
    there.close()


def test_a_relay_state_written_before_per_site_numbers_resumes_each_site_after_it(
        desk: Desk, tmp_path: Path) -> None:
    """An upgraded desk's relay state file holds one desk-wide cursor; each site resumes
    after its last entry at or below it: nothing sent twice, nothing skipped. From then on
    the cursor is the hub store's."""
    load_second_site(desk, "moonlight-court")
    append(desk, row("04A1B2C3", CardStatus.ACTIVE))                     # seq 1
    append(desk, row("0B0B0B0B", CardStatus.ACTIVE), "moonlight-court")  # seq 2
    append(desk, row("04A1B2C3", CardStatus.LOST))                       # seq 3, not relayed
    state = tmp_path / "relay.json"
    state.write_text(json.dumps({"relayed_seq": 2}))
    here = CentralSync(tmp_path / "here.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    there = CentralSync(tmp_path / "there.db", "moonlight-court",
                        Ed25519PrivateKey.generate(), "127.0.0.1", 1, password="unused")
    relay = DeskToGates(desk.engine, {SITE: here, "moonlight-court": there}, state)
    assert relay.relay_once() == 1
    assert [(c.uid, c.status) for c in here.current_cards()] == [("04A1B2C3", CardStatus.LOST)]
    assert there.head_seq() == 0
    assert (here.store.relayed_upto(), there.store.relayed_upto()) == (2, None)
    here.close()
    there.close()


def test_a_store_logged_before_it_kept_the_cursor_resumes_after_its_newest_desk_entry(
        desk: Desk, tmp_path: Path) -> None:
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    append(desk, row("04A1B2C3", CardStatus.ACTIVE))
    append(desk, row("04A1B2C3", CardStatus.LOST))
    # What the relay before this release logged: the desk's numbers, no cursor.
    with desk.sessions() as s:
        first = s.scalars(select(AuthLogEntry).order_by(AuthLogEntry.seq)).first()
        assert first is not None
        sync.record_cards([check_text(first.card, "test")], [first.seq])
    assert sync.store.relayed_upto() is None
    assert DeskToGates(desk.engine, {SITE: sync}).relay_once() == 1
    assert sync.head_seq() == 2 and sync.store.relayed_upto() == 2
    sync.close()


def test_another_desk_worker_resumes_where_the_last_relay_stopped(
        desk: Desk, tmp_path: Path) -> None:
    """The cursor is the hub store's, written with what it relays: a relay with no state of
    its own (another worker taking the site over) sends only what is new."""
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    append(desk, {"uid": "not-hex", "status": "active", "access_groups": []})  # skipped
    assert DeskToGates(desk.engine, {SITE: sync}).relay_once() == 1
    assert (sync.head_seq(), sync.store.relayed_upto()) == (0, 1)
    append(desk, row("04A1B2C3", CardStatus.ACTIVE))
    assert DeskToGates(desk.engine, {SITE: sync}).relay_once() == 1
    assert DeskToGates(desk.engine, {SITE: sync}).relay_once() == 0
    assert sync.head_seq() == 1
    sync.close()


def test_a_change_committed_by_another_desk_worker_wakes_the_relay_at_once(
        desk: Desk, tmp_path: Path) -> None:
    """On PostgreSQL the clerk's request may reach a desk worker that does not relay the
    site: its commit is announced (pg_notify) and the relaying worker sends it at once, not
    at its next poll (here a minute away). A plain Session stands for the other worker: this
    process's own commit hook does not see it."""
    if desk.engine.dialect.name != "postgresql":
        pytest.skip("one SQLite desk process: its own commits wake its relay (test above)")
    sync = CentralSync(tmp_path / "sync.db", SITE, Ed25519PrivateKey.generate(), "127.0.0.1",
                       1, password="unused")
    relay = DeskToGates(desk.engine, {SITE: sync}, interval=60)
    relay.start()
    try:
        time.sleep(0.5)  # past its first look at the (empty) log, listening
        with Session(desk.engine) as other, other.begin():
            append_in(other, row("04A1B2C3", CardStatus.LOST))
        assert head_within(sync, 5.0) == 1
    finally:
        relay.stop()
        sync.close()


def test_a_round_reads_the_log_only_of_the_sites_with_something_new(
        desk: Desk, tmp_path: Path) -> None:
    """A company's worker relays dozens of sites, twice a second and at every commit: one
    look at the sites' last numbers, then only the sites with something new are read (a
    query per site per round was a tenth of a 100-site worker's time)."""
    other = "moonlight-court"
    load_second_site(desk, other)
    key = Ed25519PrivateKey.generate()
    syncs = {site: CentralSync(tmp_path / f"{site}.db", site, key, "127.0.0.1", 1,
                               password="unused") for site in (SITE, other)}
    relay = DeskToGates(desk.engine, syncs)
    statements: list[str] = []

    def executed(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(desk.engine, "before_cursor_execute", executed)
    try:
        append(desk, row("04A1B2C3", CardStatus.LOST))
        assert relay.relay_once() == 1
        statements.clear()
        assert relay.relay_once() == 0
        assert not [s for s in statements if "FROM auth_log" in s]
        append(desk, row("04A1B2C4", CardStatus.LOST), site=other)
        statements.clear()
        assert relay.relay_once() == 1
        assert len([s for s in statements if "FROM auth_log" in s]) == 1
        assert (syncs[SITE].head_seq(), syncs[other].head_seq()) == (1, 1)
    finally:
        event.remove(desk.engine, "before_cursor_execute", executed)
        for sync in syncs.values():
            sync.close()
