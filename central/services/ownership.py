"""Change of owner (房屋转让), rule H8: the old owner's fees are settled first; the old
household's cards stop working the day the new owner moves in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from sqlalchemy import select

from central.amounts import yuan
from central.form_fields import Day, Id, Text
from central.form_input import FormInput
from central.models import (
    ApplicationKind,
    Card,
    CardState,
    ConfirmationMethod,
    EvidenceKind,
    HolderKind,
    Household,
    HouseholdKind,
    Person,
    RegisterAction,
    Relationship,
    Unit,
)
from central.refusals import NotFoundError, RuleRefused
from central.services.applications import add_evidence, open_application
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.fees import unpaid_fees
from central.services.inputs import PersonDetails
from central.services.register import write_register


@dataclass(frozen=True)
class TransferOwnership(FormInput):
    """A unit changes hands: the new owner, their purchase contract, the move-in day."""

    unit_id: Id
    new_owner: PersonDetails
    purchase_contract_ref: Annotated[str, Text()]
    moved_in_on: Annotated[date, Day(doc="the old household's cards stop on this day")]


@dataclass(frozen=True)
class TransferResult:
    """The new household and owner, and the old household's cards that were stopped."""

    household_id: int
    owner_person_id: int
    cards_stopped: tuple[str, ...]


def transfer_ownership(desk: Desk, actor: Actor, inp: TransferOwnership) -> TransferResult:
    """Register the new owner (rule H8).

    Refused while the old owner's household has unpaid fees. The old household ends on the
    move-in day; its active cards are revoked if that day has come, else cut short to the
    day before it, so every gate stops them on the day itself. A tenancy of the unit is not
    ended by the sale (买卖不破租赁); its cards keep working.
    """
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        unit = act.session.get(Unit, inp.unit_id)
        if unit is None or unit.building.site_id != act.site.id:
            raise NotFoundError("本小区没有此房号", f"no unit {inp.unit_id} at this site",
                                "unit_id")
        old = act.session.scalars(select(Household).where(
            Household.unit_id == unit.id, Household.kind == HouseholdKind.OWNERSHIP,
            Household.ended_on.is_(None))).one_or_none()
        if old is not None:
            owed = unpaid_fees(act, old)
            if owed:
                total = yuan(sum(f.amount_fen for f in owed))
                raise RuleRefused("H8", f"原业主尚有 {len(owed)} 笔费用共 {total} 元未结清，"
                                  "须先结清方可办理新业主入住",
                                  f"the old owner still owes {total} yuan in {len(owed)} "
                                  "fee(s); they are settled before the new owner moves in",
                                  "unit_id")
        new = Household(unit_id=unit.id, kind=HouseholdKind.OWNERSHIP,
                        started_on=inp.moved_in_on, created_at=act.now)
        act.session.add(new)
        act.session.flush()
        details = inp.new_owner
        owner = Person(site_id=act.site.id, household_id=new.id, name=details.name,
                       holder_kind=HolderKind.OWNER, relation_to_householder=Relationship.SELF,
                       id_number=details.id_number, phone=details.phone,
                       organisation=details.organisation, created_at=act.now)
        act.session.add(owner)
        act.session.flush()
        application = open_application(act, ApplicationKind.OWNERSHIP_TRANSFER,
                                       applicant=owner, household=new, in_person=True)
        add_evidence(act, application, EvidenceKind.PURCHASE_CONTRACT,
                     reference=inp.purchase_contract_ref, method=ConfirmationMethod.DOCUMENT)
        stopped: list[str] = []
        if old is not None:
            old.ended_on = inp.moved_in_on
            stopped = _stop_cards(act, old, inp.moved_in_on)
        return TransferResult(new.id, owner.id, tuple(stopped))


def _stop_cards(act: Action, household: Household, moved_in_on: date) -> list[str]:
    cards = act.session.scalars(
        select(Card).join(Person, Card.holder_person_id == Person.id).where(
            Person.household_id == household.id, Card.state == CardState.ACTIVE)
        .order_by(Card.id)).all()
    last_day = moved_in_on - timedelta(days=1)
    why = f"H8: new owner moves in on {moved_in_on}"
    for card in cards:
        if moved_in_on <= act.today:
            card.state = CardState.REVOKED
            write_register(act, card, RegisterAction.REVOKE, None, detail=why)
        elif card.valid_until is None or card.valid_until > last_day:
            card.valid_until = last_day
            write_register(act, card, RegisterAction.VALIDITY_CHANGED, None,
                           detail=f"{why}; valid until {last_day}")
        card.updated_at = act.now
    return [c.uid for c in cards]
