"""Rules L1–L3 and I3: reporting a card lost or damaged, the director's review, the
replacement and what it costs."""

# Tests are named after the rule they pin (test_I4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from central.clock import FixedClock
from central.models import CardState, LossReport, ReceiptItem, RegisterAction
from central.refusals import ConflictError, RuleRefused
from central.services.card_changes import card_summary
from central.services.context import Desk
from central.services.loss import (
    ReplaceCard,
    ReportLoss,
    ReviewLoss,
    replace_card,
    report_damaged,
    report_lost,
    review_loss,
)
from central.services.other_cards import IssueStaffCard, issue_staff_card
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.stored_value import TopUpCard, top_up_card

from .conftest import (
    Staffs,
    application,
    auth_log,
    card,
    groups_of,
    owner_line,
    person,
    receipts,
    register,
    row_counts,
    signed,
)

UID, NEW = "04A1B2C3", "04FFEE01"


@pytest.fixture
def issued(desk: Desk, staff: Staffs) -> None:
    """王建国's card with 12.50 yuan on it."""
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(application(
        desk, "王建国", [owner_line(desk, UID, "王建国", access_groups=["common", "b1",
                                                                    "carpark"])])))
    top_up_card(desk, staff.clerk, TopUpCard(UID, 1250, "王建国"))


def loss_form(desk: Desk, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "uid": UID, "reporter_person_id": person(desk, "王建国").id, "in_person": True,
        "balance_shown_yuan": "12.50", "holder_agrees": True, "signoff": signed("王建国")}
    form.update(overrides)
    return form


def replace_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"old_uid": UID, "new_uid": NEW, "balance_checked_yuan": "12.50",
            "signoff": signed("王建国")}
    form.update(overrides)
    return form


def open_report(desk: Desk) -> int:
    with desk.sessions() as s:
        return s.scalars(select(LossReport.id).order_by(LossReport.id.desc())).first() or 0


@pytest.mark.usefixtures("issued")
def test_L1_report_lost_in_person_shows_balance_and_withdraws_everywhere(
        desk: Desk, staff: Staffs) -> None:
    # The desk sees the remaining balance first.
    assert card_summary(desk, staff.clerk, UID).balance_fen == 1250
    before = row_counts(desk)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"reporter_person_id": person(desk, "张丽").id}, "reporter_person_id"),
        ({"in_person": False}, "in_person"),
        ({"balance_shown_yuan": "0"}, "balance_shown_yuan"),
        ({"holder_agrees": False}, "holder_agrees")]
    for change, field in cases:
        with pytest.raises(RuleRefused) as refused:
            report_lost(desk, staff.clerk, ReportLoss.from_form(loss_form(desk, **change)))
        assert (refused.value.rule_id, refused.value.field) == ("L1", field)
    assert row_counts(desk) == before
    seq = auth_log(desk)[-1].seq
    result = report_lost(desk, staff.clerk, ReportLoss.from_form(loss_form(desk)))
    assert result.balance_fen == 1250 and result.compensation_fen == 0
    assert card(desk, UID).state is CardState.LOST
    # Withdrawn at every gate: one new record, lost, no group left on it.
    [entry] = [e for e in auth_log(desk) if e.seq > seq]
    assert entry.uid == UID
    assert '"status":"lost"' in entry.card and '"access_groups":[]' in entry.card
    assert register(desk)[-1].action is RegisterAction.REPORT_LOST
    with pytest.raises(ConflictError):
        report_lost(desk, staff.clerk, ReportLoss.from_form(loss_form(desk)))


@pytest.mark.usefixtures("issued")
def test_L2_replacement_needs_director_review(desk: Desk, staff: Staffs) -> None:
    with pytest.raises(ConflictError, match="not been reported"):
        replace_card(desk, staff.clerk, ReplaceCard.from_form(replace_form()))
    report_lost(desk, staff.clerk, ReportLoss.from_form(loss_form(desk)))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        replace_card(desk, staff.clerk, ReplaceCard.from_form(replace_form()))
    assert refused.value.rule_id == "L2" and "office director" in refused.value.message_en
    # Only the director reviews.
    for actor in (staff.clerk, staff.front_desk_lead, staff.customer_service_lead):
        with pytest.raises(RuleRefused) as refused:
            review_loss(desk, actor, ReviewLoss(open_report(desk), True))
        assert refused.value.rule_id == "L2"
    assert row_counts(desk) == before
    review_loss(desk, staff.director, ReviewLoss(open_report(desk), False, "no ID"))
    with pytest.raises(RuleRefused) as refused:
        replace_card(desk, staff.clerk, ReplaceCard.from_form(replace_form()))
    assert refused.value.rule_id == "L2" and "审核未通过" in refused.value.message_zh


@pytest.mark.usefixtures("issued")
def test_L2_replacement_carries_grants_and_balance_holder_signs(desk: Desk,
                                                                staff: Staffs) -> None:
    report_lost(desk, staff.clerk, ReportLoss.from_form(loss_form(desk)))
    review_loss(desk, staff.director, ReviewLoss.from_form({"report_id": open_report(desk),
                                                            "approved": True}))
    for change, field in (({"balance_checked_yuan": "0"}, "balance_checked_yuan"),
                          ({"signoff": signed("张丽")}, "signoff")):
        with pytest.raises(RuleRefused) as refused:
            replace_card(desk, staff.clerk, ReplaceCard.from_form(replace_form(**change)))
        assert (refused.value.rule_id, refused.value.field) == ("L2", field)
    seq = auth_log(desk)[-1].seq
    result = replace_card(desk, staff.clerk, ReplaceCard.from_form(replace_form()))
    old, new = card(desk, UID), card(desk, NEW)
    assert groups_of(desk, NEW) == ["b1", "carpark", "common"]
    assert groups_of(desk, UID) == []
    assert (new.balance_fen, old.balance_fen, result.balance_fen) == (1250, 0, 1250)
    assert new.valid_until == old.valid_until and new.holder_person_id == old.holder_person_id
    assert new.replaces_card_id == old.id and new.state is CardState.ACTIVE
    assert old.state is CardState.LOST
    # Lost is the holder's fault: 20, on a receipt naming the new card (I2, I3).
    assert result.fee_fen == 2000
    line = receipts(desk)[-1].lines[0]
    assert (line.item, line.card_uid) == (ReceiptItem.REPLACEMENT_FEE, NEW)
    entry = register(desk)[-1]
    assert (entry.action, entry.card_uid, entry.related_card_uid, entry.signed_by) == (
        RegisterAction.REPLACE, NEW, UID, "王建国")
    published = {e.uid: e.card for e in auth_log(desk) if e.seq > seq}
    assert '"status":"active"' in published[NEW]
    assert '"access_groups":["b1","carpark","common"]' in published[NEW]


@pytest.mark.usefixtures("issued")
def test_L2_damaged_card_taken_back(desk: Desk, staff: Staffs) -> None:
    with pytest.raises(RuleRefused) as refused:
        report_damaged(desk, staff.clerk, ReportLoss.from_form(
            loss_form(desk, holder_fault=False)))
    assert (refused.value.rule_id, refused.value.field) == ("L2", "card_taken_back")
    report_damaged(desk, staff.clerk, ReportLoss.from_form(
        loss_form(desk, holder_fault=False, card_taken_back=True)))
    assert card(desk, UID).state is CardState.REVOKED
    assert register(desk)[-1].action is RegisterAction.REPORT_DAMAGED


def _damaged_then_replaced(desk: Desk, staff: Staffs, holder_fault: bool) -> int:
    report_damaged(desk, staff.clerk, ReportLoss.from_form(
        loss_form(desk, holder_fault=holder_fault, card_taken_back=True)))
    review_loss(desk, staff.director, ReviewLoss(open_report(desk), True))
    return replace_card(desk, staff.clerk, ReplaceCard.from_form(replace_form())).fee_fen


@pytest.mark.usefixtures("issued")
def test_I3_free_replacement_within_one_month_of_issue(desk: Desk, staff: Staffs,
                                                       clock: FixedClock) -> None:
    # Issued 9 June: 8 July is still within the month.
    clock.advance(timedelta(days=29))
    assert _damaged_then_replaced(desk, staff, holder_fault=False) == 0
    # Only the issue's card fee and the top-up of the fixture: no replacement fee.
    assert [ln.item for r in receipts(desk) for ln in r.lines] == [
        ReceiptItem.CARD_FEE, ReceiptItem.STORED_VALUE]


@pytest.mark.usefixtures("issued")
def test_I3_replacement_after_one_month_costs_20(desk: Desk, staff: Staffs,
                                                 clock: FixedClock) -> None:
    clock.advance(timedelta(days=30))  # 9 July
    assert _damaged_then_replaced(desk, staff, holder_fault=False) == 2000


@pytest.mark.usefixtures("issued")
def test_I3_holder_damage_costs_20_even_within_the_month(desk: Desk, staff: Staffs) -> None:
    assert _damaged_then_replaced(desk, staff, holder_fault=True) == 2000


def test_L3_lost_staff_card_costs_20(desk: Desk, staff: Staffs) -> None:
    issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form({
        "uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
        "written_application_ref": "申请", "department_head": {"name": "经理"},
        "holder_signoff": signed("孙伟"), "access_groups": ["common"]}))
    result = report_lost(desk, staff.clerk, ReportLoss.from_form({
        "uid": "0C0C0C01", "reporter_person_id": person(desk, "孙伟").id, "in_person": True,
        "balance_shown_yuan": "0", "holder_agrees": True, "signoff": signed("孙伟")}))
    assert result.compensation_fen == 2000 and result.receipt_number == 1
    [receipt] = receipts(desk)
    assert receipt.payer_name == "孙伟"
    assert [(x.item, x.card_uid, x.amount_fen) for x in receipt.lines] == [
        (ReceiptItem.STAFF_CARD_COMPENSATION, "0C0C0C01", 2000)]
    # The replacement itself is free (I2): the holder has paid for the loss.
    review_loss(desk, staff.director, ReviewLoss(open_report(desk), True))
    # A lead, as for every staff card authorisation (H4).
    replaced = replace_card(desk, staff.front_desk_lead, ReplaceCard.from_form({
        "old_uid": "0C0C0C01", "new_uid": "0C0C0C02", "balance_checked_yuan": "0",
        "signoff": signed("孙伟")}))
    assert replaced.fee_fen == 0 and len(receipts(desk)) == 1


def test_L3_staff_card_damaged_not_by_holder_is_free(desk: Desk, staff: Staffs) -> None:
    issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form({
        "uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
        "written_application_ref": "申请", "department_head": {"name": "经理"},
        "holder_signoff": signed("孙伟")}))
    result = report_damaged(desk, staff.clerk, ReportLoss.from_form({
        "uid": "0C0C0C01", "reporter_person_id": person(desk, "孙伟").id, "in_person": True,
        "balance_shown_yuan": "0", "holder_agrees": True, "signoff": signed("孙伟"),
        "holder_fault": False, "card_taken_back": True}))
    assert result.compensation_fen == 0 and receipts(desk) == []
