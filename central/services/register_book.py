"""Reading the IC card issue / anomaly register (rule I1) as the desk shows and exports it:
filtered, newest first, a page at a time. Writing it is central/services/register.py's (and
only there: the register is append-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from sqlalchemy import Select, func, select

from central.form_fields import CardUid, Id, Text
from central.models import (
    Building,
    HolderKind,
    Household,
    Person,
    RegisterAction,
    RegisterEntry,
    Staff,
    Unit,
)
from central.services.context import DESK_ROLES, Action, Actor, Desk, reading
from central.services.day_range import DayRange
from central.services.receipt_book import unit_label

# The most lines one export holds.
EXPORT_LIMIT = 100_000


@dataclass(frozen=True)
class RegisterFilter(DayRange):
    """Which register lines to list: written between two dates (site-local), of one action,
    one card, one unit's households (``1-1201``) or one household (the holder's)."""

    action: RegisterAction | None = None
    card_uid: CardUid | None = None
    unit: Annotated[str, Text(max=40, doc="a unit as the desk writes it, e.g. `1-1201`")] = ""
    household_id: Id | None = None
    # Paging: lines written before this one (the list is newest first).
    before: Id | None = None


@dataclass(frozen=True)
class RegisterLine:
    """One line of the register as written (names copied then), with the holder's unit
    now and the clerk's name and user name."""

    id: int
    entry_on: date
    entry_at: datetime
    action: RegisterAction
    card_uid: str
    holder_person_id: int | None
    holder_name: str
    holder_kind: HolderKind | None
    unit: str
    household_id: int | None
    clerk: str
    clerk_username: str
    signed_by: str | None
    signoff_ref: str
    receipt_number: int | None
    related_card_uid: str | None
    detail: str


def _filtered(act: Action, f: RegisterFilter) -> Select[
        RegisterEntry, str, str, int | None, str]:
    query = (select(RegisterEntry, Staff.display_name, Staff.username, Person.household_id,
                    unit_label())
             .join(Staff, RegisterEntry.staff_id == Staff.id)
             .outerjoin(Person, RegisterEntry.holder_person_id == Person.id)
             .outerjoin(Household, Person.household_id == Household.id)
             .outerjoin(Unit, Household.unit_id == Unit.id)
             .outerjoin(Building, Unit.building_id == Building.id)
             .where(RegisterEntry.site_id == act.site.id)
             .order_by(RegisterEntry.id.desc()))
    if f.since is not None:
        query = query.where(RegisterEntry.entry_on >= f.since)
    if f.until is not None:
        query = query.where(RegisterEntry.entry_on <= f.until)
    if f.action is not None:
        query = query.where(RegisterEntry.action == f.action)
    if f.card_uid is not None:
        query = query.where((RegisterEntry.card_uid == f.card_uid)
                            | (RegisterEntry.related_card_uid == f.card_uid))
    if f.unit:
        query = query.where(func.upper(unit_label()) == f.unit.upper())
    if f.household_id is not None:
        query = query.where(Person.household_id == f.household_id)
    if f.before is not None:
        query = query.where(RegisterEntry.id < f.before)
    return query


def find_register(desk: Desk, actor: Actor, f: RegisterFilter,
                  limit: int = EXPORT_LIMIT) -> list[RegisterLine]:
    """The site's register lines that ``f`` picks, newest first, at most ``limit``."""
    with reading(desk, actor, DESK_ROLES) as act:
        return [RegisterLine(
            id=e.id, entry_on=e.entry_on, entry_at=e.entry_at, action=e.action,
            card_uid=e.card_uid, holder_person_id=e.holder_person_id,
            holder_name=e.holder_name, holder_kind=e.holder_kind, unit=unit or "",
            household_id=household_id, clerk=clerk, clerk_username=username,
            signed_by=e.signed_by,
            signoff_ref=e.signoff_ref, receipt_number=e.receipt_number,
            related_card_uid=e.related_card_uid, detail=e.detail)
            for e, clerk, username, household_id, unit
            in act.session.execute(_filtered(act, f).limit(limit))]
