"""Receipts (rule I7): numbered in sequence per site, dates never backwards, amounts never
altered — a wrong receipt is voided and a new one written. No money without a receipt:
every action that takes money calls ``write_receipt`` in its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Self

from sqlalchemy import select

from central.form_fields import CardUid, Id, Items, Text, Yuan
from central.form_input import FormInput
from central.forms import FormReader
from central.models import Fee, LossReport, PaymentMethod, Receipt, ReceiptItem, ReceiptLine
from central.refusals import ConflictError, NotFoundError, RuleRefused
from central.services.balance_ledger import reverse_top_ups, top_up_from_receipt
from central.services.context import RECEIPT_VOIDERS, Action, Actor, Desk, action

# Items that are the fee of one card: the receipt must name the card (rule I2).
CARD_ITEMS = frozenset({ReceiptItem.CARD_FEE, ReceiptItem.REPLACEMENT_FEE,
                        ReceiptItem.STAFF_CARD_COMPENSATION})
# Lines that name their card: its fees, and money put on it (central/services/stored_value.py).
NAMES_A_CARD = CARD_ITEMS | {ReceiptItem.STORED_VALUE}


@dataclass(frozen=True)
class Charge(FormInput):
    """One line of a receipt; a card's fee or top-up names the card (I2)."""

    item: ReceiptItem
    amount_fen: Annotated[int, Yuan(key="amount_yuan", positive=True)]
    description: Annotated[str, Text()] = ""
    card_uid: CardUid | None = None
    fee_id: Id | None = None

    def cross_check(self, form: FormReader) -> Self:
        """What write_receipt insists on, asked here so the form is answered per field."""
        if form.present("item") and self.item in NAMES_A_CARD and not form.present("card_uid"):
            form.fail("card_uid", "卡的费用或充值须写明卡号（I2）",
                      "a card's fee or top-up names the card (I2)")
        return self


def write_receipt(act: Action, *, payer_name: str, charges: list[Charge], method: PaymentMethod,
                  household_id: int | None = None, person_id: int | None = None,
                  replaces: Receipt | None = None) -> Receipt:
    """Write the next receipt of the action's site, dated today (site-local).

    Refused under rule I7 when the last receipt is dated after today: the clock or the date
    went backwards, and a receipt must never be dated earlier than the one before it.
    """
    if not charges or any(c.amount_fen <= 0 for c in charges):
        raise ValueError("a receipt needs at least one line, each for a positive amount")
    if any(c.item in NAMES_A_CARD and not c.card_uid for c in charges):
        raise ValueError("a card's fee must name the card (rule I2)")
    session = act.session
    last = session.scalars(select(Receipt).where(Receipt.site_id == act.site.id)
                           .order_by(Receipt.number.desc()).limit(1)).first()
    if last is not None and last.issued_on > act.today:
        raise RuleRefused(
            "I7", f"上一张收据（第 {last.number} 号）日期为 {last.issued_on}，"
                  f"晚于今天 {act.today}：收据日期不得倒填，请核对系统时间",
            f"receipt {last.number} is dated {last.issued_on}, after today {act.today}: "
            "receipt dates never go backwards; check the clock")
    receipt = Receipt(
        site_id=act.site.id, number=(last.number + 1) if last is not None else 1,
        issued_on=act.today, issued_at=act.now, payer_name=payer_name,
        household_id=household_id, person_id=person_id,
        amount_fen=sum(c.amount_fen for c in charges), method=method,
        issued_by_staff_id=act.staff.id,
        replaces_receipt_id=replaces.id if replaces is not None else None,
    )
    session.add(receipt)
    for c in charges:
        receipt.lines.append(ReceiptLine(item=c.item, description=c.description,
                                         card_uid=c.card_uid, fee_id=c.fee_id,
                                         amount_fen=c.amount_fen))
    # The receipt and its lines in one flush: callers read its id and number.
    session.flush()
    return receipt


@dataclass(frozen=True)
class VoidReceipt(FormInput):
    """Void receipt ``number``: why, and with ``corrected`` lines, the right one written in
    its place."""

    number: Id
    reason: Annotated[str, Text()]
    corrected: Annotated[tuple[Charge, ...], Items(max=50)] = ()


@dataclass(frozen=True)
class VoidResult:
    """The voided receipt's number and its replacement's, if one was written."""

    voided: int
    replacement: int | None


def void_receipt(desk: Desk, actor: Actor, inp: VoidReceipt) -> VoidResult:
    """Rule I7: mark a receipt void (never alter or delete it) and, when corrected lines are
    given, write a new receipt; what the old one settled moves to the new one, or becomes
    unsettled again. Money it put on a card comes off (refused once spent, V1) and the
    corrected receipt's goes on. Front-desk lead, customer-service lead or director only."""
    with action(desk) as act:
        act.authorise(actor, RECEIPT_VOIDERS)
        old = act.session.scalars(select(Receipt).where(
            Receipt.site_id == act.site.id, Receipt.number == inp.number)).one_or_none()
        if old is None:
            raise NotFoundError(f"没有第 {inp.number} 号收据", f"no receipt number {inp.number}")
        if old.is_void:
            raise ConflictError(f"第 {inp.number} 号收据已作废",
                                f"receipt {inp.number} is already void")
        old.voided_at, old.voided_by_staff_id, old.void_reason = act.now, act.staff.id, inp.reason
        reverse_top_ups(act, old)
        for i, charge in enumerate(inp.corrected):
            fee = act.session.get(Fee, charge.fee_id) if charge.fee_id is not None else None
            if charge.fee_id is not None and (fee is None or fee.site_id != act.site.id):
                raise NotFoundError(f"没有编号 {charge.fee_id} 的费用",
                                    f"no fee {charge.fee_id} at this site",
                                    f"corrected[{i}].fee_id")
        new: Receipt | None = None
        if inp.corrected:
            new = write_receipt(act, payer_name=old.payer_name, charges=list(inp.corrected),
                                method=old.method, household_id=old.household_id,
                                person_id=old.person_id, replaces=old)
            top_up_from_receipt(act, new)
        new_id = new.id if new is not None else None
        for fee in act.session.scalars(select(Fee).where(Fee.settled_by_receipt_id == old.id)):
            fee.settled_by_receipt_id = new_id
        for report in act.session.scalars(
                select(LossReport).where(LossReport.compensation_receipt_id == old.id)):
            report.compensation_receipt_id = new_id
        return VoidResult(old.number, new.number if new is not None else None)
