"""Closing the loop: every change that affects a gate's decision appends the card's full
effective record to auth_log in the same transaction, in the wire form the sync library
publishes — and a real edge whitelist fed from it decides as the desk intends."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.clock import FixedClock
from central.models import (
    AccessGroup,
    Card,
    CardState,
    ParkingSubscription,
    SpaceKind,
    Vehicle,
)
from central.refusals import RuleRefused
from central.services.card_changes import CardAction, format_card, renew_card, revoke_card
from central.services.context import Desk, action
from central.services.gate_record import effective_record
from central.services.loss import (
    ReplaceCard,
    ReportLoss,
    ReviewLoss,
    replace_card,
    report_lost,
    review_loss,
)
from central.services.other_cards import IssueMerchantCard, issue_merchant_card
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.stored_value import TopUpCard, top_up_card
from edge.auth_store import AuthStore
from edge.cards import CardStatus
from edge.decision import GateRules, Reason, decide
from firmware_config.schema import AntiPassbackMode, Role, UntrustedClockPolicy
from sync.wire.auth_messages import AuthChanges

from .conftest import (
    NOW,
    SITE,
    Staffs,
    application,
    auth_log,
    owner_line,
    person,
    row_counts,
    sign,
    signed,
)

B1_DOOR = GateRules(Role.DOOR, frozenset({"b1"}), AntiPassbackMode.OFF,
                    UntrustedClockPolicy.SKIP_TIME_CHECKS)
LOCAL_NOW = datetime(2026, 6, 9, 10, 0)


class Edge:
    """A gate's whitelist fed from the desk's auth_log the way sync feeds it."""

    def __init__(self, desk: Desk, path: Path) -> None:
        self.desk = desk
        self.store = AuthStore(path)
        self.applied = 0

    def sync(self) -> int:
        entries = [e for e in auth_log(self.desk) if e.seq > self.applied]
        if not entries:
            return 0
        payload = json.dumps({
            "v": 1, "type": "auth_changes", "site": SITE, "from_seq": entries[0].seq,
            "to_seq": entries[-1].seq, "issued_at": 0.0,
            "entries": [{"seq": e.seq, "card": json.loads(e.card)} for e in entries]})
        changes = AuthChanges.parse(payload)  # exactly what an edge validates
        self.store.upsert(changes.cards, applied_seq=changes.to_seq)
        self.applied = changes.to_seq
        return len(entries)

    def tap(self, uid: str, at: datetime = LOCAL_NOW) -> Reason:
        return decide(self.store.lookup(uid), B1_DOOR, at, already_inside=False,
                      clock_trusted=True).reason


def issue_wang(desk: Desk, staff: Staffs, uid: str = "04A1B2C3") -> None:
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(
        application(desk, "王建国", [owner_line(desk, uid, "王建国")])))


def test_card_life_reaches_the_gate(desk: Desk, staff: Staffs, tmp_path: Path,
                                    clock: FixedClock) -> None:
    edge = Edge(desk, tmp_path / "auth.db")
    issue_wang(desk, staff)
    assert edge.sync() == 1
    assert edge.tap("04A1B2C3") is Reason.GRANTED
    assert edge.tap("04A1B2C3", datetime(2028, 6, 9, 0, 1)) is Reason.EXPIRED
    wang = person(desk, "王建国").id
    report_lost(desk, staff.clerk, ReportLoss("04A1B2C3", wang, True, 0, True, sign("王建国")))
    edge.sync()
    assert edge.tap("04A1B2C3") is Reason.LOST
    review_loss(desk, staff.director, ReviewLoss(1, True))
    replace_card(desk, staff.clerk, ReplaceCard("04A1B2C3", "04A1B2C9", 0, sign("王建国")))
    # Only the new card: the old one's record (lost, no groups) did not change.
    assert edge.sync() == 1
    assert edge.tap("04A1B2C9") is Reason.GRANTED
    assert edge.tap("04A1B2C3") is Reason.LOST
    revoke_card(desk, staff.clerk, CardAction("04A1B2C9", "moved", sign("王建国")))
    edge.sync()
    assert edge.tap("04A1B2C9") is Reason.REVOKED
    format_card(desk, staff.clerk, CardAction("04A1B2C9", "re-use", sign("王建国")))
    edge.sync()
    record = edge.store.lookup("04A1B2C9")
    assert record is not None and record.access_groups == frozenset()
    assert record.status is CardStatus.REVOKED
    assert edge.store.applied_seq == auth_log(desk)[-1].seq


def test_renewal_reaches_the_gate(desk: Desk, staff: Staffs, tmp_path: Path,
                                  clock: FixedClock) -> None:
    edge = Edge(desk, tmp_path / "auth.db")
    issue_wang(desk, staff)
    clock.set(datetime(2028, 6, 1, 2, 0, tzinfo=NOW.tzinfo))
    assert renew_card(desk, staff.clerk, CardAction("04A1B2C3", "", sign("王建国"))) == \
        date(2030, 6, 8)
    edge.sync()
    assert edge.tap("04A1B2C3", datetime(2029, 1, 1, 12, 0)) is Reason.GRANTED


def test_schedule_travels_with_the_card(desk: Desk, staff: Staffs, tmp_path: Path) -> None:
    edge = Edge(desk, tmp_path / "auth.db")
    issue_merchant_card(desk, staff.clerk, IssueMerchantCard.from_form({
        "uid": "0B0B0B01", "holder_person_id": person(desk, "周静").id,
        "seal_application_ref": "公章", "shop_manager": {"name": "店长"},
        "department_head": {"name": "部门负责人"}, "holder_signoff": signed("周静"),
        "access_groups": ["common", "b1"], "schedule": "Mon-Sat 07:00-22:00"}))
    edge.sync()
    assert edge.tap("0B0B0B01") is Reason.GRANTED  # a Tuesday morning
    assert edge.tap("0B0B0B01", datetime(2026, 6, 14, 10, 0)) is Reason.OUTSIDE_SCHEDULE


def test_refused_action_publishes_nothing_and_unchanged_cards_are_not_republished(
        desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    before = row_counts(desk)
    with pytest.raises(RuleRefused):
        revoke_card(desk, staff.clerk, CardAction("04A1B2C3", "x", None))
    assert row_counts(desk) == before
    # A change the gates cannot see (the balance) appends nothing.
    top_up_card(desk, staff.clerk, TopUpCard("04A1B2C3", 500, "王建国"))
    assert len(auth_log(desk)) == 1


def test_parking_subscription_travels_as_a_right_with_its_paid_until(desk: Desk,
                                                                       staff: Staffs) -> None:
    issue_wang(desk, staff)
    # Phase 2 writes subscriptions through its own service; any write is published, because
    # the session hook finds the card it rides on.
    with action(desk) as act:
        c = act.session.scalars(select(Card)).one()
        carpark = act.session.scalars(select(AccessGroup).where(
            AccessGroup.name == "carpark")).one()
        vehicle = Vehicle(site_id=c.site_id, plate="粤B12345", created_at=NOW)
        second = Vehicle(site_id=c.site_id, plate="粤B67890", created_at=NOW)
        act.session.add(ParkingSubscription(
            site_id=c.site_id, card=c, vehicle=vehicle, access_group=carpark,
            space_kind=SpaceKind.FLOATING, fee_per_month_fen=30000, starts_on=date(2026, 6, 9),
            paid_until=date(2026, 7, 8), created_at=NOW))
        # Approved, never paid: nothing to judge, so nothing travels.
        act.session.add(ParkingSubscription(
            site_id=c.site_id, card=c, vehicle=second, access_group=carpark,
            space_kind=SpaceKind.FLOATING, fee_per_month_fen=30000, created_at=NOW))
    last: dict[str, Any] = json.loads(auth_log(desk)[-1].card)
    assert last["access_groups"] == ["b1", "common"]
    assert last["plate"] == "粤B12345"
    assert last["parking"] == [{"group": "carpark", "space": "floating", "space_no": None,
                                "plate": "粤B12345", "from": "2026-06-09",
                                "until": "2026-07-08"}]
    # A second paid subscription rides along after the first (id order), with its own plate.
    with action(desk) as act:
        sub = act.session.scalars(select(ParkingSubscription).where(
            ParkingSubscription.paid_until.is_(None))).one()
        sub.starts_on, sub.paid_until = date(2026, 6, 20), date(2026, 8, 19)
    with desk.sessions() as s:
        record = effective_record(s.scalars(select(Card)).one())
    assert [(r.plate, r.paid_until) for r in record.parking] == [
        ("粤B12345", date(2026, 7, 8)), ("粤B67890", date(2026, 8, 19))]
    assert record.plate == "粤B12345"
    assert json.loads(auth_log(desk)[-1].card)["parking"][1]["plate"] == "粤B67890"
    # Ended: gone from the record, the other stays.
    with action(desk) as act:
        first = act.session.scalars(select(ParkingSubscription).order_by(
            ParkingSubscription.id)).first()
        assert first is not None
        first.ended_on = date(2026, 6, 30)
    last = json.loads(auth_log(desk)[-1].card)
    assert [r["plate"] for r in last["parking"]] == ["粤B67890"]
    assert last["plate"] == "粤B67890"


@pytest.mark.parametrize("withdrawn", ["lost", "revoked", "formatted"])
def test_a_withdrawn_card_carries_no_parking_right(desk: Desk, staff: Staffs,
                                                    withdrawn: str) -> None:
    issue_wang(desk, staff)
    with action(desk) as act:
        c = act.session.scalars(select(Card)).one()
        carpark = act.session.scalars(select(AccessGroup).where(
            AccessGroup.name == "carpark")).one()
        act.session.add(ParkingSubscription(
            site_id=c.site_id, card=c,
            vehicle=Vehicle(site_id=c.site_id, plate="粤B12345", created_at=NOW),
            access_group=carpark, space_kind=SpaceKind.FLOATING, fee_per_month_fen=30000,
            starts_on=date(2026, 6, 9), paid_until=date(2026, 7, 8), created_at=NOW))
    assert "parking" in json.loads(auth_log(desk)[-1].card)
    if withdrawn == "lost":
        report_lost(desk, staff.clerk, ReportLoss("04A1B2C3", person(desk, "王建国").id, True,
                                                  0, True, sign("王建国")))
    else:
        revoke_card(desk, staff.clerk, CardAction("04A1B2C3", "moved", sign("王建国")))
    if withdrawn == "formatted":
        # The desk refuses to format a card that still carries a subscription; the record
        # must hold nothing even so (rule I6).
        with action(desk) as act:
            act.session.scalars(select(Card)).one().state = CardState.FORMATTED
    last = json.loads(auth_log(desk)[-1].card)
    assert last["status"] == ("lost" if withdrawn == "lost" else "revoked")
    assert last["access_groups"] == []
    assert "parking" not in last and last["plate"] is None


def test_auth_log_rows(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff, "04A1B2C3")
    issue_wang(desk, staff, "04A1B2C4")
    entries = auth_log(desk)
    assert [e.seq for e in entries] == [1, 2]
    assert {e.site for e in entries} == {SITE}
    assert entries[0].created_at == NOW
    wire = json.loads(entries[0].card)
    assert set(wire) == {"uid", "status", "valid_from", "valid_until", "access_groups",
                         "schedule", "holder_kind", "plate"}
    assert wire["valid_until"] == (date(2026, 6, 9) + timedelta(days=730)).isoformat()
