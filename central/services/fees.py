"""Fees a household owes and their payment — always against a receipt (rule I7: no money
without a receipt). Rules H8 and G4 ask whether a household has unpaid fees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from central.forms import FormReader
from central.models import Fee, FeeKind, Household, PaymentMethod, ReceiptItem
from central.refusals import ConflictError, NotFoundError
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.receipts import Charge, write_receipt


def unpaid_fees(act: Action, household: Household) -> list[Fee]:
    """The household's fees not settled by a (non-void) receipt."""
    return list(act.session.scalars(select(Fee).where(
        Fee.household_id == household.id, Fee.settled_by_receipt_id.is_(None))
        .order_by(Fee.due_on, Fee.id)))


def site_household(act: Action, household_id: int, field: str = "household_id") -> Household:
    """A household of the action's site, or NotFoundError."""
    household = act.session.get(Household, household_id)
    if household is None or household.unit.building.site_id != act.site.id:
        raise NotFoundError("本小区没有此住户", f"no household {household_id} at this site", field)
    return household


@dataclass(frozen=True)
class ChargeFee:
    """Record an amount a household owes."""

    household_id: int
    kind: FeeKind
    amount_fen: int
    due_on: date
    description: str = ""

    @staticmethod
    def from_form(data: Any) -> ChargeFee:
        """Validate ``{"household_id", "kind", "amount_yuan", "due_on", "description"}``."""
        r = FormReader(data)
        inp = ChargeFee(r.integer("household_id", 1), r.enum("kind", FeeKind),
                        r.fen("amount_yuan"), r.date("due_on"), r.opt_text("description") or "")
        if r.present("amount_yuan") and inp.amount_fen == 0:
            r.fail("amount_yuan", "金额须大于零", "must be more than zero")
        r.finish()
        return inp


def charge_fee(desk: Desk, actor: Actor, inp: ChargeFee) -> int:
    """Record a fee owed; return its id."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        household = site_household(act, inp.household_id)
        fee = Fee(site_id=act.site.id, household_id=household.id, kind=inp.kind,
                  description=inp.description, due_on=inp.due_on, amount_fen=inp.amount_fen,
                  created_by_staff_id=act.staff.id, created_at=act.now)
        act.session.add(fee)
        act.session.flush()
        return fee.id


@dataclass(frozen=True)
class PayFees:
    """Settle some of a household's fees, with one receipt."""

    household_id: int
    fee_ids: tuple[int, ...]
    payer_name: str
    method: PaymentMethod = PaymentMethod.CASH

    @staticmethod
    def from_form(data: Any) -> PayFees:
        """Validate ``{"household_id", "fee_ids": [...], "payer_name", "method"}``."""
        r = FormReader(data)
        raw = r.data.get("fee_ids")
        ids: tuple[int, ...] = ()
        if not isinstance(raw, list) or not raw or not all(
                isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in raw):
            r.fail("fee_ids", "请选择要缴的费用", "a list of fee ids")
        else:
            ids = tuple(dict.fromkeys(raw))
        inp = PayFees(r.integer("household_id", 1), ids, r.text("payer_name", 100),
                      r.opt_enum("method", PaymentMethod) or PaymentMethod.CASH)
        r.finish()
        return inp


def pay_fees(desk: Desk, actor: Actor, inp: PayFees) -> int:
    """Take the money for the fees and write the receipt; return the receipt number."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        household = site_household(act, inp.household_id)
        fees = {f.id: f for f in unpaid_fees(act, household)}
        missing = [i for i in inp.fee_ids if i not in fees]
        if missing:
            raise ConflictError(f"费用 {missing} 不属于此住户或已缴清",
                                f"fees {missing} are not this household's unpaid fees",
                                "fee_ids")
        chosen = [fees[i] for i in inp.fee_ids]
        receipt = write_receipt(
            act, payer_name=inp.payer_name, method=inp.method, household_id=household.id,
            charges=[Charge(ReceiptItem.FEE_SETTLEMENT, f.amount_fen,
                            f"{f.kind.value} {f.description} due {f.due_on}", fee_id=f.id)
                     for f in chosen])
        for fee in chosen:
            fee.settled_by_receipt_id = receipt.id
        return receipt.number
