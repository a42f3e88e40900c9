"""The car park as the desk reads it: each monthly subscription with the step it is at
(awaiting the approvals of rule P3, approved and unpaid, paid, lapsed, ended), the approval
queue, one card's subscription with its months paid (P2), and the people of a household who
may apply (P1). Reads only; the actions are in central/services/parking*.py."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from central.models import (
    Building,
    Card,
    CardState,
    HolderKind,
    Household,
    ParkingSpace,
    ParkingSubscription,
    ParkingTopUp,
    Person,
    Receipt,
    SpaceKind,
    Staff,
    Unit,
)
from central.refusals import NotFoundError
from central.services.card_activation import get_card
from central.services.context import DESK_ROLES, Action, Actor, Desk
from central.services.parking import PARKING_HOLDERS
from central.services.parking_space import running_subscription

# The most subscriptions one listing shows (newest first); a site has a few hundred.
MAX_LISTED = 500


class SubscriptionState(enum.StrEnum):
    """The step a monthly parking subscription is at."""

    AWAITING_OWNER_UNIT = "awaiting_owner_unit"  # the owner unit has not signed (seed 000)
    AWAITING_DIRECTOR = "awaiting_director"  # no fee standard yet (P3)
    UNPAID = "unpaid"  # approved, no month paid yet
    PAID = "paid"  # today is within a paid period, or one paid ahead starts later
    LAPSED = "lapsed"  # the last paid day is past
    ENDED = "ended"


@dataclass(frozen=True)
class SubscriptionLine:
    """One subscription as the desk lists it."""

    id: int
    state: SubscriptionState
    card_uid: str
    holder_name: str
    holder_kind: HolderKind | None
    unit: str  # building-number of the holder's household, "" for none
    plate: str
    space_kind: SpaceKind
    space_number: str | None
    fee_per_month_fen: int
    owner_unit_signer: str | None
    owner_unit_signed_at: datetime | None
    owner_unit_reference: str | None
    approved_by: str | None
    approved_at: datetime | None
    starts_on: date | None
    paid_until: date | None
    ended_on: date | None
    applied_at: datetime

    @property
    def awaiting_approval(self) -> bool:
        """Whether an approval (the owner unit's or the director's) is still missing."""
        return self.state in (SubscriptionState.AWAITING_OWNER_UNIT,
                              SubscriptionState.AWAITING_DIRECTOR)


@dataclass(frozen=True)
class PaidMonths:
    """One top-up of a subscription: the period paid and its receipt."""

    paid_on: date
    months: int
    paid_from: date
    paid_until: date
    amount_fen: int
    receipt_number: int
    void: bool


@dataclass(frozen=True)
class CardParking:
    """A card's running subscription (None when it carries none) and its months paid."""

    uid: str
    holder_name: str
    subscription: SubscriptionLine | None
    paid: tuple[PaidMonths, ...]


@dataclass(frozen=True)
class HolderChoice:
    """A person who may hold a monthly parking card, with their active cards (any may be
    the parking card, rule P1) and whether one already carries parking."""

    person_id: int
    name: str
    holder_kind: HolderKind
    unit: str
    cards: tuple[str, ...]  # active cards without a running subscription


@dataclass(frozen=True)
class Holders:
    """Who may apply, from one household (``household_id`` set) or one person."""

    household_id: int | None
    unit: str
    people: tuple[HolderChoice, ...]


def _state(sub: ParkingSubscription, today: date, owner_unit_step: bool) -> SubscriptionState:
    if sub.ended_on is not None:
        return SubscriptionState.ENDED
    if owner_unit_step and sub.owner_unit_signed_at is None:
        return SubscriptionState.AWAITING_OWNER_UNIT
    if sub.approved_at is None:
        return SubscriptionState.AWAITING_DIRECTOR
    if sub.paid_until is None:
        return SubscriptionState.UNPAID
    return SubscriptionState.PAID if sub.paid_until >= today else SubscriptionState.LAPSED


def _unit_label(household: Household | None) -> str:
    return household.unit.label if household is not None else ""


def _line(act: Action, sub: ParkingSubscription, spaces: dict[int, str],
          names: dict[int, str]) -> SubscriptionLine:
    holder = sub.card.holder
    return SubscriptionLine(
        sub.id, _state(sub, act.today, act.site.settings.parking_owner_unit_approval),
        sub.card.uid, holder.name if holder is not None else "",
        holder.holder_kind if holder is not None else None,
        _unit_label(holder.household if holder is not None else None), sub.vehicle.plate,
        sub.space_kind, spaces.get(sub.space_id) if sub.space_id is not None else None,
        sub.fee_per_month_fen, sub.owner_unit_signer, sub.owner_unit_signed_at,
        sub.owner_unit_reference,
        names.get(sub.approved_by_staff_id) if sub.approved_by_staff_id is not None else None,
        sub.approved_at, sub.starts_on, sub.paid_until, sub.ended_on, sub.created_at)


def _lines(act: Action, subs: list[ParkingSubscription]) -> list[SubscriptionLine]:
    spaces = dict(act.session.execute(select(ParkingSpace.id, ParkingSpace.number).where(
        ParkingSpace.site_id == act.site.id)).all())
    approvers = {s.approved_by_staff_id for s in subs if s.approved_by_staff_id is not None}
    names = dict(act.session.execute(select(Staff.id, Staff.display_name).where(
        Staff.id.in_(approvers))).all()) if approvers else {}
    return [_line(act, sub, spaces, names) for sub in subs]


def parking_subscriptions(desk: Desk, actor: Actor, state: SubscriptionState | None = None,
                          ) -> tuple[dict[SubscriptionState, int], list[SubscriptionLine]]:
    """How many subscriptions are at each step, and the newest ``MAX_LISTED`` of them
    (only those at ``state`` when given), for the desk."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        subs = list(session.scalars(
            select(ParkingSubscription).where(ParkingSubscription.site_id == act.site.id)
            .options(selectinload(ParkingSubscription.card).selectinload(Card.holder)
                     .selectinload(Person.household).selectinload(Household.unit)
                     .selectinload(Unit.building),
                     selectinload(ParkingSubscription.vehicle))
            .order_by(ParkingSubscription.created_at.desc(), ParkingSubscription.id.desc())))
        owner_unit_step = act.site.settings.parking_owner_unit_approval
        counts = dict.fromkeys(SubscriptionState, 0)
        chosen: list[ParkingSubscription] = []
        for sub in subs:
            sub_state = _state(sub, act.today, owner_unit_step)
            counts[sub_state] += 1
            if (state is None or sub_state is state) and len(chosen) < MAX_LISTED:
                chosen.append(sub)
        return counts, _lines(act, chosen)


def approval_queue(desk: Desk, actor: Actor) -> list[SubscriptionLine]:
    """The applications still waiting for an approval (the owner unit's or the director's,
    rule P3), oldest first: the director's queue."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        subs = list(session.scalars(
            select(ParkingSubscription).where(
                ParkingSubscription.site_id == act.site.id,
                ParkingSubscription.ended_on.is_(None),
                (ParkingSubscription.approved_at.is_(None)
                 | ParkingSubscription.owner_unit_signed_at.is_(None)))
            .order_by(ParkingSubscription.created_at, ParkingSubscription.id)))
        return [line for line in _lines(act, subs) if line.awaiting_approval]


def parking_subscription(desk: Desk, actor: Actor, subscription_id: int) -> SubscriptionLine:
    """One subscription of the caller's site."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        sub = session.get(ParkingSubscription, subscription_id)
        if sub is None or sub.site_id != act.site.id:
            raise NotFoundError("没有此停车申请", f"no parking application {subscription_id}",
                                "subscription_id")
        return _lines(act, [sub])[0]


def card_parking(desk: Desk, actor: Actor, uid: str) -> CardParking:
    """A card's running subscription and every month paid on it (rule P2)."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        card = get_card(act, uid)
        sub = running_subscription(card)
        holder = card.holder.name if card.holder is not None else ""
        if sub is None:
            return CardParking(card.uid, holder, None, ())
        paid = tuple(
            PaidMonths(receipt.issued_on, top_up.months, top_up.paid_from, top_up.paid_until,
                       top_up.amount_fen, receipt.number, receipt.is_void)
            for top_up, receipt in session.execute(
                select(ParkingTopUp, Receipt).join(Receipt, Receipt.id == ParkingTopUp.receipt_id)
                .where(ParkingTopUp.subscription_id == sub.id)
                .order_by(ParkingTopUp.id.desc())))
        return CardParking(card.uid, holder, _lines(act, [sub])[0], paid)


def _choices(act: Action, people: list[Person]) -> tuple[HolderChoice, ...]:
    free: dict[int, list[str]] = {p.id: [] for p in people}
    for card in act.session.scalars(select(Card).where(
            Card.holder_person_id.in_(free), Card.state == CardState.ACTIVE)
            .options(selectinload(Card.parking_subscriptions)).order_by(Card.uid)):
        if card.holder_person_id is not None and running_subscription(card) is None:
            free[card.holder_person_id].append(card.uid)
    return tuple(HolderChoice(p.id, p.name, p.holder_kind, _unit_label(p.household),
                              tuple(free[p.id])) for p in people)


def _unit_key(text: str) -> tuple[str, str]:
    # 1栋1201, 1-1201 and "1 - 1201" name the same home: (building code, unit number).
    building, _, number = "".join(text.replace("栋", "-").split()).partition("-")
    return building, number


def parking_holders(desk: Desk, actor: Actor, *, household_id: int | None = None,
                    person_id: int | None = None, unit: str | None = None) -> Holders:
    """Who may apply for a monthly parking card (rule P1's holders: not visitors or
    workers): the people of a current household — given by id, or by its unit written
    ``1-1201`` / ``1栋1201`` — or one person."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        if person_id is not None:
            person = session.get(Person, person_id)
            if person is None or person.site_id != act.site.id:
                raise NotFoundError("没有此人的登记资料", f"no person {person_id}",
                                    "holder_person_id")
            people = [person] if person.holder_kind in PARKING_HOLDERS else []
            return Holders(person.household_id, _unit_label(person.household),
                           _choices(act, people))
        households = _households(act, household_id, unit)
        people = [p for h in households for p in sorted(h.members, key=lambda m: m.id)
                  if p.holder_kind in PARKING_HOLDERS]
        return Holders(households[0].id if len(households) == 1 else None,
                       _unit_label(households[0]), _choices(act, people))


def _households(act: Action, household_id: int | None, unit: str | None) -> list[Household]:
    """The current household of the id, or those of the unit (a home may have an owner's
    and a tenant's)."""
    if household_id is not None:
        household = act.session.get(Household, household_id)
        if household is None or household.unit.building.site_id != act.site.id:
            raise NotFoundError("没有此住户", f"no household {household_id}", "household_id")
        return [household]
    building, number = _unit_key(unit or "")
    found = list(act.session.scalars(
        select(Household).join(Unit).join(Building).where(
            Building.site_id == act.site.id, Building.code == building,
            Unit.number == number, Household.ended_on.is_(None))
        .order_by(Household.id)))
    if not found:
        raise NotFoundError(f"没有房号 {unit} 的在住住户", f"no current household at unit "
                            f"{unit!r}", "unit")
    return found
