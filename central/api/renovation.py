"""Renovation filings (装修备案), rule H6, and their deposits, rule G6: file a renovation
(deposits taken against receipts), lend the workers temporary cards valid exactly as long as
the filing and only in working hours, extend it ("延期至 DATE", every card follows), look it
up (ID numbers as the caller's role may see them, G5), take the cards back and refund the
deposits once every card is back."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import Request
from pydantic import BaseModel, Field

from central.api.body import path_integer
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import (
    IdPath,
    Money,
)
from central.api.state import api_state
from central.models import DepositPayer
from central.services import renovation, renovation_approval, renovation_deposits
from central.services.renovation_deposits import DepositTaken

router = protected_router("renovation")
RENOVATION_ERRORS = error_responses(404, 409, 413, 415)
FILE_RENOVATION_BODY = Body(renovation.FileRenovation)
WORKER_CARDS_BODY = Body(renovation.IssueWorkerCards, path=("filing_id",), name="WorkerCardsBody")
EXTEND_BODY = Body(renovation.ExtendRenovation, path=("filing_id",), name="ExtendBody")
RETURN_CARDS_BODY = Body(renovation_deposits.ReturnWorkerCards, path=("filing_id",),
                         name="ReturnCardsBody")
REFUND_BODY = Body(renovation_deposits.RefundDeposit, path=("filing_id", "receipt_number"),
                   name="RefundBody")


class DepositOut(BaseModel):
    """A deposit and the receipt that took it."""

    payer: DepositPayer
    payer_name: str
    amount: Money
    receipt_number: int
    refunded: bool


class FilingOut(BaseModel):
    """The filing recorded and its deposits."""

    filing_id: int
    starts_on: date
    ends_on: date
    deposits: list[DepositOut]
    approved: bool = Field(description="false: awaiting the director's approval before "
                           "workers' cards (seed 001, site setting)")


class ApprovedFilingOut(BaseModel):
    """The filing approved: by whom is the caller; when, by the server's clock."""

    filing_id: int
    approved_at: datetime


class WorkerCardOut(BaseModel):
    """A worker's card; the ID number as the caller's role may see it (G5)."""

    uid: str
    person_id: int
    name: str
    id_number: str
    valid_until: date
    schedule: str = Field(description="the permitted working hours")
    returned: bool


class ExtensionOut(BaseModel):
    """The old and new end, what the desk writes on each card, the cards moved."""

    filing_id: int
    previous_end: date
    new_end: date
    marking: str
    cards: list[str]


class FilingViewOut(BaseModel):
    """The renovation ledger's view of a filing (装修台帐)."""

    filing_id: int
    unit: str
    starts_on: date
    ends_on: date
    extensions: int
    workers: list[WorkerCardOut]
    deposits: list[DepositOut]


class ReturnedOut(BaseModel):
    """The cards taken back (formatted for re-use) and how many are still out."""

    filing_id: int
    returned: list[str]
    still_out: int


def _deposit(d: DepositTaken) -> DepositOut:
    return DepositOut(payer=d.payer, payer_name=d.payer_name, amount=Money.of(d.amount_fen),
                      receipt_number=d.receipt_number, refunded=d.refunded)


def _worker(w: renovation.WorkerCardView) -> WorkerCardOut:
    return WorkerCardOut(uid=w.uid, person_id=w.person_id, name=w.name, id_number=w.id_number,
                         valid_until=w.valid_until, schedule=w.schedule, returned=w.returned)


@router.post("/renovations", status_code=201, responses=RENOVATION_ERRORS,
             openapi_extra=FILE_RENOVATION_BODY.openapi)
def file_renovation(request: Request, actor: ActorDep, body: BodyDep) -> FilingOut:
    """Record a renovation filing (H6; a non-owner with the owner's written consent) and
    take its deposits, one receipt per payer (G6, I7)."""
    inp = FILE_RENOVATION_BODY.read(body)
    result = renovation.file_renovation(api_state(request).desk, actor, inp)
    return FilingOut(filing_id=result.filing_id, starts_on=result.starts_on,
                     ends_on=result.ends_on, deposits=[_deposit(d) for d in result.deposits],
                     approved=result.approved)


@router.post("/renovations/{filing_id}/approve", responses=RENOVATION_ERRORS)
def approve_renovation(request: Request, actor: ActorDep,
                       filing_id: IdPath) -> ApprovedFilingOut:
    """The service centre's manager — the director — approves a filing (H6, seed 001);
    workers' cards are lent only after it where the site keeps the step."""
    filing = path_integer("filing_id", filing_id)
    approved_at = renovation_approval.approve_renovation(api_state(request).desk, actor, filing)
    return ApprovedFilingOut(filing_id=filing, approved_at=approved_at)


@router.post("/renovations/{filing_id}/worker-cards", status_code=201,
             responses=RENOVATION_ERRORS, openapi_extra=WORKER_CARDS_BODY.openapi)
def issue_worker_cards(request: Request, actor: ActorDep, filing_id: IdPath,
                       body: BodyDep) -> list[WorkerCardOut]:
    """Lend each worker a temporary card: valid to the filing's end, for the unit's
    building, in working hours only (H6); lent against the deposit, so no fee."""
    inp = WORKER_CARDS_BODY.read(body, filing_id=filing_id)
    return [_worker(w) for w in renovation.issue_worker_cards(api_state(request).desk, actor,
                                                              inp)]


@router.post("/renovations/{filing_id}/extend", responses=RENOVATION_ERRORS,
             openapi_extra=EXTEND_BODY.openapi)
def extend_renovation(request: Request, actor: ActorDep, filing_id: IdPath,
                      body: BodyDep) -> ExtensionOut:
    """Extend a filing by at most three months from the day after its end (H6); every card
    still out moves with it."""
    inp = EXTEND_BODY.read(body, filing_id=filing_id)
    result = renovation.extend_renovation(api_state(request).desk, actor, inp)
    return ExtensionOut(filing_id=result.filing_id, previous_end=result.previous_end,
                        new_end=result.new_end, marking=result.marking, cards=list(result.cards))


@router.get("/renovations/{filing_id}", responses=error_responses(404))
def get_renovation(request: Request, actor: ActorDep, filing_id: IdPath) -> FilingViewOut:
    """A filing: its period, extensions, workers and their cards, deposits."""
    view = renovation.filing_summary(api_state(request).desk, actor,
                                     path_integer("filing_id", filing_id))
    return FilingViewOut(filing_id=view.filing_id, unit=view.unit, starts_on=view.starts_on,
                         ends_on=view.ends_on, extensions=view.extensions,
                         workers=[_worker(w) for w in view.workers],
                         deposits=[_deposit(d) for d in view.deposits])


@router.post("/renovations/{filing_id}/returned-cards", responses=RENOVATION_ERRORS,
             openapi_extra=RETURN_CARDS_BODY.openapi)
def return_worker_cards(request: Request, actor: ActorDep, filing_id: IdPath,
                        body: BodyDep) -> ReturnedOut:
    """Take workers' cards back: each is formatted for re-use (I6) and counted against the
    filing (G6)."""
    inp = RETURN_CARDS_BODY.read(body, filing_id=filing_id)
    still_out = renovation_deposits.return_worker_cards(api_state(request).desk, actor, inp)
    return ReturnedOut(filing_id=inp.filing_id, returned=list(inp.uids), still_out=still_out)


@router.post("/renovations/{filing_id}/deposits/{receipt_number}/refund",
             responses=RENOVATION_ERRORS, openapi_extra=REFUND_BODY.openapi)
def refund_renovation_deposit(request: Request, actor: ActorDep, filing_id: IdPath,
                              receipt_number: IdPath, body: BodyDep) -> DepositOut:
    """Refund one deposit against its receipt, signed for by its payer; refused with rule
    G6 while any worker's card is still out."""
    inp = REFUND_BODY.read(body, filing_id=filing_id, receipt_number=receipt_number)
    return _deposit(renovation_deposits.refund_deposit(api_state(request).desk, actor, inp))
