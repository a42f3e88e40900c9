"""Goods release (物品放行), rule G4: the desk issues a numbered release slip only when the
unit has no arrears (anyone but an owner only with the owner's written consent), the
customer-service lead approves it; at the exit the guard checks the goods and the person,
records the time and signs; the used slips are filed at the desk by 08:30 the next day and
late ones are listed; long-term goods passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Request
from pydantic import BaseModel

from central.api.body import path_integer
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import IdPath
from central.api.state import api_state
from central.form_fields import Id, Items
from central.form_input import FormInput
from central.services import goods
from central.services.goods import FiledSlip

router = protected_router("goods")
GOODS_ERRORS = error_responses(404, 409, 413, 415)
MAX_SLIPS_FILED = 500  # a day's slips of a large compound, with room to spare


@dataclass(frozen=True)
class FileSlips(FormInput):
    """Used slips the exit posts handed in, by number (each kept once)."""

    numbers: Annotated[tuple[Id, ...], Items(min=1, max=MAX_SLIPS_FILED)]


GOODS_SLIP_BODY = Body(goods.IssueGoodsSlip, name="GoodsSlipBody")
GOODS_EXIT_BODY = Body(goods.RecordGoodsExit, path=("number",), name="GoodsExitBody")
FILE_SLIPS_BODY = Body(FileSlips)
GOODS_PASS_BODY = Body(goods.IssueGoodsPass, name="GoodsPassBody")


class SlipOut(BaseModel):
    """The slip written."""

    number: int
    valid_on: date


class ExitOut(BaseModel):
    """The goods left: when (stamped by the server's clock)."""

    number: int
    left_at: datetime


class FiledSlipOut(BaseModel):
    """A used slip and its filing deadline (08:30 the next day, site-local)."""

    number: int
    due_at: datetime
    late: bool


class ApprovedOut(BaseModel):
    """The slip approved: by whom is the caller; when, by the server's clock."""

    number: int
    approved_at: datetime


class GoodsPassOut(BaseModel):
    """The pass written and its last valid day."""

    pass_id: int
    valid_until: date


def _filed(slips: tuple[FiledSlip, ...]) -> list[FiledSlipOut]:
    return [FiledSlipOut(number=s.number, due_at=s.due_at, late=s.late) for s in slips]


@router.post("/goods-slips", status_code=201, responses=GOODS_ERRORS,
             openapi_extra=GOODS_SLIP_BODY.openapi)
def issue_goods_slip(request: Request, actor: ActorDep, body: BodyDep) -> SlipOut:
    """Issue a numbered release slip: refused with rule G4 while the unit is in arrears
    (overdue fees on any of its households), or for anyone but an owner without the current
    owner's written consent."""
    inp = GOODS_SLIP_BODY.read(body)
    return SlipOut(number=goods.issue_goods_slip(api_state(request).desk, actor, inp),
                   valid_on=inp.valid_on)


@router.post("/goods-slips/{number}/approve", responses=GOODS_ERRORS)
def approve_goods_slip(request: Request, actor: ActorDep, number: IdPath) -> ApprovedOut:
    """The head of the stewards (管家部负责人: the customer-service lead) approves a slip
    someone else issued; the exit lets goods out only on an approved slip (G4, seed 003)."""
    slip = path_integer("number", number)
    approved_at = goods.approve_goods_slip(api_state(request).desk, actor, slip)
    return ApprovedOut(number=slip, approved_at=approved_at)


@router.post("/goods-slips/{number}/exit", responses=GOODS_ERRORS,
             openapi_extra=GOODS_EXIT_BODY.openapi)
def record_goods_exit(request: Request, actor: ActorDep, number: IdPath,
                      body: BodyDep) -> ExitOut:
    """The guard lets the goods out (G4): the slip is for today, goods and person match,
    the guard signs; the time is recorded."""
    inp = GOODS_EXIT_BODY.read(body, number=number)
    left_at = goods.record_goods_exit(api_state(request).desk, actor, inp)
    return ExitOut(number=inp.number, left_at=left_at)


@router.post("/goods-slips/filed", responses=GOODS_ERRORS, openapi_extra=FILE_SLIPS_BODY.openapi)
def file_goods_slips(request: Request, actor: ActorDep, body: BodyDep) -> list[FiledSlipOut]:
    """File used slips handed in by the exit posts; a late one is filed and shown late."""
    inp = FILE_SLIPS_BODY.read(body)
    return _filed(goods.file_goods_slips(api_state(request).desk, actor, inp.numbers))


@router.get("/goods-slips/overdue")
def list_overdue_goods_slips(request: Request, actor: ActorDep) -> list[FiledSlipOut]:
    """Used slips not filed by their deadline, oldest first: what the desk chases."""
    return _filed(goods.overdue_goods_slips(api_state(request).desk, actor))


@router.post("/goods-passes", status_code=201, responses=GOODS_ERRORS,
             openapi_extra=GOODS_PASS_BODY.openapi)
def issue_goods_pass(request: Request, actor: ActorDep, body: BodyDep) -> GoodsPassOut:
    """Issue a long-term goods pass, valid one year, to a current resident showing an ID
    that matches the record (G4)."""
    inp = GOODS_PASS_BODY.read(body)
    pass_id, until = goods.issue_goods_pass(api_state(request).desk, actor, inp)
    return GoodsPassOut(pass_id=pass_id, valid_until=until)
