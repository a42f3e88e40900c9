"""Issuing cards — resident (H1 H2 I4 I5), merchant (H3), staff (H4) — and looking one up
with its balance (L1). Each issue is one service call, one transaction: a refusal writes
nothing, not even the first of five cards."""

from __future__ import annotations

from datetime import date

from fastapi import Request
from pydantic import BaseModel, Field

from central.api.body import path_uid
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import (
    Money,
    UidPath,
)
from central.api.state import api_state
from central.models import CardState, HolderKind
from central.services import other_cards, resident_cards
from central.services.card_activation import IssueResult
from central.services.card_changes import card_summary

router = protected_router("cards")
ISSUE_RESIDENT_CARDS_BODY = Body(resident_cards.IssueResidentCards)
ISSUE_MERCHANT_CARD_BODY = Body(other_cards.IssueMerchantCard)
ISSUE_STAFF_CARD_BODY = Body(other_cards.IssueStaffCard)

GROUPS_DOC = "access group names; empty: the building's default groups (resident cards)"
SCHEDULE_DOC = "weekly hours, e.g. `Mon-Sat 08:00-12:00 14:00-18:00`; omit for always"


class IssuedCardOut(BaseModel):
    """One card handed over."""

    uid: str
    holder_person_id: int
    holder_name: str
    holder_kind: HolderKind
    valid_until: date | None = Field(description="inclusive, site-local; null: no expiry")
    fee: Money


class IssueOut(BaseModel):
    """What an issue did: the cards, and the receipt if money was taken (I2)."""

    application_id: int
    cards: list[IssuedCardOut]
    receipt_number: int | None
    total: Money


class CardOut(BaseModel):
    """A card as the desk sees it, with its balance (L1)."""

    uid: str
    state: CardState
    holder_person_id: int | None
    holder_name: str
    holder_kind: HolderKind | None
    valid_until: date | None
    balance: Money
    access_groups: list[str]


def _issued(result: IssueResult) -> IssueOut:
    return IssueOut(
        application_id=result.application_id, receipt_number=result.receipt_number,
        total=Money.of(result.total_fen),
        cards=[IssuedCardOut(uid=c.uid, holder_person_id=c.holder_person_id,
                             holder_name=c.holder_name, holder_kind=c.holder_kind,
                             valid_until=c.valid_until, fee=Money.of(c.fee_fen))
               for c in result.cards])


ISSUE_ERRORS = error_responses(404, 409, 413, 415)


@router.post("/cards/resident", status_code=201, responses=ISSUE_ERRORS,
             openapi_extra=ISSUE_RESIDENT_CARDS_BODY.openapi)
def issue_resident_cards(request: Request, actor: ActorDep, body: BodyDep) -> IssueOut:
    """Issue the cards of one household's application, all or none (H1 H2 I1 I2 I4 I5 I6)."""
    inp = ISSUE_RESIDENT_CARDS_BODY.read(body)
    return _issued(resident_cards.issue_resident_cards(api_state(request).desk, actor, inp))


@router.post("/cards/merchant", status_code=201, responses=ISSUE_ERRORS,
             openapi_extra=ISSUE_MERCHANT_CARD_BODY.openapi)
def issue_merchant_card(request: Request, actor: ActorDep, body: BodyDep) -> IssueOut:
    """Issue a merchant's card: sealed application, shop manager, department head (H3)."""
    inp = ISSUE_MERCHANT_CARD_BODY.read(body)
    return _issued(other_cards.issue_merchant_card(api_state(request).desk, actor, inp))


@router.post("/cards/staff", status_code=201, responses=ISSUE_ERRORS,
             openapi_extra=ISSUE_STAFF_CARD_BODY.openapi)
def issue_staff_card(request: Request, actor: ActorDep, body: BodyDep) -> IssueOut:
    """Issue an internal staff card, free, authorised by a lead (H4)."""
    inp = ISSUE_STAFF_CARD_BODY.read(body)
    return _issued(other_cards.issue_staff_card(api_state(request).desk, actor, inp))


@router.get("/cards/{uid}", responses=error_responses(404))
def get_card(request: Request, actor: ActorDep, uid: UidPath) -> CardOut:
    """A card: state, holder, validity, balance (shown to the holder at a loss, L1), groups."""
    s = card_summary(api_state(request).desk, actor, path_uid("uid", uid))
    return CardOut(uid=s.uid, state=s.state, holder_person_id=s.holder_person_id,
                   holder_name=s.holder_name, holder_kind=s.holder_kind,
                   valid_until=s.valid_until, balance=Money.of(s.balance_fen),
                   access_groups=list(s.access_groups))
