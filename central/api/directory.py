"""The site and who lives in it, read-only: the site's access groups, gates, buildings and
units; households with their members, cards and unpaid fees; people.

ID numbers are personal data never disclosed (rule G5): they leave masked
(``440***********3456``) except to the roles central/services/privacy.py names.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from central.api.body import path_integer, query_reader
from central.api.errors import error_responses
from central.api.routing import protected_router
from central.api.security import ActorDep, reading
from central.api.shapes import INTEGER_DOC, CardBrief, FeeOut, IdPath, Money, card_brief
from central.api.state import api_state
from central.models import (
    AccessGroup,
    Building,
    Gate,
    GateRole,
    HolderKind,
    HouseholdKind,
    Relationship,
    UnitKind,
)
from central.services.household_record import (
    PersonLine,
    household_record,
    person_record,
    site_households,
    site_people,
)

router = protected_router("site")
MAX_LIST = 500


class GroupOut(BaseModel):
    """An access group."""

    name: str
    description: str


class GateOut(BaseModel):
    """A door or barrier lane and the groups it accepts."""

    code: str
    name: str
    role: GateRole
    access_groups: list[str]


class UnitOut(BaseModel):
    """A home, shop or office."""

    id: int
    number: str
    label: str = Field(description="building-number, e.g. `1-1201`")
    kind: UnitKind
    area_m2: Decimal


class BuildingOut(BaseModel):
    """A building, the groups its residents' cards get by default, and its units."""

    code: str
    name: str
    default_access_groups: list[str]
    units: list[UnitOut]


class SiteOut(BaseModel):
    """The caller's site."""

    code: str
    name: str
    timezone: str
    access_groups: list[GroupOut]
    gates: list[GateOut]
    buildings: list[BuildingOut]


class PersonOut(BaseModel):
    """A person on record; the ID number masked unless the caller's role may see it (G5)."""

    id: int
    name: str
    holder_kind: HolderKind
    household_id: int | None
    relation_to_householder: Relationship | None
    phone: str | None
    organisation: str
    id_number: str = Field(description="masked, `440***********3456`, unless the caller's "
                                       "role may see it whole (G5)")


class PersonDetailOut(PersonOut):
    """A person and the cards they hold or held."""

    cards: list[CardBrief]


class HouseholdOut(BaseModel):
    """The people of one unit under one title."""

    id: int
    unit_id: int
    unit: str = Field(description="building-number")
    kind: HouseholdKind
    started_on: date | None
    ended_on: date | None
    lease_end: date | None
    members: list[PersonOut]


class HouseholdDetailOut(HouseholdOut):
    """A household with its members' cards and its unpaid fees."""

    cards: list[CardBrief]
    unpaid_fees: list[FeeOut]


@router.get("/site")
def get_site(request: Request, actor: ActorDep) -> SiteOut:
    """The site the caller acts at: access groups, gates, buildings with their units."""
    with reading(request, actor) as act:
        site = act.site
        groups = act.session.scalars(select(AccessGroup).where(AccessGroup.site_id == site.id)
                                     .order_by(AccessGroup.name))
        gates = act.session.scalars(select(Gate).where(Gate.site_id == site.id)
                                    .order_by(Gate.code))
        buildings = act.session.scalars(select(Building).where(Building.site_id == site.id)
                                        .order_by(Building.code))
        return SiteOut(
            code=site.code, name=site.name, timezone=site.timezone,
            access_groups=[GroupOut(name=g.name, description=g.description) for g in groups],
            gates=[GateOut(code=g.code, name=g.name, role=g.role,
                           access_groups=sorted(a.name for a in g.access_groups))
                   for g in gates],
            buildings=[BuildingOut(
                code=b.code, name=b.name,
                default_access_groups=sorted(a.name for a in b.default_access_groups),
                units=[UnitOut(id=u.id, number=u.number, label=u.label, kind=u.kind,
                               area_m2=u.area_m2) for u in sorted(b.units, key=lambda u: u.id)])
                for b in buildings])


def _member(p: PersonLine) -> PersonOut:
    return PersonOut(id=p.id, name=p.name, holder_kind=p.holder_kind,
                     household_id=p.household_id, relation_to_householder=p.relationship,
                     phone=p.phone or None, organisation=p.organisation, id_number=p.id_number)


@router.get("/households")
def list_households(
        *, request: Request, actor: ActorDep,
        unit_id: Annotated[str | None, Query(json_schema_extra=INTEGER_DOC)] = None,
        building: Annotated[str | None, Query(description="building code")] = None,
        unit: Annotated[str | None, Query(description="unit number, with `building`")] = None,
        include_ended: Annotated[str | None, Query(json_schema_extra={
            "type": "boolean"}, description="also households that have left")] = None,
) -> list[HouseholdOut]:
    """Households of the site, by unit; current ones unless ``include_ended``."""
    q = query_reader({"unit_id": unit_id, "building": building, "unit": unit,
                      "include_ended": include_ended})
    wanted_unit = q.opt_integer("unit_id", 1)
    building_code, unit_number = q.opt_text("building", 64), q.opt_text("unit", 32)
    everything = q.flag("include_ended")
    q.finish()
    found = site_households(api_state(request).desk, actor, unit_id=wanted_unit,
                            building=building_code, unit=unit_number,
                            include_ended=everything, limit=MAX_LIST)
    return [HouseholdOut(id=h.id, unit_id=h.unit_id, unit=h.unit, kind=h.kind,
                         started_on=h.started_on, ended_on=h.ended_on, lease_end=h.lease_end,
                         members=[_member(p) for p in h.members]) for h in found]


@router.get("/households/{household_id}", responses=error_responses(404))
def get_household(request: Request, actor: ActorDep,
                  household_id: IdPath) -> HouseholdDetailOut:
    """A household: members, the cards they hold, the fees not yet paid."""
    wanted = path_integer("household_id", household_id)
    h = household_record(api_state(request).desk, actor, wanted)
    return HouseholdDetailOut(
        id=h.id, unit_id=h.unit_id, unit=h.unit, kind=h.kind, started_on=h.started_on,
        ended_on=h.ended_on, lease_end=h.lease_end, members=[_member(p) for p in h.members],
        cards=[card_brief(c) for c in h.cards],
        unpaid_fees=[FeeOut(id=f.id, household_id=h.id, kind=f.kind, description=f.description,
                            due_on=f.due_on, amount=Money.of(f.amount_fen),
                            settled_by_receipt=None) for f in h.unpaid])


@router.get("/people")
def list_people(
        request: Request, actor: ActorDep,
        name: Annotated[str | None, Query(description="part of the name")] = None,
        holder_kind: Annotated[str | None, Query(json_schema_extra={
            "enum": [k.value for k in HolderKind]})] = None,
        household_id: Annotated[str | None, Query(json_schema_extra=INTEGER_DOC)] = None,
) -> list[PersonOut]:
    """People on record at the site, by name, kind or household (at most 500)."""
    q = query_reader({"name": name, "holder_kind": holder_kind, "household_id": household_id})
    part, kind = q.opt_text("name", 100), q.opt_enum("holder_kind", HolderKind)
    household = q.opt_integer("household_id", 1)
    q.finish()
    return [_member(p) for p in site_people(api_state(request).desk, actor, name=part,
                                            holder_kind=kind, household_id=household,
                                            limit=MAX_LIST)]


@router.get("/people/{person_id}", responses=error_responses(404))
def get_person(request: Request, actor: ActorDep, person_id: IdPath) -> PersonDetailOut:
    """A person on record and the cards they hold or held."""
    record = person_record(api_state(request).desk, actor, path_integer("person_id", person_id))
    return PersonDetailOut(**_member(record.person).model_dump(),
                           cards=[card_brief(c) for c in record.cards])
