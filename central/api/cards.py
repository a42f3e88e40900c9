"""Issuing cards — resident (H1 H2 I4 I5), merchant (H3), staff (H4) — and looking one up
with its balance (L1). Each issue is one service call, one transaction: a refusal writes
nothing, not even the first of five cards."""

from __future__ import annotations

from datetime import date

from fastapi import Request
from pydantic import BaseModel, Field

from central.api.body import body_doc, form_input, path_uid
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import (
    CountersignBody,
    Id,
    Money,
    OwnerConfirmationBody,
    PersonDetailsBody,
    RequestModel,
    SignOffBody,
    Uid,
    UidPath,
)
from central.api.state import api_state
from central.models import CardState, HolderKind, PaymentMethod, Relationship
from central.services import other_cards, resident_cards
from central.services.card_activation import IssueResult
from central.services.card_changes import card_summary

router = protected_router("cards")

GROUPS_DOC = "access group names; empty: the building's default groups (resident cards)"
SCHEDULE_DOC = "weekly hours, e.g. `Mon-Sat 08:00-12:00 14:00-18:00`; omit for always"


class ResidentCardLineBody(RequestModel):
    """One card of a resident application: a holder on record (``holder_person_id``, ID
    shown) or a new one (``new_holder``), the stated relationship, the holder's signature."""

    uid: Uid
    relationship: Relationship | None = Field(None, description="to the applicant, as "
                                              "stated; missing is refused by rule I5")
    holder_person_id: Id | None = None
    new_holder: PersonDetailsBody | None = None
    id_number_presented: str | None = Field(None, max_length=32, description="the ID the "
                                            "holder shows, checked against the record (H1)")
    access_groups: list[str] | None = Field(None, description=GROUPS_DOC)
    holder_signoff: SignOffBody | None = Field(None, description="the holder signs for the "
                                               "card; missing is refused by rule I5")


class TenantDocumentsBody(RequestModel):
    """Rule H2: the lease contract and the tenant's ID copy, by reference."""

    lease_contract_ref: str = Field(max_length=200)
    id_copy_ref: str = Field(max_length=200)


class IssueResidentCardsBody(RequestModel):
    """A household's application for resident cards (住户智能卡办理申请表)."""

    household_id: Id
    applicant_person_id: Id
    applicant_in_person: bool = Field(description="I5: the resident applies in person")
    lines: list[ResidentCardLineBody] = Field(min_length=1, max_length=50)
    owner_confirmation: OwnerConfirmationBody | None = Field(
        None, description="H1: needed when a line has a new family member")
    tenant_documents: TenantDocumentsBody | None = Field(None, description="H2: tenancies")
    payment_method: PaymentMethod | None = None


class IssueMerchantCardBody(RequestModel):
    """Rule H3: a merchant's card."""

    uid: Uid
    holder_person_id: Id | None = None
    new_holder: PersonDetailsBody | None = None
    seal_application_ref: str | None = Field(None, max_length=200,
                                             description="the application under the seal")
    shop_manager: CountersignBody | None = None
    department_head: CountersignBody | None = None
    holder_signoff: SignOffBody | None = None
    access_groups: list[str] | None = Field(None, description=GROUPS_DOC)
    schedule: str | None = Field(None, max_length=200, description=SCHEDULE_DOC)
    payment_method: PaymentMethod | None = None


class IssueStaffCardBody(RequestModel):
    """Rule H4: an internal staff card (free; a lead authorises it)."""

    uid: Uid
    holder_person_id: Id | None = None
    new_holder: PersonDetailsBody | None = None
    written_application_ref: str | None = Field(None, max_length=200)
    department_head: CountersignBody | None = None
    holder_signoff: SignOffBody | None = None
    access_groups: list[str] | None = Field(None, description=GROUPS_DOC)
    schedule: str | None = Field(None, max_length=200, description=SCHEDULE_DOC)


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
             openapi_extra=body_doc(IssueResidentCardsBody))
def issue_resident_cards(request: Request, actor: ActorDep, body: BodyDep) -> IssueOut:
    """Issue the cards of one household's application, all or none (H1 H2 I1 I2 I4 I5 I6)."""
    inp = form_input(body, IssueResidentCardsBody, resident_cards.IssueResidentCards.from_form)
    return _issued(resident_cards.issue_resident_cards(api_state(request).desk, actor, inp))


@router.post("/cards/merchant", status_code=201, responses=ISSUE_ERRORS,
             openapi_extra=body_doc(IssueMerchantCardBody))
def issue_merchant_card(request: Request, actor: ActorDep, body: BodyDep) -> IssueOut:
    """Issue a merchant's card: sealed application, shop manager, department head (H3)."""
    inp = form_input(body, IssueMerchantCardBody, other_cards.IssueMerchantCard.from_form)
    return _issued(other_cards.issue_merchant_card(api_state(request).desk, actor, inp))


@router.post("/cards/staff", status_code=201, responses=ISSUE_ERRORS,
             openapi_extra=body_doc(IssueStaffCardBody))
def issue_staff_card(request: Request, actor: ActorDep, body: BodyDep) -> IssueOut:
    """Issue an internal staff card, free, authorised by a lead (H4)."""
    inp = form_input(body, IssueStaffCardBody, other_cards.IssueStaffCard.from_form)
    return _issued(other_cards.issue_staff_card(api_state(request).desk, actor, inp))


@router.get("/cards/{uid}", responses=error_responses(404))
def get_card(request: Request, actor: ActorDep, uid: UidPath) -> CardOut:
    """A card: state, holder, validity, balance (shown to the holder at a loss, L1), groups."""
    s = card_summary(api_state(request).desk, actor, path_uid("uid", uid))
    return CardOut(uid=s.uid, state=s.state, holder_person_id=s.holder_person_id,
                   holder_name=s.holder_name, holder_kind=s.holder_kind,
                   valid_until=s.valid_until, balance=Money.of(s.balance_fen),
                   access_groups=list(s.access_groups))
