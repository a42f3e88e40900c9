"""Receipts (rule I7): numbered in sequence per site, dates never backwards, amounts never
altered — a wrong receipt is voided and a new one written. No money without a receipt:
every action that takes money calls ``write_receipt`` in its own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

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
class Charge:
    """One line of a receipt."""

    item: ReceiptItem
    amount_fen: int
    description: str = ""
    card_uid: str | None = None
    fee_id: int | None = None

    @staticmethod
    def read(r: FormReader) -> Charge:
        """From ``{"item", "amount_yuan", "description", "card_uid", "fee_id"}``."""
        uid = r.uid("card_uid") if r.present("card_uid") else None
        charge = Charge(r.enum("item", ReceiptItem), r.fen("amount_yuan"),
                        r.opt_text("description") or "", uid, r.opt_integer("fee_id", 1))
        # What write_receipt insists on, asked here so the form is answered per field.
        if r.present("amount_yuan") and charge.amount_fen == 0:
            r.fail("amount_yuan", "金额须大于零", "must be more than zero")
        if r.present("item") and charge.item in NAMES_A_CARD and not r.present("card_uid"):
            r.fail("card_uid", "卡的费用或充值须写明卡号（I2）",
                   "a card's fee or top-up names the card (I2)")
        return charge


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
    session.flush()
    for c in charges:
        session.add(ReceiptLine(receipt_id=receipt.id, item=c.item, description=c.description,
                                card_uid=c.card_uid, fee_id=c.fee_id, amount_fen=c.amount_fen))
    session.flush()
    return receipt


@dataclass(frozen=True)
class VoidReceipt:
    """Void receipt ``number``; with ``corrected`` lines, write the right one in its place."""

    number: int
    reason: str
    corrected: tuple[Charge, ...] = ()

    @staticmethod
    def from_form(data: Any) -> VoidReceipt:
        """Validate a form: ``{"number", "reason", "corrected": [charge, ...]}``."""
        r = FormReader(data)
        inp = VoidReceipt(r.integer("number", 1), r.text("reason"),
                          r.items("corrected", Charge.read))
        r.finish()
        return inp


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
