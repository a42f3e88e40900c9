"""The seeds' approval steps, as site settings on by default (issue 9):

- G4, seed 003: the 管家部负责人 (the customer-service lead) approves a goods slip before the
  exit lets the goods out;
- H6, seed 001: the service centre's manager (the director) approves a renovation before its
  workers' cards are lent; seed 004: a non-owner's renovation needs the owner's written
  consent;
- P3, seed 000: the owner unit (业主单位) signs a monthly card's application as well as the
  director, before any month is paid.
"""

# Tests are named after the rule they pin (test_G4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from central.models import (
    ConfirmationMethod,
    Evidence,
    EvidenceKind,
    GoodsReleaseSlip,
    ParkingSubscription,
    RenovationFiling,
    SiteSettings,
)
from central.refusals import ConflictError, RuleRefused
from central.services.context import Desk
from central.services.goods import (
    IssueGoodsSlip,
    RecordGoodsExit,
    approve_goods_slip,
    issue_goods_slip,
    record_goods_exit,
)
from central.services.parking import TopUpParking, top_up_parking
from central.services.renovation import (
    FileRenovation,
    IssueWorkerCards,
    file_renovation,
    issue_worker_cards,
)
from central.services.renovation_approval import approve_renovation

from .conftest import NOW, Staffs, household_of, person, row_counts, sign, signed
from .helpers import apply, approve, issue_wang, owner_unit_approves


def setting(desk: Desk, name: str, value: bool) -> None:
    with desk.sessions.begin() as s:
        setattr(s.scalars(select(SiteSettings)).one(), name, value)


def refused(call: Any, *args: Any, **kwargs: Any) -> RuleRefused:
    with pytest.raises(RuleRefused) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------ G4, seed 003


def slip(desk: Desk, staff: Staffs, by: Any = None) -> int:
    return issue_goods_slip(desk, by or staff.clerk, IssueGoodsSlip.from_form({
        "household_id": household_of(desk, "王建国"),
        "applicant_person_id": person(desk, "王建国").id, "carrier_name": "搬家公司 李师傅",
        "items": "沙发一套", "valid_on": "2026-06-09"}))


def let_out(desk: Desk, staff: Staffs, number: int) -> Any:
    return record_goods_exit(desk, staff.guard, RecordGoodsExit(number, "main-gate", True, True,
                                                                sign("guard")))


def test_G4_slip_approved_by_the_customer_service_lead_before_the_exit(
        desk: Desk, staff: Staffs) -> None:
    number = slip(desk, staff)
    before = row_counts(desk)
    unapproved = refused(let_out, desk, staff, number)
    assert (unapproved.rule_id, unapproved.field) == ("G4", "number")
    for actor in (staff.clerk, staff.front_desk_lead, staff.director, staff.guard):
        assert refused(approve_goods_slip, desk, actor, number).rule_id == "G4"
    own = slip(desk, staff, staff.customer_service_lead)
    assert refused(approve_goods_slip, desk, staff.customer_service_lead, own).rule_id == "G4"
    assert row_counts(desk) == {**before, "goods_release_slips": 2, "applications": 2}
    approved_at = approve_goods_slip(desk, staff.customer_service_lead, number)
    with desk.sessions() as s:
        stored = s.scalars(select(GoodsReleaseSlip).where(
            GoodsReleaseSlip.number == number)).one()
        assert stored.approved_by_staff_id == staff.customer_service_lead.staff_id
        assert stored.approved_at == approved_at == NOW
    with pytest.raises(ConflictError):
        approve_goods_slip(desk, staff.customer_service_lead, number)
    let_out(desk, staff, number)


def test_G4_approval_is_a_site_setting(desk: Desk, staff: Staffs) -> None:
    setting(desk, "goods_slip_approval", False)
    let_out(desk, staff, slip(desk, staff))


# ------------------------------------------------------------------ H6, seeds 001 and 004


CONTRACTOR = {"name": "美家装饰公司", "lead_name": "黄师傅", "lead_phone": "13900000001"}


def filing(desk: Desk, staff: Staffs, who: str = "王建国", **extra: Any) -> Any:
    return file_renovation(desk, staff.clerk, FileRenovation.from_form({
        "household_id": household_of(desk, who), "applicant_person_id": person(desk, who).id,
        "starts_on": "2026-06-09", "ends_on": "2026-09-08", "contractor": CONTRACTOR,
        **extra}))


def lend(desk: Desk, staff: Staffs, filing_id: int) -> Any:
    return issue_worker_cards(desk, staff.clerk, IssueWorkerCards.from_form({
        "filing_id": filing_id, "lines": [{
            "uid": "0D0D0D01", "worker": {"name": "刘工", "id_number": "360102199001011234"},
            "signoff": signed("刘工")}]}))


def test_H6_manager_approves_the_renovation_before_workers_cards(desk: Desk,
                                                                 staff: Staffs) -> None:
    filed = filing(desk, staff)
    assert not filed.approved
    before = row_counts(desk)
    early = refused(lend, desk, staff, filed.filing_id)
    assert (early.rule_id, early.field) == ("H6", "filing_id")
    for actor in (staff.clerk, staff.front_desk_lead, staff.customer_service_lead):
        assert refused(approve_renovation, desk, actor, filed.filing_id).rule_id == "H6"
    assert row_counts(desk) == before
    approved_at = approve_renovation(desk, staff.director, filed.filing_id)
    with desk.sessions() as s:
        stored = s.get(RenovationFiling, filed.filing_id)
        assert stored is not None and stored.approved_at == approved_at
        assert stored.approved_by_staff_id == staff.director.staff_id
    lend(desk, staff, filed.filing_id)


def test_H6_manager_approval_is_a_site_setting(desk: Desk, staff: Staffs) -> None:
    setting(desk, "renovation_manager_approval", False)
    filed = filing(desk, staff)
    assert filed.approved
    lend(desk, staff, filed.filing_id)


def owners_consent(desk: Desk, method: str = "document") -> dict[str, Any]:
    return {"owner_person_id": person(desk, "陈国强").id, "method": method,
            "confirmed_at": "2026-06-09T09:00:00+08:00", "reference": "业主同意装修书面证明 06-09"}


def test_H6_tenants_renovation_with_the_owners_written_consent(desk: Desk,
                                                                staff: Staffs) -> None:
    before = row_counts(desk)
    missing = refused(filing, desk, staff, "赵磊")
    assert (missing.rule_id, missing.field) == ("H6", "owner_consent")
    by_phone = refused(filing, desk, staff, "赵磊", owner_consent=owners_consent(desk, "phone"))
    assert (by_phone.rule_id, by_phone.field) == ("H6", "owner_consent.method")
    assert row_counts(desk) == before
    filed = filing(desk, staff, "赵磊", owner_consent=owners_consent(desk))
    with desk.sessions() as s:
        kept = s.scalars(select(Evidence).where(
            Evidence.kind == EvidenceKind.OWNER_CONSENT)).one()
        assert kept.confirmed_by_person_id == person(desk, "陈国强").id
        assert kept.method is ConfirmationMethod.DOCUMENT
        stored = s.get(RenovationFiling, filed.filing_id)
        assert stored is not None and stored.household_id == household_of(desk, "赵磊")


# ------------------------------------------------------------------ P3, seed 000


def pay(desk: Desk, staff: Staffs) -> Any:
    return top_up_parking(desk, staff.clerk, TopUpParking.from_form({"uid": "04A1B2C3",
                                                                    "months": 1}))


def test_P3_owner_unit_approves_monthly_cards_too(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    sub_id = apply(desk, staff).subscription_id
    approve(desk, staff, sub_id, owner_unit=False)  # the director's alone
    before = row_counts(desk)
    unsigned = refused(pay, desk, staff)
    assert (unsigned.rule_id, unsigned.field) == ("P3", "uid")
    assert row_counts(desk) == before
    owner_unit_approves(desk, staff, sub_id)
    with desk.sessions() as s:
        sub = s.get(ParkingSubscription, sub_id)
        assert sub is not None and sub.owner_unit_signer == "业主单位 行政部 林"
        assert sub.owner_unit_reference == "车位使用申请表 2026-061"
        assert sub.owner_unit_signed_at is not None
        assert sub.owner_unit_recorded_by_staff_id == staff.clerk.staff_id
    with pytest.raises(ConflictError):
        owner_unit_approves(desk, staff, sub_id)
    assert pay(desk, staff).amount_fen == 30_000


def test_P3_owner_unit_approval_is_a_site_setting(desk: Desk, staff: Staffs) -> None:
    setting(desk, "parking_owner_unit_approval", False)
    issue_wang(desk, staff)
    approve(desk, staff, apply(desk, staff).subscription_id, owner_unit=False)
    assert pay(desk, staff).amount_fen == 30_000
