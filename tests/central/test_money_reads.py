"""The reads the money pages show: receipts filtered (dates, unit, household, item, void)
with what corrects what, the register filtered (action, card either side of a replacement,
unit, household), a household's fees, a top-up's preview (refused for a lost card, L1,
as the top-up is), and an amount written out in capitals."""

from __future__ import annotations

from datetime import date

import pytest

from central.amounts import capital_yuan
from central.models import ReceiptItem, RegisterAction
from central.refusals import NotFoundError, RuleRefused
from central.services.context import Desk
from central.services.fees import ChargeFee, PayFees, charge_fee, household_fees, pay_fees
from central.services.loss import ReportLoss, report_lost
from central.services.receipt_book import (
    ReceiptFilter,
    ReceiptState,
    find_receipts,
    receipt_view,
)
from central.services.receipts import VoidReceipt, void_receipt
from central.services.register_book import RegisterFilter, find_register
from central.services.stored_value import TopUpCard, top_up_card, top_up_preview

from .conftest import Staffs, household_of, person, signed
from .helpers import issue_wang


def _fee(desk: Desk, staff: Staffs, yuan: str) -> int:
    household = household_of(desk, "王建国")
    fee = charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household, "kind": "management", "amount_yuan": yuan,
        "due_on": "2026-06-30"}))
    return pay_fees(desk, staff.clerk, PayFees.from_form({
        "household_id": household, "fee_ids": [fee], "payer_name": "王建国"}))


def test_receipts_are_filtered_newest_first(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)  # receipt 1: the card fee (I2)
    paid = _fee(desk, staff, "100")
    wrong = _fee(desk, staff, "50")
    void_receipt(desk, staff.director, VoidReceipt.from_form({
        "number": wrong, "reason": "收错", "corrected": [{
            "item": "fee_settlement", "amount_yuan": "45"}]}))
    every = find_receipts(desk, staff.clerk, ReceiptFilter())
    assert [r.number for r in every] == [wrong + 1, wrong, paid, 1]
    corrected, voided = every[0], every[1]
    assert corrected.replaces == wrong and voided.replaced_by == wrong + 1
    assert voided.is_void and voided.void_reason == "收错" and voided.voided_by == "director"
    assert corrected.unit == "1-1201" and corrected.clerk == "director"

    def numbers(**f: object) -> list[int]:
        return [r.number for r in find_receipts(desk, staff.clerk,
                                                 ReceiptFilter.from_form(f))]
    assert numbers(state="void") == [wrong]
    assert numbers(state=ReceiptState.STANDING.value) == [wrong + 1, paid, 1]
    assert numbers(item=ReceiptItem.CARD_FEE.value) == [1]
    assert numbers(unit="1-1201", before=wrong) == [paid, 1]
    assert numbers(unit="2-0101") == []
    assert numbers(household_id=household_of(desk, "王建国"), until="2026-06-08") == []
    assert numbers(since="2026-06-09", until="2026-06-09") == [wrong + 1, wrong, paid, 1]
    assert receipt_view(desk, staff.clerk, paid).lines[0].amount_fen == 10000
    with pytest.raises(NotFoundError):
        receipt_view(desk, staff.clerk, 99)


def test_a_filter_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(Exception, match="before the start"):
        ReceiptFilter.from_form({"since": "2026-06-09", "until": "2026-06-01"})
    with pytest.raises(Exception, match="before the start"):
        RegisterFilter.from_form({"since": "2026-06-09", "until": "2026-06-01"})


def test_the_register_is_filtered_newest_first(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    wang = person(desk, "王建国")
    report_lost(desk, staff.clerk, ReportLoss.from_form({
        "uid": "04A1B2C3", "reporter_person_id": wang.id, "in_person": True,
        "balance_shown_yuan": "0", "holder_agrees": True, "signoff": signed("王建国")}))

    def actions(**f: object) -> list[RegisterAction]:
        return [e.action for e in find_register(desk, staff.clerk,
                                                RegisterFilter.from_form(f))]
    assert actions() == [RegisterAction.REPORT_LOST, RegisterAction.ISSUE]
    assert actions(action="issue") == [RegisterAction.ISSUE]
    assert actions(card_uid="04:a1:b2:c3", unit="1-1201") == [RegisterAction.REPORT_LOST,
                                                              RegisterAction.ISSUE]
    assert actions(card_uid="0A0B0C0D") == []
    assert actions(household_id=household_of(desk, "王建国"), since="2026-06-10") == []
    line = find_register(desk, staff.clerk, RegisterFilter())[0]
    assert (line.unit, line.holder_name, line.clerk) == ("1-1201", "王建国", "clerk")


def test_a_households_fees_and_a_top_up_preview(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)
    household = household_of(desk, "王建国")
    charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household, "kind": "utilities", "amount_yuan": "85.50",
        "due_on": "2026-07-15"}))
    paid = _fee(desk, staff, "360")
    fees = household_fees(desk, staff.clerk, household)
    assert (fees.unit, fees.householder, fees.unpaid_fen) == ("1-1201", "王建国", 8550)
    assert [f.receipt_number for f in fees.fees] == [paid, None]  # oldest due first
    top_up_card(desk, staff.clerk, TopUpCard.from_form({
        "uid": "04A1B2C3", "amount_yuan": "20", "payer_name": "王建国"}))
    preview = top_up_preview(desk, staff.clerk, "04A1B2C3", 5050)
    assert (preview.balance_fen, preview.new_balance_fen) == (2000, 7050)
    report_lost(desk, staff.clerk, ReportLoss.from_form({
        "uid": "04A1B2C3", "reporter_person_id": person(desk, "王建国").id,
        "in_person": True, "balance_shown_yuan": "20", "holder_agrees": True,
        "signoff": signed("王建国")}))
    with pytest.raises(RuleRefused, match="reported lost"):
        top_up_preview(desk, staff.clerk, "04A1B2C3", 100)


@pytest.mark.parametrize(("fen", "words"), [
    (0, "零元整"), (5, "伍分"), (2000, "贰拾元整"), (36000, "叁佰陆拾元整"),
    (8550, "捌拾伍元伍角整"), (10005, "壹佰元零伍分"), (1000100, "壹万零壹元整"),
    (10000000, "壹拾万元整"), (10000010000, "壹亿零壹佰元整"), (123456, "壹仟贰佰叁拾肆元伍角陆分"),
])
def test_an_amount_in_capitals(fen: int, words: str) -> None:
    assert capital_yuan(fen) == words


def test_dates_of_the_filter_are_calendar_dates() -> None:
    f = ReceiptFilter.from_form({"since": "2026-06-01"})
    assert f.since == date(2026, 6, 1) and f.until is None
