"""Reading the receipts (rule I7) as the desk shows and exports them: a filtered list, newest
first, and one receipt with its lines, who took the money, and the receipt it corrects or
that corrects it. Writing them is central/services/receipts.py's."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import selectinload

from central.form_fields import Id, Text
from central.models import (
    Building,
    Household,
    PaymentMethod,
    Receipt,
    ReceiptItem,
    ReceiptLine,
    Staff,
    Unit,
)
from central.refusals import NotFoundError
from central.services.context import DESK_ROLES, Action, Actor, Desk, reading
from central.services.day_range import DayRange

# The most receipts one export holds (a site writes a few thousand a year).
EXPORT_LIMIT = 50_000


class ReceiptState(enum.StrEnum):
    """Which receipts a list shows: those standing, or the voided ones."""

    STANDING = "standing"
    VOID = "void"


@dataclass(frozen=True)
class ReceiptFilter(DayRange):
    """Which receipts to list: issued between two dates (site-local), of one unit's
    households (``1-1201``) or one household, with a line of one item, standing or void."""

    unit: Annotated[str, Text(max=40, doc="a unit as the desk writes it, e.g. `1-1201`")] = ""
    household_id: Id | None = None
    item: ReceiptItem | None = None
    state: ReceiptState | None = None
    # Paging: receipts numbered below this one (the list is newest first).
    before: Id | None = None


@dataclass(frozen=True)
class ReceiptLineView:
    """One item of a receipt."""

    item: ReceiptItem
    description: str
    card_uid: str | None
    fee_id: int | None
    amount_fen: int


@dataclass(frozen=True)
class ReceiptView:
    """A receipt as the desk shows it."""

    number: int
    issued_on: date
    issued_at: datetime
    payer_name: str
    household_id: int | None
    person_id: int | None  # the payer on record, when the receipt names one
    unit: str  # the household's unit, ``1-1201``; empty for a receipt of no household
    amount_fen: int
    method: PaymentMethod
    clerk: str
    voided_at: datetime | None
    voided_by: str
    void_reason: str
    replaces: int | None  # the number of the receipt this one corrects
    replaced_by: int | None  # the number of the receipt that corrects this one
    lines: tuple[ReceiptLineView, ...]

    @property
    def is_void(self) -> bool:
        """Whether the receipt was voided."""
        return self.voided_at is not None


def unit_label() -> ColumnElement[str]:
    """The SQL expression of a unit's label, ``building-number`` (Unit.label)."""
    return Building.code + "-" + Unit.number


def _views(act: Action, query: Select[Receipt]) -> list[ReceiptView]:
    receipts = list(act.session.scalars(query.options(selectinload(Receipt.lines))))
    ids = {r.id for r in receipts} | {r.replaces_receipt_id for r in receipts
                                      if r.replaces_receipt_id is not None}
    numbers = dict(act.session.execute(select(Receipt.id, Receipt.number)
                                       .where(Receipt.id.in_(ids))).all())
    replaced_by = dict(act.session.execute(
        select(Receipt.replaces_receipt_id, Receipt.number)
        .where(Receipt.replaces_receipt_id.in_(ids))).all())
    staff_ids = {r.issued_by_staff_id for r in receipts} | {
        r.voided_by_staff_id for r in receipts if r.voided_by_staff_id is not None}
    names = dict(act.session.execute(select(Staff.id, Staff.display_name)
                                     .where(Staff.id.in_(staff_ids))).all())
    household_ids = {r.household_id for r in receipts if r.household_id is not None}
    units = dict(act.session.execute(
        select(Household.id, unit_label()).join(Unit, Household.unit_id == Unit.id)
        .join(Building, Unit.building_id == Building.id)
        .where(Household.id.in_(household_ids))).all())
    return [ReceiptView(
        number=r.number, issued_on=r.issued_on, issued_at=r.issued_at,
        payer_name=r.payer_name, household_id=r.household_id, person_id=r.person_id,
        unit=units.get(r.household_id, "") if r.household_id is not None else "",
        amount_fen=r.amount_fen, method=r.method, clerk=names.get(r.issued_by_staff_id, ""),
        voided_at=r.voided_at,
        voided_by=names.get(r.voided_by_staff_id, "") if r.voided_by_staff_id else "",
        void_reason=r.void_reason or "",
        replaces=numbers.get(r.replaces_receipt_id) if r.replaces_receipt_id else None,
        replaced_by=replaced_by.get(r.id),
        lines=tuple(ReceiptLineView(ln.item, ln.description, ln.card_uid, ln.fee_id,
                                    ln.amount_fen) for ln in r.lines))
        for r in receipts]


def _filtered(act: Action, f: ReceiptFilter) -> Select[Receipt]:
    query = (select(Receipt).where(Receipt.site_id == act.site.id)
             .order_by(Receipt.number.desc()))
    if f.since is not None:
        query = query.where(Receipt.issued_on >= f.since)
    if f.until is not None:
        query = query.where(Receipt.issued_on <= f.until)
    if f.household_id is not None:
        query = query.where(Receipt.household_id == f.household_id)
    if f.unit:
        households = (select(Household.id).join(Unit, Household.unit_id == Unit.id)
                      .join(Building, Unit.building_id == Building.id)
                      .where(Building.site_id == act.site.id,
                             func.upper(unit_label()) == f.unit.upper()))
        query = query.where(Receipt.household_id.in_(households))
    if f.item is not None:
        query = query.where(exists().where(ReceiptLine.receipt_id == Receipt.id,
                                           ReceiptLine.item == f.item))
    if f.state is ReceiptState.STANDING:
        query = query.where(Receipt.voided_at.is_(None))
    elif f.state is ReceiptState.VOID:
        query = query.where(Receipt.voided_at.is_not(None))
    if f.before is not None:
        query = query.where(Receipt.number < f.before)
    return query


def find_receipts(desk: Desk, actor: Actor, f: ReceiptFilter,
                  limit: int = EXPORT_LIMIT) -> list[ReceiptView]:
    """The site's receipts that ``f`` picks, newest first, at most ``limit``."""
    with reading(desk, actor, DESK_ROLES) as act:
        return _views(act, _filtered(act, f).limit(limit))


def receipt_view(desk: Desk, actor: Actor, number: int) -> ReceiptView:
    """Receipt ``number`` of the site, or NotFoundError."""
    with reading(desk, actor, DESK_ROLES) as act:
        found = _views(act, select(Receipt).where(Receipt.site_id == act.site.id,
                                                  Receipt.number == number))
        if not found:
            raise NotFoundError(f"没有第 {number} 号收据", f"no receipt number {number}",
                                "number")
        return found[0]
