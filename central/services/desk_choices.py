"""What a desk form's choosers offer: the current households of one unit and their
people, for a form that asks who applies and which owner consents (a goods release slip,
G4; a renovation filing, H6; a resident hosting a visitor, H7) — a tenant's household and
the owner's are two records of the same unit, so the chooser shows both — and the site's
gates, for a form that names one (a visitor's entrance, the goods' exit)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from central.models import Building, Gate, HolderKind, Household, HouseholdKind, Person, Role, Unit
from central.refusals import NotFoundError
from central.services.context import DESK_ROLES, Actor, Desk, action

# Guards host visitors too (a resident's visitor at the gate, H7).
CHOOSERS = DESK_ROLES | {Role.GUARD}


@dataclass(frozen=True)
class PersonChoice:
    """One person of a household, as a chooser lists them."""

    person_id: int
    name: str
    holder_kind: HolderKind


@dataclass(frozen=True)
class HouseholdChoice:
    """One current household of the unit and its people (owners first)."""

    household_id: int
    unit_label: str
    kind: HouseholdKind
    people: tuple[PersonChoice, ...]

    @property
    def owners(self) -> tuple[PersonChoice, ...]:
        """Its owners: who may consent for the unit (G4, H6)."""
        return tuple(p for p in self.people if p.holder_kind is HolderKind.OWNER)


def unit_key(text: str) -> tuple[str, str] | None:
    """A unit as the desk types it — ``1-1201``, ``1栋1201``, ``1栋1201室`` — as (building
    code, unit number); None when it is not one."""
    cleaned = text.strip().replace(" ", "").removesuffix("室")
    for separator in ("-", "栋", "幢", "#"):
        if separator in cleaned:
            building, _, number = cleaned.partition(separator)
            if building and number:
                return building, number.lstrip("-")
    return None


def unit_households(desk: Desk, actor: Actor, *, unit: str | None = None,
                    household_id: int | None = None) -> tuple[HouseholdChoice, ...]:
    """The current households of the unit written ``unit`` (``1-1201``), or of the unit of
    ``household_id``; that household (or the ownership one) first. NotFoundError for a unit
    or household the site does not have."""
    with action(desk) as act:
        act.authorise(actor, CHOOSERS)
        query = (select(Household).join(Unit).join(Building)
                 .where(Building.site_id == act.site.id, Household.ended_on.is_(None)))
        if household_id is not None:
            chosen = act.session.get(Household, household_id)
            if chosen is None or chosen.unit.building.site_id != act.site.id:
                raise NotFoundError("本小区没有此住户", f"no household {household_id} at this "
                                    "site", "household_id")
            query = query.where(Household.unit_id == chosen.unit_id)
        else:
            key = unit_key(unit or "")
            if key is None:
                raise NotFoundError(f"没有房屋 {unit}（请按 1-1201 的格式填写）",
                                    f"no unit {unit!r} (write it as 1-1201)", "unit")
            query = query.where(Building.code == key[0], Unit.number == key[1])
        households = list(act.session.scalars(query.order_by(Household.id)))
        if not households:
            raise NotFoundError(f"房屋 {unit or household_id} 没有现住户",
                                f"no current household at {unit or household_id}", "unit")
        households.sort(key=lambda h: (h.id != household_id,
                                       h.kind is not HouseholdKind.OWNERSHIP, h.id))
        out = []
        for h in households:
            people = sorted(act.session.scalars(select(Person).where(
                Person.household_id == h.id)),
                key=lambda p: (p.holder_kind is not HolderKind.OWNER, p.id))
            out.append(HouseholdChoice(h.id, h.unit.label, h.kind, tuple(
                PersonChoice(p.id, p.name, p.holder_kind) for p in people)))
        return tuple(out)


@dataclass(frozen=True)
class GateChoice:
    """A gate of the site."""

    gate_id: int
    code: str
    name: str


def site_gates(desk: Desk, actor: Actor) -> tuple[GateChoice, ...]:
    """The site's gates, in the site file's order."""
    with action(desk) as act:
        act.authorise(actor, CHOOSERS)
        return tuple(GateChoice(g.id, g.code, g.name) for g in act.session.scalars(
            select(Gate).where(Gate.site_id == act.site.id).order_by(Gate.id)))
