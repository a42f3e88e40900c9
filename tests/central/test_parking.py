"""Rules P1, P2, P3, P5: the parking card, its billing months carried to the gates as
paid-until dates, the director's approval, the emergency reserve spaces — and the sweep,
which no paid month needs any more."""

# Tests are named after the rule they pin (test_P2_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from central.calendar import billing_period, months_end
from central.clock import FixedClock
from central.models import (
    Evidence,
    EvidenceKind,
    ParkingSpace,
    ParkingSubscription,
    ReceiptItem,
    RegisterAction,
    Site,
    SpaceKind,
)
from central.refusals import InvalidInputError, RuleRefused
from central.services.context import Desk, action
from central.services.gate_record import append_entry
from central.services.parking import (
    ApplyParking,
    EndParking,
    end_parking,
)
from central.services.parking_approval import ApproveParking, approve_parking
from central.services.parking_reserve import (
    NameReserveVehicle,
    admit_to_reserve_space,
    name_reserve_vehicle,
)
from central.services.sweep import sweep_date_changes
from edge.cards import ParkingRight
from edge.decision import Reason

from .conftest import Staffs, auth_log, card, groups_of, receipts, register, row_counts
from .helpers import CARPARK_IN, Gate, apply, approve, at_local, documents, issue_wang, top_up


def paid_wang(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    approve(desk, staff, apply(desk, staff).subscription_id)
    top_up(desk, staff)


def last_record(desk: Desk, uid: str = "04A1B2C3") -> dict[str, Any]:
    entries = [e for e in auth_log(desk) if e.uid == uid]
    record: dict[str, Any] = json.loads(entries[-1].card)
    return record


# ------------------------------------------------------------------ P1


def test_P1_existing_access_card_opens_doors_and_barriers(desk: Desk, staff: Staffs,
                                                          tmp_path: Path) -> None:
    issue_wang(desk, staff)
    gate = Gate(desk, tmp_path / "auth.db")
    applied = apply(desk, staff)
    assert applied.card_uid == "04A1B2C3" and not applied.new_card
    assert applied.receipt_number is None  # the holder's own card: no card fee
    approve(desk, staff, applied.subscription_id)
    tuesday = datetime(2026, 6, 9, 10, 0)
    assert gate.tap("04A1B2C3", tuesday, CARPARK_IN) is Reason.NOT_PERMITTED_HERE  # unpaid
    assert gate.parking("04A1B2C3") == ()  # approved, nothing paid: no right travels
    top_up(desk, staff)
    record = last_record(desk)
    # The car park is not a door group: the lane judges the paid month itself (rule P2).
    assert record["access_groups"] == ["b1", "common"]
    assert record["plate"] == "粤B12345"
    assert gate.parking("04A1B2C3") == (ParkingRight(
        group="carpark", space_kind="floating", space_no=None, plate="粤B12345",
        starts_on=date(2026, 6, 9), paid_until=date(2026, 7, 8)),)
    assert gate.tap("04A1B2C3", tuesday) is Reason.GRANTED  # still the lobby door
    with desk.sessions() as s:
        kinds = {e.kind for e in s.scalars(select(Evidence))}
    assert {EvidenceKind.ID_CHECKED, EvidenceKind.DRIVING_LICENCE, EvidenceKind.VEHICLE_LICENCE,
            EvidenceKind.PARKING_AGREEMENT} <= kinds


@pytest.mark.parametrize("missing", ["id_number_presented", "driving_licence_ref",
                                     "vehicle_licence_ref", "parking_agreement_ref"])
def test_P1_every_document_is_checked_first(desk: Desk, staff: Staffs, missing: str) -> None:
    issue_wang(desk, staff)
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        apply(desk, staff, documents=documents(desk, "王建国", **{missing: None}))
    assert refused.value.rule_id == "P1"
    assert refused.value.field == f"documents.{missing}"
    assert refused.value.message_zh and refused.value.message_en
    assert row_counts(desk) == before


def test_P1_id_shown_must_match_the_record(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    with pytest.raises(RuleRefused, match="did not pass the check") as refused:
        apply(desk, staff, documents=documents(desk, "王建国",
                                               id_number_presented="110101199003071234"))
    assert refused.value.rule_id == "P1"


def test_P1_tenant_also_shows_the_lease(desk: Desk, staff: Staffs) -> None:
    form = {"existing_uid": None, "new_uid": "0C0C0C01", "holder_signoff":
            {"signer_name": "赵磊"}}
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        apply(desk, staff, "赵磊", **form)
    assert refused.value.rule_id == "P1" and "lease" in refused.value.message_en
    assert row_counts(desk) == before
    apply(desk, staff, "赵磊", documents=documents(desk, "赵磊",
                                                 lease_contract_ref="租赁合同 2026-118"), **form)
    # A tenant's new card never outlives the lease (H2).
    assert card(desk, "0C0C0C01").valid_until == date(2027, 3, 31)


def test_P1_or_buys_a_new_card_with_fee_receipt_and_register(desk: Desk,
                                                             staff: Staffs) -> None:
    applied = apply(desk, staff, existing_uid=None, new_uid="0c:0c:0c:02",
                    holder_signoff={"signer_name": "王建国"})
    assert applied.new_card and applied.card_fee_fen == 2000
    [receipt] = receipts(desk)
    assert receipt.number == applied.receipt_number
    assert [(line.item, line.card_uid) for line in receipt.lines] == [
        (ReceiptItem.CARD_FEE, "0C0C0C02")]
    assert register(desk)[-1].action is RegisterAction.ISSUE
    assert groups_of(desk, "0C0C0C02") == []  # a parking card: no doors
    with pytest.raises(RuleRefused) as refused:
        apply(desk, staff, "张丽", plate="粤B99999", existing_uid=None, new_uid="0C0C0C03")
    assert refused.value.rule_id == "I1"


def test_P1_only_the_holders_own_card(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        apply(desk, staff, "张丽")  # 王建国's card
    assert refused.value.rule_id == "P1"
    assert row_counts(desk) == before


def test_P1_form_takes_one_card_choice(desk: Desk) -> None:
    with pytest.raises(InvalidInputError) as bad:
        ApplyParking.from_form({"holder_person_id": 1, "plate": "粤B1", "documents": {},
                                "existing_uid": "0A0A0A0A", "new_uid": "0B0B0B0B"})
    assert [e.field for e in bad.value.errors] == ["existing_uid"]


# ------------------------------------------------------------------ P2


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2026, 6, 9), 1, date(2026, 7, 8)),  # the seed's example: 9 June – 8 July
    (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: its last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),  # leap year
    (date(2028, 1, 29), 1, date(2028, 2, 28)),  # 29 February exists in 2028
    (date(2026, 1, 29), 1, date(2026, 2, 28)),  # ... and not in 2026
    (date(2026, 1, 30), 1, date(2026, 2, 28)),
    (date(2026, 3, 31), 1, date(2026, 4, 30)),  # 31 → a 30-day month
    (date(2026, 4, 30), 1, date(2026, 5, 29)),  # 30 → a 31-day month: the same date exists
    (date(2026, 8, 31), 1, date(2026, 9, 30)),
    (date(2026, 12, 31), 1, date(2027, 1, 30)),  # across the year
    (date(2026, 6, 9), 3, date(2026, 9, 8)),  # N months: day before the date N months on
    (date(2026, 1, 31), 2, date(2026, 3, 30)),
    (date(2027, 1, 31), 13, date(2028, 2, 29)),
    (date(2028, 2, 29), 12, date(2029, 2, 28)),
    (date(2026, 6, 9), 12, date(2027, 6, 8)),
])
def test_P2_month_end(start: date, months: int, end: date) -> None:
    assert months_end(start, months) == end


@pytest.mark.parametrize(("current_end", "top_up_on", "months", "period"), [
    (None, date(2026, 6, 9), 1, (date(2026, 6, 9), date(2026, 7, 8))),  # first payment
    # Renewed before expiry: continues from the day after the current end.
    (date(2026, 7, 8), date(2026, 7, 1), 1, (date(2026, 7, 9), date(2026, 8, 8))),
    (date(2026, 7, 8), date(2026, 7, 8), 2, (date(2026, 7, 9), date(2026, 9, 8))),  # last day
    (date(2026, 2, 28), date(2026, 2, 20), 1, (date(2026, 3, 1), date(2026, 3, 31))),
    # After a lapse: from the top-up day; the unpaid days are not charged.
    (date(2026, 7, 8), date(2026, 7, 9), 1, (date(2026, 7, 9), date(2026, 8, 8))),
    (date(2026, 7, 8), date(2026, 7, 20), 1, (date(2026, 7, 20), date(2026, 8, 19))),
    (date(2026, 1, 10), date(2026, 1, 31), 1, (date(2026, 1, 31), date(2026, 2, 28))),
])
def test_P2_billing_period(current_end: date | None, top_up_on: date, months: int,
                           period: tuple[date, date]) -> None:
    assert billing_period(current_end, top_up_on, months) == period


def test_P2_top_ups_at_the_desk_follow_the_billing_month(desk: Desk, staff: Staffs,
                                                         clock: FixedClock) -> None:
    paid_wang(desk, staff)  # 9 June
    with desk.sessions() as s:
        sub = s.scalars(select(ParkingSubscription)).one()
        assert (sub.starts_on, sub.paid_until) == (date(2026, 6, 9), date(2026, 7, 8))
    clock.set(at_local(date(2026, 7, 1)))
    renewed = top_up(desk, staff, months=2)
    assert (renewed.paid_from, renewed.paid_until) == (date(2026, 7, 9), date(2026, 9, 8))
    assert renewed.amount_fen == 60000
    clock.set(at_local(date(2026, 9, 20)))
    lapsed = top_up(desk, staff)
    assert (lapsed.paid_from, lapsed.paid_until) == (date(2026, 9, 20), date(2026, 10, 19))
    parking = [r for r in receipts(desk) if r.lines[0].item is ReceiptItem.PARKING]
    assert [r.amount_fen for r in parking] == [30000, 60000, 30000]
    assert {line.card_uid for r in parking for line in r.lines} == {"04A1B2C3"}


# ------------------------------------------------------------------ P3


def test_P3_only_the_office_director_approves(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    sub_id = apply(desk, staff).subscription_id
    before = row_counts(desk)
    for who in (staff.clerk, staff.front_desk_lead, staff.customer_service_lead):
        with pytest.raises(RuleRefused) as refused:
            approve_parking(desk, who, ApproveParking(sub_id, 30000, SpaceKind.FLOATING))
        assert refused.value.rule_id == "P3"
    assert row_counts(desk) == before
    approve(desk, staff, sub_id, fee_per_month_yuan="350.50")
    with desk.sessions() as s:
        sub = s.get(ParkingSubscription, sub_id)
        assert sub is not None and sub.fee_per_month_fen == 35050
        assert sub.approved_by_staff_id == staff.director.staff_id


def test_P3_nothing_is_paid_before_the_approval(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    apply(desk, staff)
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        top_up(desk, staff)
    assert refused.value.rule_id == "P3"
    assert row_counts(desk) == before


def test_P3_fixed_space_number_is_recorded(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    with action(desk) as act:
        act.session.add(ParkingSpace(site_id=1, number="B2-017", kind=SpaceKind.FIXED))
    sub_id = apply(desk, staff, space_kind="fixed").subscription_id
    with pytest.raises(RuleRefused) as refused:
        approve(desk, staff, sub_id, space_kind="fixed")
    assert refused.value.rule_id == "P3" and refused.value.field == "space_number"
    approve(desk, staff, sub_id, space_kind="fixed", space_number="B2-017")
    with desk.sessions() as s:
        sub = s.get(ParkingSubscription, sub_id)
        space = s.scalars(select(ParkingSpace)).one()
        assert sub is not None and sub.space_id == space.id
        assert sub.space_kind is SpaceKind.FIXED
    top_up(desk, staff)
    # The lane needs the space number too: a fixed-space car counts as FIXED in the lot.
    (right,) = last_record(desk)["parking"]
    assert (right["space"], right["space_no"]) == ("fixed", "B2-017")


# ------------------------------------------------------------------ P5


def test_P5_reserve_space_only_for_vehicles_named_in_advance(desk: Desk,
                                                             staff: Staffs) -> None:
    issue_wang(desk, staff)
    sub_id = apply(desk, staff, space_kind="emergency_reserve").subscription_id
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        approve(desk, staff, sub_id, space_kind="emergency_reserve")
    assert refused.value.rule_id == "P5"
    assert row_counts(desk) == before
    name_reserve_vehicle(desk, staff.clerk, NameReserveVehicle.from_form({
        "plate": "粤B·12345", "named_by": "owner_unit", "named_by_name": "业主单位行政部",
        "valid_from": "2026-06-09"}))
    approve(desk, staff, sub_id, space_kind="emergency_reserve")


def test_P5_guard_turns_away_every_other_vehicle(desk: Desk, staff: Staffs,
                                                clock: FixedClock) -> None:
    with pytest.raises(RuleRefused) as refused:
        admit_to_reserve_space(desk, staff.guard, "粤B 88888")
    assert refused.value.rule_id == "P5" and "粤B88888" in refused.value.message_zh
    name_reserve_vehicle(desk, staff.clerk, NameReserveVehicle.from_form({
        "plate": "粤B88888", "named_by": "management_office", "named_by_name": "管理处 贵宾",
        "valid_from": "2026-06-10", "valid_until": "2026-06-10"}))
    with pytest.raises(RuleRefused):  # named for tomorrow, not today
        admit_to_reserve_space(desk, staff.guard, "粤B88888")
    clock.set(at_local(date(2026, 6, 10)))
    admitted = admit_to_reserve_space(desk, staff.guard, "粤b88888")
    assert admitted.named_by_name == "管理处 贵宾"
    with pytest.raises(InvalidInputError):  # "in advance": never for a day already past
        name_reserve_vehicle(desk, staff.clerk, NameReserveVehicle.from_form({
            "plate": "粤B77777", "named_by": "owner_unit", "named_by_name": "x",
            "valid_from": "2026-06-01"}))


# ------------------------------------------------------------------ the daily sweep


def test_a_top_up_moves_paid_until_at_the_gate(desk: Desk, staff: Staffs, clock: FixedClock,
                                               tmp_path: Path) -> None:
    paid_wang(desk, staff)  # paid 9 June – 8 July
    gate = Gate(desk, tmp_path / "auth.db")
    assert [r.paid_until for r in gate.parking("04A1B2C3")] == [date(2026, 7, 8)]
    clock.set(at_local(date(2026, 7, 1)))
    entries = len(auth_log(desk))
    top_up(desk, staff, months=2)
    # The top-up is published by the action itself (the session hook sees the subscription).
    assert len(auth_log(desk)) == entries + 1
    assert [r.paid_until for r in gate.parking("04A1B2C3")] == [date(2026, 9, 8)]


def test_sweep_appends_nothing_when_a_paid_month_lapses(desk: Desk, staff: Staffs,
                                                        clock: FixedClock,
                                                        tmp_path: Path) -> None:
    paid_wang(desk, staff)  # paid 9 June – 8 July
    gate = Gate(desk, tmp_path / "auth.db")
    published = last_record(desk)
    assert sweep_date_changes(desk, date(2026, 7, 8)) == 0  # still paid
    clock.set(at_local(date(2026, 7, 9), hour=0))
    # Lapsed at midnight: the record is the same, the gate judges paid-until itself.
    assert sweep_date_changes(desk, date(2026, 7, 9)) == 0
    assert sweep_date_changes(desk) == 0
    assert last_record(desk) == published
    assert [r.paid_until for r in gate.parking("04A1B2C3")] == [date(2026, 7, 8)]
    clock.set(at_local(date(2026, 7, 20)))
    top_up(desk, staff)  # after the lapse: published by the action itself
    assert last_record(desk)["parking"][0]["until"] == "2026-08-19"
    assert sweep_date_changes(desk, date(2026, 7, 20), site="sunrise-garden") == 0


def test_sweep_republishes_a_record_made_the_old_way(desk: Desk, staff: Staffs,
                                                     tmp_path: Path) -> None:
    """A desk upgraded from issue 11 published the car-park group by date; the first sweep
    after the upgrade sends the record with the parking right, once."""
    paid_wang(desk, staff)
    old = dict(last_record(desk), access_groups=["b1", "carpark", "common"])
    del old["parking"]
    with action(desk) as act:
        site = act.session.scalars(select(Site).where(Site.code == "sunrise-garden")).one()
        append_entry(act.session, site, "04A1B2C3", json.dumps(old, ensure_ascii=False),
                     act.now)
    gate = Gate(desk, tmp_path / "auth.db")
    assert gate.parking("04A1B2C3") == ()
    assert sweep_date_changes(desk, site="elsewhere") == 0
    assert sweep_date_changes(desk) == 1
    assert sweep_date_changes(desk) == 0
    assert [r.group for r in gate.parking("04A1B2C3")] == ["carpark"]
    assert last_record(desk)["access_groups"] == ["b1", "common"]


def test_ending_a_subscription_closes_the_car_park_at_once(desk: Desk, staff: Staffs,
                                                           tmp_path: Path) -> None:
    paid_wang(desk, staff)
    gate = Gate(desk, tmp_path / "auth.db")
    end_parking(desk, staff.clerk, EndParking.from_form({"uid": "04A1B2C3"}))
    record = last_record(desk)
    assert record["access_groups"] == ["b1", "common"]
    assert "parking" not in record and record["plate"] is None
    assert gate.parking("04A1B2C3") == ()
