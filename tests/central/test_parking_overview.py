"""The reads the parking pages stand on: each subscription's step and the approval queue
(P3), the people who may apply (P1), the top-up preview that shows the new paid-until date
before the money is taken (P2: the same terms the payment then charges, refused the same
way), the reserve vehicles named (P5), and the report as it stands (P4)."""

# ruff: noqa: N802

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from central.clock import FixedClock
from central.models import ParkingTopUp, Receipt
from central.refusals import NotFoundError, RuleRefused, UnavailableError
from central.services.context import Desk
from central.services.parking import TopUpParking, preview_top_up
from central.services.parking_overview import (
    SubscriptionState,
    approval_queue,
    card_parking,
    parking_holders,
    parking_subscriptions,
)
from central.services.parking_report_signoff import (
    add_parking_usage,
    current_parking_report,
    total_parking_fees,
)
from central.services.parking_reserve import (
    NameReserveVehicle,
    name_reserve_vehicle,
    reserve_namings,
)

from .conftest import Staffs, person
from .helpers import apply, approve, issue_wang, owner_unit_approves, top_up


def months(count: int, uid: str = "04A1B2C3") -> TopUpParking:
    """A top-up form for ``count`` months on the card, as the pages read it."""
    return TopUpParking.from_form({"uid": uid, "months": count})


def test_P3_each_subscription_is_listed_at_its_step_and_the_queue_holds_the_unapproved(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    issue_wang(desk, staff)
    applied = apply(desk, staff)
    counts, lines = parking_subscriptions(desk, staff.clerk)
    assert counts[SubscriptionState.AWAITING_OWNER_UNIT] == 1
    assert [line.plate for line in lines] == ["粤B12345"]
    assert [line.id for line in approval_queue(desk, staff.clerk)] == [applied.subscription_id]
    owner_unit_approves(desk, staff, applied.subscription_id)
    assert approval_queue(desk, staff.clerk)[0].state is SubscriptionState.AWAITING_DIRECTOR
    approve(desk, staff, applied.subscription_id)
    assert approval_queue(desk, staff.clerk) == []
    assert parking_subscriptions(desk, staff.clerk)[1][0].state is SubscriptionState.UNPAID
    top_up(desk, staff)
    line = parking_subscriptions(desk, staff.clerk, SubscriptionState.PAID)[1][0]
    assert (line.paid_until, line.fee_per_month_fen, line.unit) == (
        date(2026, 7, 8), 30000, "1-1201")
    clock.advance(timedelta(days=31))
    counts, lines = parking_subscriptions(desk, staff.clerk, SubscriptionState.PAID)
    assert counts[SubscriptionState.LAPSED] == 1 and lines == []


def test_P1_the_people_who_may_apply_are_found_by_the_unit_however_written(
        desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    for written in ("1-1201", "1栋1201", " 1 - 1201 "):
        holders = parking_holders(desk, staff.clerk, unit=written)
        assert [p.name for p in holders.people] == ["王建国", "张丽", "王小明"]
    wang = parking_holders(desk, staff.clerk, person_id=person(desk, "王建国").id).people[0]
    assert wang.cards == ("04A1B2C3",)  # the access card that may carry the parking
    apply(desk, staff)
    assert parking_holders(desk, staff.clerk, unit="1-1201").people[0].cards == ()
    with pytest.raises(NotFoundError):
        parking_holders(desk, staff.clerk, unit="9-999")


def test_P2_the_preview_shows_what_the_payment_then_charges_and_writes_nothing(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    issue_wang(desk, staff)
    applied = apply(desk, staff)
    with pytest.raises(RuleRefused) as refused:
        preview_top_up(desk, staff.clerk, months(1))
    assert refused.value.rule_id == "P3"
    approve(desk, staff, applied.subscription_id)
    terms = preview_top_up(desk, staff.clerk, months(3, "04a1b2c3"))
    assert (terms.current_paid_until, terms.paid_from, terms.paid_until, terms.amount_fen) == (
        None, date(2026, 6, 9), date(2026, 9, 8), 90000)
    with desk.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ParkingTopUp)) == 0
        assert s.scalar(select(func.count()).select_from(Receipt)) == 1  # the card's own
    paid = top_up(desk, staff, months=3)
    assert (paid.paid_from, paid.paid_until, paid.amount_fen) == (
        terms.paid_from, terms.paid_until, terms.amount_fen)
    # Renewed before it lapses: from the day after the current end.
    clock.advance(timedelta(days=60))
    renewal = preview_top_up(desk, staff.clerk, months(1))
    assert (renewal.current_paid_until, renewal.paid_from, renewal.paid_until) == (
        date(2026, 9, 8), date(2026, 9, 9), date(2026, 10, 8))
    parking = card_parking(desk, staff.clerk, "04A1B2C3")
    assert [(p.months, p.amount_fen) for p in parking.paid] == [(3, 90000)]


def test_P5_the_vehicles_named_are_listed_until_they_run_out(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    for plate, start, end in (("粤B·88888", "2026-06-09", None),
                              ("粤B66666", "2026-06-20", "2026-06-30")):
        name_reserve_vehicle(desk, staff.clerk, NameReserveVehicle.from_form({
            "plate": plate, "named_by": "management_office", "named_by_name": "管理处 陈",
            "valid_from": start, "valid_until": end}))
    named = reserve_namings(desk, staff.guard)
    assert [(n.plate, n.current) for n in named] == [("粤B66666", False), ("粤B88888", True)]
    clock.advance(timedelta(days=30))
    assert [n.plate for n in reserve_namings(desk, staff.guard)] == ["粤B88888"]


def test_P4_the_report_as_it_stands_reads_the_use_only_once_security_added_it(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    issue_wang(desk, staff)
    approve(desk, staff, apply(desk, staff).subscription_id)
    top_up(desk, staff)
    clock.advance(timedelta(days=23))
    june = date(2026, 6, 1)
    total_parking_fees(desk, staff.clerk, june)
    report = current_parking_report(desk, staff.guard, june, None)
    assert report.fees_total_fen == 30000 and report.usage is None

    class NoEvents:
        def granted_card_events(self, *args: object) -> list[tuple[str, str, str, float, int]]:
            return []

    add_parking_usage(desk, staff.guard, june, NoEvents())
    with pytest.raises(UnavailableError):
        current_parking_report(desk, staff.clerk, june, None)
    report = current_parking_report(desk, staff.clerk, june, NoEvents())
    assert report.usage == () and [p.card_uid for p in report.paid_not_used] == ["04A1B2C3"]
