"""Everything the desk shows of one household, one person or one card, read in one
session: the household page (people and their relationships, cards with their validity and
the gates they open, parking, fees owed, renovation filings, goods slips, the register
lines), the person page and the card page.

Read-only, authorised as the API's reads are (the desk roles; a card also for guards). ID
numbers leave masked except to the roles central/services/privacy.py names (rule G5).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from central.models import (
    Building,
    Card,
    CardState,
    Fee,
    FeeKind,
    GoodsReleaseSlip,
    HolderKind,
    Household,
    HouseholdKind,
    ParkingSubscription,
    Person,
    RegisterAction,
    RegisterEntry,
    Relationship,
    RenovationFiling,
    Role,
    SpaceKind,
    Unit,
)
from central.refusals import NotFoundError
from central.services.card_activation import get_card
from central.services.context import DESK_ROLES, Actor, Desk, reading
from central.services.privacy import id_number_for
from central.services.quota import household_quota

REGISTER_LINES = 50


@dataclass(frozen=True)
class PersonLine:
    """A person as a list shows them."""

    id: int
    name: str
    holder_kind: HolderKind
    relationship: Relationship | None
    phone: str
    id_number: str  # masked unless the role may see it (G5)
    organisation: str
    household_id: int | None


@dataclass(frozen=True)
class ParkingLine:
    """A card's monthly parking."""

    subscription_id: int
    plate: str
    space_kind: SpaceKind
    approved: bool
    starts_on: date | None
    paid_until: date | None
    ended_on: date | None
    fee_per_month_fen: int


@dataclass(frozen=True)
class CardLine:
    """A card as the desk sees it: who holds it, until when, where it opens."""

    uid: str
    state: CardState
    holder_person_id: int | None
    holder_name: str
    holder_kind: HolderKind | None
    valid_from: date | None
    valid_until: date | None
    balance_fen: int
    access_groups: tuple[str, ...]
    gates: tuple[str, ...]  # the names of the gates those groups open
    parking: tuple[ParkingLine, ...]
    replaces_uid: str | None


@dataclass(frozen=True)
class FeeLine:
    """A fee the household owes."""

    id: int
    kind: FeeKind
    description: str
    due_on: date
    amount_fen: int


@dataclass(frozen=True)
class RenovationLine:
    """A renovation filing of the unit."""

    id: int
    starts_on: date
    ends_on: date
    contractor: str
    approved: bool
    completed_on: date | None


@dataclass(frozen=True)
class GoodsSlipLine:
    """A goods release slip of the household."""

    number: int
    valid_on: date
    items: str
    approved: bool
    left_at: datetime | None


@dataclass(frozen=True)
class RegisterLine:
    """A line of the IC card register (I1)."""

    at: datetime
    action: RegisterAction
    card_uid: str
    holder_name: str
    receipt_number: int | None
    related_card_uid: str | None
    detail: str


@dataclass(frozen=True)
class HouseholdLine:
    """A household as a list shows it: its unit, title and members."""

    id: int
    unit_id: int
    unit: str
    kind: HouseholdKind
    started_on: date | None
    ended_on: date | None
    lease_end: date | None
    members: tuple[PersonLine, ...]


@dataclass(frozen=True)
class HouseholdRecord:
    """The household page."""

    id: int
    unit_id: int
    unit: str
    area_m2: str
    kind: HouseholdKind
    started_on: date | None
    ended_on: date | None
    lease_end: date | None
    members: tuple[PersonLine, ...]
    cards: tuple[CardLine, ...]
    quota: int  # how many cards the household may hold (I4)
    cards_held: int  # active cards held by its members
    unpaid: tuple[FeeLine, ...]
    renovations: tuple[RenovationLine, ...]
    goods_slips: tuple[GoodsSlipLine, ...]
    register: tuple[RegisterLine, ...]

    @property
    def unpaid_fen(self) -> int:
        """What the household owes in all."""
        return sum(f.amount_fen for f in self.unpaid)


@dataclass(frozen=True)
class PersonRecord:
    """The person page."""

    person: PersonLine
    household_unit: str | None
    cards: tuple[CardLine, ...]


@dataclass(frozen=True)
class CardRecord:
    """The card page."""

    card: CardLine
    holder: PersonLine | None
    household_id: int | None
    household_unit: str | None
    register: tuple[RegisterLine, ...]


def _person(role: Role, p: Person) -> PersonLine:
    return PersonLine(p.id, p.name, p.holder_kind, p.relation_to_householder, p.phone or "",
                      id_number_for(role, p.id_number), p.organisation, p.household_id)


def _card(session: Session, card: Card) -> CardLine:
    grants = card.active_grants
    gates = sorted({gate.name for g in grants for gate in g.access_group.gates})
    parking = tuple(
        ParkingLine(s.id, s.vehicle.plate, s.space_kind, s.approved_at is not None,
                    s.starts_on, s.paid_until, s.ended_on, s.fee_per_month_fen)
        for s in sorted(card.parking_subscriptions, key=lambda s: s.id))
    replaced = (session.get(Card, card.replaces_card_id)
                if card.replaces_card_id is not None else None)
    return CardLine(card.uid, card.state, card.holder_person_id,
                    card.holder.name if card.holder is not None else "", card.holder_kind,
                    card.valid_from, card.valid_until, card.balance_fen,
                    tuple(sorted(g.access_group.name for g in grants)), tuple(gates), parking,
                    replaced.uid if replaced is not None else None)


def _register(rows: Iterable[RegisterEntry]) -> tuple[RegisterLine, ...]:
    return tuple(RegisterLine(r.entry_at, r.action, r.card_uid, r.holder_name,
                              r.receipt_number, r.related_card_uid, r.detail) for r in rows)


def site_households(desk: Desk, actor: Actor, *, unit_id: int | None = None,
                    building: str | None = None, unit: str | None = None,
                    include_ended: bool = False, limit: int = 500) -> list[HouseholdLine]:
    """The households of the actor's site by unit (its id, or building code and number),
    current ones unless ``include_ended``, at most ``limit``."""
    with reading(desk, actor, DESK_ROLES) as act:
        query = (select(Household).join(Unit).join(Building)
                 .where(Building.site_id == act.site.id).order_by(Household.id).limit(limit)
                 .options(selectinload(Household.members),
                          selectinload(Household.unit).selectinload(Unit.building)))
        if unit_id is not None:
            query = query.where(Unit.id == unit_id)
        if building is not None:
            query = query.where(Building.code == building)
        if unit is not None:
            query = query.where(Unit.number == unit)
        if not include_ended:
            query = query.where(Household.ended_on.is_(None))
        role = act.role
        return [HouseholdLine(h.id, h.unit_id, h.unit.label, h.kind, h.started_on, h.ended_on,
                              h.lease_end, tuple(_person(role, p) for p in
                                                 sorted(h.members, key=lambda p: p.id)))
                for h in act.session.scalars(query)]


def site_people(desk: Desk, actor: Actor, *, name: str | None = None,
                holder_kind: HolderKind | None = None, household_id: int | None = None,
                limit: int = 500) -> list[PersonLine]:
    """The people on record at the actor's site, by part of the name, kind or household,
    at most ``limit``."""
    with reading(desk, actor, DESK_ROLES) as act:
        query = (select(Person).where(Person.site_id == act.site.id)
                 .order_by(Person.id).limit(limit))
        if name is not None:
            query = query.where(Person.name.contains(name, autoescape=True))
        if holder_kind is not None:
            query = query.where(Person.holder_kind == holder_kind)
        if household_id is not None:
            query = query.where(Person.household_id == household_id)
        return [_person(act.role, p) for p in act.session.scalars(query)]


def household_record(desk: Desk, actor: Actor, household_id: int) -> HouseholdRecord:
    """The household page of ``household_id`` at the actor's site."""
    with reading(desk, actor, DESK_ROLES) as act:
        session = act.session
        h = session.get(Household, household_id)
        if h is None or h.unit.building.site_id != act.site.id:
            raise NotFoundError("本小区没有此住户", f"no household {household_id} at this site",
                                "household_id")
        role = act.role
        members = sorted(h.members, key=lambda p: p.id)
        member_ids = [p.id for p in members]
        cards = list(session.scalars(
            select(Card).where(Card.holder_person_id.in_(member_ids)).order_by(Card.id)
            .options(selectinload(Card.holder), selectinload(Card.grants),
                     selectinload(Card.parking_subscriptions)
                     .selectinload(ParkingSubscription.vehicle))))
        fees = session.scalars(select(Fee).where(
            Fee.household_id == h.id, Fee.settled_by_receipt_id.is_(None)).order_by(Fee.due_on))
        renovations = session.scalars(select(RenovationFiling).where(
            RenovationFiling.household_id == h.id).order_by(RenovationFiling.id.desc()))
        slips = session.scalars(select(GoodsReleaseSlip).where(
            GoodsReleaseSlip.household_id == h.id).order_by(GoodsReleaseSlip.number.desc())
            .limit(REGISTER_LINES))
        register = session.scalars(select(RegisterEntry).where(or_(
            RegisterEntry.holder_person_id.in_(member_ids),
            RegisterEntry.card_id.in_([c.id for c in cards])))
            .order_by(RegisterEntry.id.desc()).limit(REGISTER_LINES))
        return HouseholdRecord(
            id=h.id, unit_id=h.unit_id, unit=h.unit.label, area_m2=str(h.unit.area_m2),
            kind=h.kind, started_on=h.started_on, ended_on=h.ended_on, lease_end=h.lease_end,
            members=tuple(_person(role, p) for p in members),
            cards=tuple(_card(session, c) for c in cards),
            quota=household_quota(act.site.settings, h.unit.area_m2),
            cards_held=sum(1 for c in cards if c.state is CardState.ACTIVE),
            unpaid=tuple(FeeLine(f.id, f.kind, f.description, f.due_on, f.amount_fen)
                         for f in fees),
            renovations=tuple(RenovationLine(
                r.id, r.starts_on, r.ends_on,
                "" if r.self_renovation else r.contractor_name, r.approved_at is not None,
                r.completed_on) for r in renovations),
            goods_slips=tuple(GoodsSlipLine(g.number, g.valid_on, g.items,
                                            g.approved_at is not None, g.left_at)
                              for g in slips),
            register=_register(register))


def person_record(desk: Desk, actor: Actor, person_id: int) -> PersonRecord:
    """The person page of ``person_id`` at the actor's site."""
    with reading(desk, actor, DESK_ROLES) as act:
        session = act.session
        p = session.get(Person, person_id)
        if p is None or p.site_id != act.site.id:
            raise NotFoundError("没有此人的登记资料", f"no person {person_id}", "person_id")
        cards = session.scalars(select(Card).where(Card.holder_person_id == p.id)
                                .order_by(Card.id))
        unit = p.household.unit.label if p.household is not None else None
        return PersonRecord(_person(act.role, p), unit,
                            tuple(_card(session, c) for c in cards))


def card_record(desk: Desk, actor: Actor, uid: str) -> CardRecord:
    """The card page of ``uid`` (canonical hex) at the actor's site."""
    with reading(desk, actor, DESK_ROLES | {Role.GUARD}) as act:
        session = act.session
        card = get_card(act, uid)
        holder = card.holder
        household = holder.household if holder is not None else None
        register = session.scalars(select(RegisterEntry).where(
            RegisterEntry.card_id == card.id).order_by(RegisterEntry.id.desc())
            .limit(REGISTER_LINES))
        return CardRecord(_card(session, card),
                          _person(act.role, holder) if holder is not None else None,
                          household.id if household is not None else None,
                          household.unit.label if household is not None else None,
                          _register(register))
