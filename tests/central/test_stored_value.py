"""Stored value on a card (消费余额): top-up with a receipt (I7), spending never beyond the
balance (V1), carried to a replacement (L2), a voided top-up taken back (I7). The balance
is the append-only ledger's sum; the card's column never holds anything else."""

# Tests are named after the rule they pin (test_I7_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from central.db import ImmutableRecordError
from central.models import BalanceEntry, BalanceMovement, Card, CardState, ReceiptItem
from central.refusals import ConflictError, PermissionDeniedError, RuleRefused
from central.services.card_changes import CardAction, card_summary, format_card
from central.services.context import Desk, action
from central.services.receipts import VoidReceipt, void_receipt
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.stored_value import (
    SpendFromCard,
    TopUpCard,
    spend_from_card,
    top_up_card,
)

from .conftest import Staffs, application, card, owner_line, receipts, row_counts, sign

UID = "04A1B2C3"


@pytest.fixture
def issued(desk: Desk, staff: Staffs) -> None:
    """王建国's card, nothing on it."""
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(application(
        desk, "王建国", [owner_line(desk, UID, "王建国")])))


def ledger(desk: Desk, uid: str = UID) -> list[tuple[BalanceMovement, int, int]]:
    with desk.sessions() as s:
        return [(e.movement, e.amount_fen, e.balance_after_fen) for e in s.scalars(
            select(BalanceEntry).join(Card, Card.id == BalanceEntry.card_id)
            .where(Card.uid == uid).order_by(BalanceEntry.id))]


def balance(desk: Desk, staff: Staffs, uid: str = UID) -> int:
    """The balance every view shows; checked against the ledger's sum each time."""
    shown = card_summary(desk, staff.clerk, uid).balance_fen
    assert shown == card(desk, uid).balance_fen == sum(a for _, a, _ in ledger(desk, uid))
    return shown


@pytest.mark.usefixtures("issued")
def test_I7_top_up_takes_money_with_a_receipt_naming_the_card(desk: Desk,
                                                              staff: Staffs) -> None:
    assert balance(desk, staff) == 0
    done = top_up_card(desk, staff.clerk, TopUpCard.from_form(
        {"uid": "04:a1:b2:c3", "amount_yuan": "50", "payer_name": "王建国"}))
    assert (done.uid, done.amount_fen, done.balance_fen) == (UID, 5000, 5000)
    (receipt,) = receipts(desk)[-1:]
    assert receipt.number == done.receipt_number and receipt.amount_fen == 5000
    assert [(ln.item, ln.card_uid, ln.amount_fen) for ln in receipt.lines] == [
        (ReceiptItem.STORED_VALUE, UID, 5000)]
    top_up_card(desk, staff.clerk, TopUpCard(UID, 1250, "王建国"))
    assert balance(desk, staff) == 6250
    assert ledger(desk) == [(BalanceMovement.TOP_UP, 5000, 5000),
                            (BalanceMovement.TOP_UP, 1250, 6250)]
    with pytest.raises(PermissionDeniedError):  # the booth spends, the desk takes money
        top_up_card(desk, staff.guard, TopUpCard(UID, 100, "王建国"))


@pytest.mark.usefixtures("issued")
def test_V1_spending_never_goes_beyond_the_balance(desk: Desk, staff: Staffs) -> None:
    top_up_card(desk, staff.clerk, TopUpCard(UID, 1000, "王建国"))
    spent = spend_from_card(desk, staff.guard, SpendFromCard.from_form(
        {"uid": UID, "amount_yuan": "6", "purpose": "临时停车 2 小时"}))
    assert (spent.amount_fen, spent.balance_fen, spent.receipt_number) == (600, 400, None)
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        spend_from_card(desk, staff.clerk, SpendFromCard(UID, 401, "临时停车"))
    assert (refused.value.rule_id, refused.value.field) == ("V1", "amount_yuan")
    assert row_counts(desk) == before
    spend_from_card(desk, staff.clerk, SpendFromCard(UID, 400, "临时停车"))
    assert balance(desk, staff) == 0
    with desk.sessions() as s:
        spender = s.scalars(select(BalanceEntry.staff_id).where(
            BalanceEntry.movement == BalanceMovement.SPEND).order_by(BalanceEntry.id)).first()
    assert spender == staff.guard.staff_id
    with pytest.raises(PermissionDeniedError):
        spend_from_card(desk, staff.admin, SpendFromCard(UID, 1, "x"))


@pytest.mark.usefixtures("issued")
def test_I7_voiding_a_top_up_takes_it_back_and_the_corrected_receipt_puts_it_on(
        desk: Desk, staff: Staffs) -> None:
    wrong = top_up_card(desk, staff.clerk, TopUpCard(UID, 5000, "王建国"))  # meant 30
    assert wrong.receipt_number is not None
    result = void_receipt(desk, staff.front_desk_lead, VoidReceipt.from_form({
        "number": wrong.receipt_number, "reason": "金额录错", "corrected": [
            {"item": "stored_value", "amount_yuan": "30", "card_uid": UID}]}))
    assert result.replacement == wrong.receipt_number + 1
    assert ledger(desk) == [(BalanceMovement.TOP_UP, 5000, 5000),
                            (BalanceMovement.TOP_UP_VOIDED, -5000, 0),
                            (BalanceMovement.TOP_UP, 3000, 3000)]
    assert balance(desk, staff) == 3000
    # Once spent, a top-up cannot be voided: the money is gone from the card.
    spend_from_card(desk, staff.guard, SpendFromCard(UID, 2000, "临时停车"))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        void_receipt(desk, staff.front_desk_lead, VoidReceipt(result.replacement or 0, "x"))
    assert refused.value.rule_id == "V1"
    assert row_counts(desk) == before
    with pytest.raises(Exception, match="names the card"):
        VoidReceipt.from_form({"number": 1, "reason": "x", "corrected": [
            {"item": "stored_value", "amount_yuan": "1"}]})


@pytest.mark.usefixtures("issued")
def test_L1_a_lost_card_neither_takes_nor_gives_money(desk: Desk, staff: Staffs) -> None:
    top_up_card(desk, staff.clerk, TopUpCard(UID, 500, "王建国"))
    with action(desk) as act:  # as report_lost leaves it (tests/central/test_loss.py)
        act.session.scalars(select(Card).where(Card.uid == UID)).one().state = CardState.LOST
    with pytest.raises(RuleRefused) as no_spend:
        spend_from_card(desk, staff.guard, SpendFromCard(UID, 1, "x"))
    with pytest.raises(RuleRefused) as no_top_up:
        top_up_card(desk, staff.clerk, TopUpCard(UID, 1, "王建国"))
    assert no_spend.value.rule_id == no_top_up.value.rule_id == "L1"
    with pytest.raises(ConflictError):  # formatting it for re-use would hand the money on
        format_card(desk, staff.clerk, CardAction(UID, "x", sign("王建国")))


@pytest.mark.usefixtures("issued")
def test_the_balance_column_never_leaves_the_ledger(desk: Desk, staff: Staffs) -> None:
    top_up_card(desk, staff.clerk, TopUpCard(UID, 500, "王建国"))
    with desk.engine.begin() as conn, pytest.raises(IntegrityError, match="sum of its ledger"):
        conn.execute(text("UPDATE cards SET balance_fen = 99999 WHERE uid = :uid"),
                     {"uid": UID})
    with pytest.raises(IntegrityError, match="sum of its ledger"), action(desk) as act:
        act.session.scalars(select(Card).where(Card.uid == UID)).one().balance_fen = 0
    with pytest.raises(ImmutableRecordError), action(desk) as act:
        act.session.scalars(select(BalanceEntry)).one().amount_fen = 99999
    with desk.engine.begin() as conn, pytest.raises(IntegrityError, match="never changed"):
        conn.execute(text("UPDATE card_balance_entries SET amount_fen = 99999"))
    assert balance(desk, staff) == 500
