"""Rule G4 as strict as the seeds (issue 9): anyone but an owner brings the current owner's
written consent (seed 002: 业主签确同意; seed 001: 盖有业主签章的书面资料; seed 003: 非业主…需经
业主认可), and arrears are the unit's overdue fees, whoever's household record they sit on
(seed 003: 查看是否拖欠物业管理费、水电费)."""

# Tests are named after the rule they pin (test_G4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from central.models import ConfirmationMethod, Evidence, EvidenceKind
from central.refusals import RuleRefused
from central.services.context import Desk
from central.services.fees import ChargeFee, PayFees, charge_fee, pay_fees
from central.services.goods import IssueGoodsSlip, issue_goods_slip

from .conftest import Staffs, household_of, person, row_counts


def slip(desk: Desk, staff: Staffs, who: str, **extra: Any) -> int:
    """A slip for ``who``'s household, applied for by ``who``, for today."""
    return issue_goods_slip(desk, staff.clerk, IssueGoodsSlip.from_form({
        "household_id": household_of(desk, who), "applicant_person_id": person(desk, who).id,
        "carrier_name": "搬家公司 李师傅", "items": "沙发一套", "valid_on": "2026-06-09",
        **extra}))


def consent(desk: Desk, owner: str, **extra: Any) -> dict[str, Any]:
    form = {"owner_person_id": person(desk, owner).id, "method": "document",
            "confirmed_at": "2026-06-09T09:40:00+08:00", "reference": "业主同意书 2026-0609"}
    form.update(extra)
    return {k: v for k, v in form.items() if v is not None}


def refused(desk: Desk, staff: Staffs, who: str, **extra: Any) -> RuleRefused:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as caught:
        slip(desk, staff, who, **extra)
    assert row_counts(desk) == before
    return caught.value


def fee(desk: Desk, staff: Staffs, who: str, due_on: str) -> int:
    return charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household_of(desk, who), "kind": "management",
        "amount_yuan": "350", "due_on": due_on}))


def test_G4_tenants_consent_is_written_not_by_phone(desk: Desk, staff: Staffs) -> None:
    by_phone = refused(desk, staff, "赵磊", owner_consent=consent(desk, "陈国强", method="phone"))
    assert (by_phone.rule_id, by_phone.field) == ("G4", "owner_consent.method")
    no_paper = refused(desk, staff, "赵磊", owner_consent=consent(desk, "陈国强",
                                                               reference=None))
    assert (no_paper.rule_id, no_paper.field) == ("G4", "owner_consent.reference")
    slip(desk, staff, "赵磊", owner_consent=consent(desk, "陈国强", method="sealed"))
    with desk.sessions() as s:
        kept = s.scalars(select(Evidence).where(
            Evidence.kind == EvidenceKind.OWNER_CONSENT)).one()
        assert kept.confirmed_by_person_id == person(desk, "陈国强").id
        assert kept.method is ConfirmationMethod.SEALED
        assert kept.reference == "业主同意书 2026-0609"
        assert kept.confirmed_at is not None
        assert kept.confirmed_at.isoformat() == "2026-06-09T01:40:00+00:00"


def test_G4_family_member_needs_the_owners_written_consent(desk: Desk, staff: Staffs) -> None:
    missing = refused(desk, staff, "张丽")  # 王建国's wife: 非业主
    assert (missing.rule_id, missing.field) == ("G4", "owner_consent")
    other_unit = refused(desk, staff, "张丽", owner_consent=consent(desk, "陈国强"))
    assert (other_unit.rule_id, other_unit.field) == ("G4", "owner_consent.owner_person_id")
    assert slip(desk, staff, "张丽", owner_consent=consent(desk, "王建国")) == 1
    assert slip(desk, staff, "王建国") == 2  # the owner needs nobody's consent


def test_G4_owners_arrears_block_the_tenants_slip(desk: Desk, staff: Staffs) -> None:
    owed = fee(desk, staff, "陈国强", "2026-05-31")  # on the owner's household record
    arrears = refused(desk, staff, "赵磊", owner_consent=consent(desk, "陈国强"))
    assert arrears.rule_id == "G4" and "350.00" in arrears.message_en
    assert "2026-05-31" in arrears.message_en
    pay_fees(desk, staff.clerk, PayFees.from_form({
        "household_id": household_of(desk, "陈国强"), "fee_ids": [owed],
        "payer_name": "陈国强"}))
    slip(desk, staff, "赵磊", owner_consent=consent(desk, "陈国强"))


def test_G4_tenants_arrears_block_the_owners_slip(desk: Desk, staff: Staffs) -> None:
    fee(desk, staff, "赵磊", "2026-06-01")
    assert refused(desk, staff, "陈国强").rule_id == "G4"


def test_G4_a_fee_not_yet_due_is_no_arrear(desk: Desk, staff: Staffs) -> None:
    fee(desk, staff, "王建国", "2026-06-30")
    fee(desk, staff, "王建国", "2026-06-09")  # due today: not yet overdue
    assert slip(desk, staff, "王建国") == 1
    fee(desk, staff, "王建国", "2026-06-08")
    assert refused(desk, staff, "王建国").rule_id == "G4"
