"""Rule G4: goods release slips (no unpaid fees; a tenant's needs the owner's consent; the
guard checks, records the time and signs; filed by 08:30 the next day) and the long-term
goods pass (one year)."""

# Tests are named after the rule they pin (test_G4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from central.clock import FixedClock
from central.models import Evidence, EvidenceKind, GoodsReleaseSlip
from central.refusals import RuleRefused
from central.services.context import Desk
from central.services.fees import ChargeFee, PayFees, charge_fee, pay_fees
from central.services.goods import (
    IssueGoodsPass,
    IssueGoodsSlip,
    RecordGoodsExit,
    approve_goods_slip,
    file_goods_slips,
    filing_deadline,
    issue_goods_pass,
    issue_goods_slip,
    overdue_goods_slips,
    record_goods_exit,
)

from .conftest import Staffs, household_of, person, row_counts, signed


def slip_form(desk: Desk, who: str = "王建国", **extra: Any) -> dict[str, Any]:
    form = {"household_id": household_of(desk, who), "applicant_person_id": person(desk, who).id,
            "carrier_name": "搬家公司 李师傅", "items": "沙发一套，冰箱一台",
            "valid_on": "2026-06-09"}
    form.update(extra)
    return form


def issue(desk: Desk, staff: Staffs, who: str = "王建国", *, approved: bool = True,
          **extra: Any) -> int:
    """A slip issued by the clerk and, unless ``approved`` is false, approved by the
    customer-service lead (seed 003's 管家部负责人)."""
    number = issue_goods_slip(desk, staff.clerk, IssueGoodsSlip.from_form(
        slip_form(desk, who, **extra)))
    if approved:
        approve_goods_slip(desk, staff.customer_service_lead, number)
    return number


def let_out(desk: Desk, staff: Staffs, number: int, **extra: Any) -> datetime:
    form = {"number": number, "gate_code": "main-gate", "items_match": True,
            "carrier_matches": True, "guard_signoff": signed("guard")}
    form.update(extra)
    return record_goods_exit(desk, staff.guard, RecordGoodsExit.from_form(form))


def consent(desk: Desk, owner: str = "陈国强", **extra: str) -> dict[str, Any]:
    return {"owner_person_id": person(desk, owner).id, "method": "document",
            "confirmed_at": "2026-06-09T09:40:00+08:00", "reference": "业主同意书 2026-0609",
            **extra}


def test_G4_no_slip_while_the_household_owes_fees(desk: Desk, staff: Staffs) -> None:
    household = household_of(desk, "王建国")
    fee = charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household, "kind": "management", "amount_yuan": "350",
        "due_on": "2026-05-31"}))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff)
    assert refused.value.rule_id == "G4" and "350.00" in refused.value.message_en
    assert row_counts(desk) == before
    pay_fees(desk, staff.clerk, PayFees.from_form({"household_id": household, "fee_ids": [fee],
                                                   "payer_name": "王建国"}))
    assert issue(desk, staff) == 1
    assert issue(desk, staff) == 2  # numbered in sequence per site


def test_G4_tenants_slip_needs_the_owners_consent(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, "赵磊")
    assert refused.value.rule_id == "G4" and refused.value.field == "owner_consent"
    with pytest.raises(RuleRefused) as not_the_owner:
        issue(desk, staff, "赵磊", owner_consent=consent(desk, "王建国"))  # another unit's owner
    assert not_the_owner.value.rule_id == "G4"
    assert row_counts(desk) == before
    issue(desk, staff, "赵磊", owner_consent=consent(desk))
    with desk.sessions() as s:
        evidence = s.scalars(select(Evidence).where(
            Evidence.kind == EvidenceKind.OWNER_CONSENT)).one()
        assert evidence.confirmed_by_person_id == person(desk, "陈国强").id


def test_G4_guard_checks_records_the_time_and_signs(desk: Desk, staff: Staffs) -> None:
    number = issue(desk, staff)
    before = row_counts(desk)
    for bad in ({"items_match": False}, {"carrier_matches": False}, {"guard_signoff": None}):
        with pytest.raises(RuleRefused) as refused:
            let_out(desk, staff, number, **bad)
        assert refused.value.rule_id == "G4"
    with pytest.raises(RuleRefused) as not_a_guard:  # the exit is the guard's (G4)
        record_goods_exit(desk, staff.clerk, RecordGoodsExit(number, "main-gate", True, True,
                                                             None))
    assert not_a_guard.value.rule_id == "G4"
    assert row_counts(desk) == before
    left = let_out(desk, staff, number)
    with desk.sessions() as s:
        slip = s.scalars(select(GoodsReleaseSlip)).one()
        assert slip.left_at == left and slip.guard_signed
        assert slip.guard_staff_id == staff.guard.staff_id


def test_G4_slip_is_for_its_own_day(desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    number = issue(desk, staff, valid_on="2026-06-10")
    with pytest.raises(RuleRefused) as refused:
        let_out(desk, staff, number)
    assert refused.value.rule_id == "G4"
    clock.set(datetime(2026, 6, 10, 2, 0, tzinfo=UTC))
    let_out(desk, staff, number)


def test_G4_slips_are_filed_by_0830_the_next_day(desk: Desk, staff: Staffs,
                                                 clock: FixedClock) -> None:
    first, second = issue(desk, staff), issue(desk, staff)
    let_out(desk, staff, first)
    let_out(desk, staff, second)
    due = datetime(2026, 6, 10, 0, 30, tzinfo=UTC)  # 08:30 on 10 June in Shanghai
    clock.set(due)
    assert overdue_goods_slips(desk, staff.clerk) == ()
    [on_time] = file_goods_slips(desk, staff.clerk, (first,))
    assert on_time.due_at == due and not on_time.late
    clock.set(datetime(2026, 6, 10, 0, 31, tzinfo=UTC))
    [overdue] = overdue_goods_slips(desk, staff.clerk)
    assert overdue.number == second
    [late] = file_goods_slips(desk, staff.clerk, (second,))
    assert late.late
    assert overdue_goods_slips(desk, staff.clerk) == ()


def test_G4_filing_deadline_in_the_site_time_zone() -> None:
    # Goods leaving at 23:50 local on 9 June (15:50 UTC) are filed by 08:30 on 10 June.
    left = datetime(2026, 6, 9, 15, 50, tzinfo=UTC)
    assert filing_deadline(left, "Asia/Shanghai", "08:30") == datetime(2026, 6, 10, 0, 30,
                                                                        tzinfo=UTC)
    # 00:10 local on 10 June is still 9 June in UTC: the deadline is 08:30 on 11 June.
    after_midnight = datetime(2026, 6, 9, 16, 10, tzinfo=UTC)
    assert filing_deadline(after_midnight, "Asia/Shanghai", "08:30") == datetime(
        2026, 6, 11, 0, 30, tzinfo=UTC)


def test_G4_long_term_goods_pass_lasts_one_year(desk: Desk, staff: Staffs) -> None:
    wang = person(desk, "王建国")
    _pass_id, until = issue_goods_pass(desk, staff.clerk, IssueGoodsPass.from_form(
        {"person_id": wang.id, "id_number_presented": wang.id_number}))
    assert until == date(2027, 6, 8)
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as wrong_id:
        issue_goods_pass(desk, staff.clerk, IssueGoodsPass(wang.id, "110101199003071234"))
    assert wrong_id.value.rule_id == "G4"
    before["id_check_failures"] += 1  # the mismatch is kept for the director (id_checks.py)
    with pytest.raises(RuleRefused) as not_resident:
        issue_goods_pass(desk, staff.clerk, IssueGoodsPass(person(desk, "周静").id, "x"))
    assert not_resident.value.rule_id == "G4"
    assert row_counts(desk) == before
