"""Rule H4 on every path that authorises a staff card — issue and renewal and grants are in
test_holders.py; here the replacement of a lost staff card and parking on a staff card,
which a clerk could do until the services checked them (issue 9)."""

# Tests are named after the rule they pin (test_H4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from central.models import CardState, LossReport
from central.refusals import RuleRefused
from central.services.context import Desk
from central.services.loss import (
    ReplaceCard,
    ReportLoss,
    ReviewLoss,
    replace_card,
    report_lost,
    review_loss,
)
from central.services.other_cards import IssueStaffCard, issue_staff_card
from central.services.parking import ApplyParking, TopUpParking, apply_parking, top_up_parking

from .conftest import Staffs, card, person, row_counts, signed
from .helpers import approve, documents

STAFF_UID = "0C0C0C01"


def issue_sun(desk: Desk, staff: Staffs, uid: str = STAFF_UID) -> None:
    """孙伟 (工程部) gets a staff card from the front-desk lead."""
    issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form({
        "uid": uid, "holder_person_id": person(desk, "孙伟").id,
        "written_application_ref": "工程部申请 2026-06-01",
        "department_head": {"name": "工程部经理 钱"}, "holder_signoff": signed("孙伟"),
        "access_groups": ["common", "b1"]}))


def parking_form(desk: Desk, **card_choice: str) -> dict[str, Any]:
    return {"holder_person_id": person(desk, "孙伟").id, "plate": "粤B 77777",
            "documents": documents(desk, "孙伟", id_number_presented="440301198001019999"),
            **card_choice}


def test_H4_clerk_cannot_replace_a_lost_staff_card(desk: Desk, staff: Staffs) -> None:
    issue_sun(desk, staff)
    report_lost(desk, staff.clerk, ReportLoss.from_form({
        "uid": STAFF_UID, "reporter_person_id": person(desk, "孙伟").id, "in_person": True,
        "balance_shown_yuan": "0", "holder_agrees": True, "signoff": signed("孙伟")}))
    with desk.sessions() as s:
        report_id = s.scalars(select(LossReport.id)).one()
    review_loss(desk, staff.director, ReviewLoss(report_id, True))
    form = {"old_uid": STAFF_UID, "new_uid": "0C0C0C02", "balance_checked_yuan": "0",
            "signoff": signed("孙伟")}
    before = row_counts(desk)
    for actor in (staff.clerk, staff.director):
        with pytest.raises(RuleRefused) as refused:
            replace_card(desk, actor, ReplaceCard.from_form(form))
        assert refused.value.rule_id == "H4"
        assert "front-desk lead or the customer-service lead" in refused.value.message_en
    assert row_counts(desk) == before
    replace_card(desk, staff.customer_service_lead, ReplaceCard.from_form(form))
    assert card(desk, "0C0C0C02").state is CardState.ACTIVE


def test_H4_clerk_cannot_put_parking_on_a_staff_card(desk: Desk, staff: Staffs) -> None:
    issue_sun(desk, staff)
    before = row_counts(desk)
    for choice in ({"existing_uid": STAFF_UID},
                   {"new_uid": "0C0C0C09", "holder_signoff": signed("孙伟")}):
        for actor in (staff.clerk, staff.director):
            with pytest.raises(RuleRefused) as refused:
                apply_parking(desk, actor, ApplyParking.from_form(parking_form(desk, **choice)))
            assert refused.value.rule_id == "H4", choice
    assert row_counts(desk) == before
    applied = apply_parking(desk, staff.front_desk_lead, ApplyParking.from_form(
        parking_form(desk, existing_uid=STAFF_UID)))
    assert applied.card_uid == STAFF_UID


def test_H4_clerk_cannot_pay_parking_months_on_a_staff_card(desk: Desk, staff: Staffs) -> None:
    issue_sun(desk, staff)
    applied = apply_parking(desk, staff.front_desk_lead, ApplyParking.from_form(
        parking_form(desk, existing_uid=STAFF_UID)))
    approve(desk, staff, applied.subscription_id)
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        top_up_parking(desk, staff.clerk, TopUpParking.from_form({"uid": STAFF_UID,
                                                                 "months": 1}))
    assert refused.value.rule_id == "H4"
    assert row_counts(desk) == before
    paid = top_up_parking(desk, staff.customer_service_lead,
                          TopUpParking.from_form({"uid": STAFF_UID, "months": 1}))
    assert paid.uid == STAFF_UID
