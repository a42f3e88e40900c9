"""Fees a household owes and their payment — always against a receipt (rule I7: no money
without a receipt). Rules H8 and G4 ask whether a household has unpaid fees."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from sqlalchemy import Select, select

from central.form_fields import Choice, Id, Items, Text, Yuan
from central.form_input import FormInput
from central.models import (
    Fee,
    FeeKind,
    Household,
    PaymentMethod,
    Receipt,
    ReceiptItem,
    Relationship,
)
from central.refusals import ConflictError, NotFoundError
from central.services.context import DESK_ROLES, Action, Actor, Desk, action, reading
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
class ChargeFee(FormInput):
    """Record an amount a household owes."""

    household_id: Id
    kind: FeeKind
    amount_fen: Annotated[int, Yuan(key="amount_yuan", positive=True)]
    due_on: date
    description: Annotated[str, Text()] = ""


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
class PayFees(FormInput):
    """Settle some of a household's unpaid fees, with one receipt."""

    household_id: Id
    fee_ids: Annotated[tuple[Id, ...], Items(min=1, max=500)]
    payer_name: Annotated[str, Text(max=100)]
    method: Annotated[PaymentMethod, Choice(doc="default cash")] = PaymentMethod.CASH


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
                            # The receipt is printed for the payer: in Chinese.
                            f"{f.description}（{f.due_on} 到期）", fee_id=f.id)
                     for f in chosen])
        for fee in chosen:
            fee.settled_by_receipt_id = receipt.id
        return receipt.number


@dataclass(frozen=True)
class FeeView:
    """A fee as the desk lists it: settled by receipt ``receipt_number``, or still owed."""

    id: int
    household_id: int
    kind: FeeKind
    description: str
    due_on: date
    amount_fen: int
    receipt_number: int | None


def _fee_views(act: Action, query: Select[Fee, int | None]) -> list[FeeView]:
    return [FeeView(f.id, f.household_id, f.kind, f.description, f.due_on, f.amount_fen,
                    number) for f, number in act.session.execute(query)]


def _fees() -> Select[Fee, int | None]:
    return select(Fee, Receipt.number).outerjoin(Receipt,
                                                  Fee.settled_by_receipt_id == Receipt.id)


@dataclass(frozen=True)
class HouseholdFees:
    """A household's fees, oldest due first, and who would pay them (the householder)."""

    household_id: int
    unit: str
    householder: str
    fees: tuple[FeeView, ...]

    @property
    def unpaid(self) -> tuple[FeeView, ...]:
        """The fees still owed."""
        return tuple(f for f in self.fees if f.receipt_number is None)

    @property
    def unpaid_fen(self) -> int:
        """What the household owes."""
        return sum(f.amount_fen for f in self.unpaid)


def household_fees(desk: Desk, actor: Actor, household_id: int) -> HouseholdFees:
    """The fees of a household of the actor's site (at most the last 500), or
    NotFoundError."""
    with reading(desk, actor, DESK_ROLES) as act:
        household = site_household(act, household_id)
        rows = _fee_views(act, _fees().where(Fee.household_id == household.id)
                          .order_by(Fee.due_on.desc(), Fee.id.desc()).limit(500))
        members = sorted(household.members, key=lambda p: (
            p.relation_to_householder is not Relationship.SELF, p.id))
        return HouseholdFees(
            household.id, household.unit.label, members[0].name if members else "",
            tuple(reversed(rows)))


def site_fees(desk: Desk, actor: Actor, *, household_id: int | None = None,
              unpaid_only: bool = False, limit: int = 500) -> list[FeeView]:
    """The fees of the actor's site (of one household; only those still owed), oldest due
    first, at most ``limit``."""
    with reading(desk, actor, DESK_ROLES) as act:
        query = (_fees().where(Fee.site_id == act.site.id).order_by(Fee.due_on, Fee.id)
                 .limit(limit))
        if household_id is not None:
            query = query.where(Fee.household_id == household_id)
        if unpaid_only:
            query = query.where(Fee.settled_by_receipt_id.is_(None))
        return _fee_views(act, query)
