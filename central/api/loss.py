"""Lost and damaged cards: the holder's report (L1; a staff holder's compensation, L3),
the director's review and the replacement (L2, with the fee of I3)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from central.api.body import query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.reader_uids import UID_QUERY
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import (
    IdPath,
    Money,
    UidPath,
)
from central.api.state import api_state
from central.models import LossKind
from central.services import loss
from central.services.context import Actor

router = protected_router("loss")
LOSS_ERRORS = error_responses(404, 409, 413, 415)
LIST_LIMIT = 500
REPORT_LOST_BODY = Body(loss.ReportLoss, path=("uid",), omit=loss.DAMAGE_ONLY,
                        name="ReportLostBody",
                        description="The holder's loss application (挂失申请书), L1.")
REPORT_DAMAGED_BODY = Body(loss.ReportLoss, path=("uid",), name="ReportDamagedBody",
                           description="The holder's damage application (报损申请书), L2.")
REPLACE_BODY = Body(loss.ReplaceCard, path=("old_uid",), name="ReplaceBody")
REVIEW_BODY = Body(loss.ReviewLoss, path=("report_id",), name="ReviewBody")


class LossOut(BaseModel):
    """The report written, the balance shown, any L3 compensation taken."""

    report_id: int
    balance: Money
    compensation: Money
    receipt_number: int | None


class ReplaceOut(BaseModel):
    """The new card, its fee (zero when free under I3), its receipt, its balance."""

    new_uid: str
    fee: Money
    receipt_number: int | None
    balance: Money


class ReviewOut(BaseModel):
    """The review recorded."""

    report_id: int
    approved: bool


class LossReportOut(BaseModel):
    """A loss or damage report and where it stands."""

    id: int
    uid: str
    kind: LossKind
    reported_on: date
    holder_person_id: int
    balance_shown: Money
    holder_fault: bool
    card_taken_back: bool
    compensation: Money
    reviewed_at: datetime | None
    review_approved: bool | None
    review_note: str
    replaced: bool


def _report(kind: str, *, request: Request, actor: Actor, uid: str, body: object,
            model: Body[loss.ReportLoss]) -> LossOut:
    inp = model.read(body, uid=uid)
    desk = api_state(request).desk
    result = (loss.report_lost if kind == "lost" else loss.report_damaged)(desk, actor, inp)
    return LossOut(report_id=result.report_id, balance=Money.of(result.balance_fen),
                   compensation=Money.of(result.compensation_fen),
                   receipt_number=result.receipt_number)


@router.post("/cards/{uid}/report-lost", status_code=201, responses=LOSS_ERRORS,
             openapi_extra=REPORT_LOST_BODY.openapi)
def report_lost(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> LossOut:
    """The holder, in person, shown the balance and agreeing, reports the card lost: it is
    refused at every gate from now (L1). A staff card costs its holder 20 (L3)."""
    return _report("lost", request=request, actor=actor, uid=uid, body=body,
                   model=REPORT_LOST_BODY)


@router.post("/cards/{uid}/report-damaged", status_code=201, responses=LOSS_ERRORS,
             openapi_extra=REPORT_DAMAGED_BODY.openapi)
def report_damaged(request: Request, actor: ActorDep, uid: UidPath,
                   body: BodyDep) -> LossOut:
    """A damaged card is reported and taken back (L2); a staff card damaged by its holder
    costs 20 (L3)."""
    return _report("damaged", request=request, actor=actor, uid=uid, body=body,
                   model=REPORT_DAMAGED_BODY)


@router.post("/cards/{uid}/replace", status_code=201, responses=LOSS_ERRORS,
             openapi_extra=REPLACE_BODY.openapi)
def replace_card(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> ReplaceOut:
    """Issue the replacement of a reported card once the director approved the report: the
    new card gets the old one's grants and balance; the fee follows I3 (L2)."""
    inp = REPLACE_BODY.read(body, old_uid=uid)
    result = loss.replace_card(api_state(request).desk, actor, inp)
    return ReplaceOut(new_uid=result.new_uid, fee=Money.of(result.fee_fen),
                      receipt_number=result.receipt_number,
                      balance=Money.of(result.balance_fen))


@router.post("/loss-reports/{report_id}/review", responses=error_responses(404, 409, 413, 415),
             openapi_extra=REVIEW_BODY.openapi)
def review_loss(request: Request, actor: ActorDep, report_id: IdPath,
                body: BodyDep) -> ReviewOut:
    """The office director reviews a loss or damage report (L2); a rejected one may be
    reviewed again."""
    inp = REVIEW_BODY.read(body, report_id=report_id)
    loss.review_loss(api_state(request).desk, actor, inp)
    return ReviewOut(report_id=inp.report_id, approved=inp.approved)


@router.get("/loss-reports")
def list_loss_reports(
        request: Request, actor: ActorDep,
        uid: Annotated[str | None, UID_QUERY],
        pending: Annotated[str | None, Query(json_schema_extra={"type": "boolean"},
                                             description="only reports not yet approved "
                                             "and not yet replaced")] = None,
) -> list[LossReportOut]:
    """Loss and damage reports of the site, newest first (at most 500)."""
    q = query_reader({"uid": uid, "pending": pending})
    card_uid = q.uid("uid") if q.present("uid") else None
    only_pending = q.flag("pending")
    q.finish()
    found = loss.loss_reports(api_state(request).desk, actor, pending_only=only_pending,
                              uid=card_uid, limit=LIST_LIMIT)
    return [LossReportOut(
        id=r.id, uid=r.uid, kind=r.kind, reported_on=r.reported_on,
        holder_person_id=r.holder_person_id, balance_shown=Money.of(r.balance_shown_fen),
        holder_fault=r.holder_fault, card_taken_back=r.card_taken_back,
        compensation=Money.of(r.compensation_fen), reviewed_at=r.reviewed_at,
        review_approved=r.review_approved, review_note=r.review_note,
        replaced=r.replacement_uid is not None)
        for r in found]
