"""Visitors, rules H7 and G5: the temporary pass (at most three days, optionally on a lent
card) and the temporary parking permit (at most seven days) and its return; the gate's
visitor register — registration, exit, the day's register. Every ID number in an answer is
shown as the caller's role may see it (central/services/privacy.py): in full to the director
only, masked (``110***********1234``) to guards, clerks and leads."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from central.api.body import path_integer, query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep, reading
from central.api.shapes import (
    IdPath,
)
from central.api.state import api_state
from central.services import visitors
from central.services.visitors import VisitorRegistrationView

router = protected_router("visitors")
VISITOR_ERRORS = error_responses(404, 409, 413, 415)
PLATE_DOC = "the plate as written (`粤B·12345`); stored upper case, separators dropped"
VISITOR_PASS_BODY = Body(visitors.IssueVisitorPass, name="VisitorPassBody")
PARKING_PERMIT_BODY = Body(visitors.IssueParkingPermit, name="ParkingPermitBody")
REGISTER_VISITOR_BODY = Body(visitors.RegisterVisitor)


class VisitorPassOut(BaseModel):
    """The pass written; the ID number as the caller's role may see it (G5)."""

    pass_id: int
    visitor_person_id: int
    visitor_name: str
    id_number: str
    valid_from: date
    valid_until: date
    card_uid: str | None


class PermitOut(BaseModel):
    """The permit written."""

    permit_id: int
    plate: str
    valid_from: date
    valid_until: date


class PermitReturnedOut(BaseModel):
    """The permit handed back."""

    permit_id: int
    returned: bool


class VisitorOut(BaseModel):
    """One line of the visitor register; the ID number as the caller's role may see it."""

    registration_id: int
    name: str
    id_number: str
    plate: str | None
    items: str
    time_in: datetime
    time_out: datetime | None
    gate_id: int | None


class VisitorExitOut(BaseModel):
    """The visitor's departure recorded."""

    registration_id: int
    left: bool


def _visitor(v: VisitorRegistrationView) -> VisitorOut:
    return VisitorOut(registration_id=v.registration_id, name=v.name, id_number=v.id_number,
                      plate=v.plate, items=v.items, time_in=v.time_in, time_out=v.time_out,
                      gate_id=v.gate_id)


@router.post("/visitor-passes", status_code=201, responses=VISITOR_ERRORS,
             openapi_extra=VISITOR_PASS_BODY.openapi)
def issue_visitor_pass(request: Request, actor: ActorDep, body: BodyDep) -> VisitorPassOut:
    """Issue a visitor's temporary pass (H7): at most three days; a resident's visitor is
    confirmed by that resident; a lent card is blank (I6) and signed for (I1)."""
    inp = VISITOR_PASS_BODY.read(body)
    r = visitors.issue_visitor_pass(api_state(request).desk, actor, inp)
    return VisitorPassOut(pass_id=r.pass_id, visitor_person_id=r.visitor_person_id,
                          visitor_name=r.visitor_name, id_number=r.id_number,
                          valid_from=r.valid_from, valid_until=r.valid_until,
                          card_uid=r.card_uid)


@router.post("/parking-permits", status_code=201, responses=VISITOR_ERRORS,
             openapi_extra=PARKING_PERMIT_BODY.openapi)
def issue_parking_permit(request: Request, actor: ActorDep, body: BodyDep) -> PermitOut:
    """Issue a temporary parking permit for a resident's visitor: at most seven days (H7)."""
    inp = PARKING_PERMIT_BODY.read(body)
    permit_id = visitors.issue_parking_permit(api_state(request).desk, actor, inp)
    return PermitOut(permit_id=permit_id, plate=inp.plate, valid_from=inp.valid_from,
                     valid_until=inp.valid_until)


@router.post("/parking-permits/{permit_id}/return", responses=error_responses(404, 409))
def return_parking_permit(request: Request, actor: ActorDep,
                          permit_id: IdPath) -> PermitReturnedOut:
    """Record a temporary parking permit handed back."""
    number = path_integer("permit_id", permit_id)
    visitors.return_parking_permit(api_state(request).desk, actor, number)
    return PermitReturnedOut(permit_id=number, returned=True)


@router.post("/visitors", status_code=201, responses=VISITOR_ERRORS,
             openapi_extra=REGISTER_VISITOR_BODY.openapi)
def register_visitor(request: Request, actor: ActorDep, body: BodyDep) -> VisitorOut:
    """Register a visitor at the gate: name, the ID number shown (refused without it, G5),
    plate, time in, items."""
    inp = REGISTER_VISITOR_BODY.read(body)
    return _visitor(visitors.register_visitor(api_state(request).desk, actor, inp))


@router.post("/visitors/{registration_id}/exit", responses=error_responses(404, 409))
def record_visitor_exit(request: Request, actor: ActorDep,
                        registration_id: IdPath) -> VisitorExitOut:
    """The visitor left: the time out is stamped now."""
    number = path_integer("registration_id", registration_id)
    visitors.record_visitor_exit(api_state(request).desk, actor, number)
    return VisitorExitOut(registration_id=number, left=True)


@router.get("/visitors")
def list_visitors(
        request: Request, actor: ActorDep,
        day: Annotated[str | None, Query(json_schema_extra={"format": "date"},
                                         description="site-local; default today")] = None,
) -> list[VisitorOut]:
    """The visitor register of a day, oldest first; ID numbers masked unless the caller's
    role sees them in full (G5)."""
    q = query_reader({"day": day})
    chosen = q.opt_date("day")
    q.finish()
    if chosen is None:
        # "Today" is the site's calendar day, which only an authorised action knows.
        with reading(request, actor) as act:
            chosen = act.today
    return [_visitor(v) for v in visitors.visitor_register(api_state(request).desk, actor,
                                                           chosen)]
