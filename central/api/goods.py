"""Goods release (物品放行), rule G4: the desk issues a numbered release slip only when the
unit has no arrears (anyone but an owner only with the owner's written consent), the
customer-service lead approves it; at the exit the guard checks the goods and the person,
records the time and signs; the used slips are filed at the desk by 08:30 the next day and
late ones are listed; long-term goods passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field

from central.api.body import body_doc, form_input, path_integer
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import Id, IdPath, RequestModel, SignOffBody
from central.api.state import api_state
from central.forms import FormReader
from central.models import ConfirmationMethod
from central.services import goods
from central.services.goods import FiledSlip

router = protected_router("goods")
GOODS_ERRORS = error_responses(404, 409, 413, 415)
MAX_SLIPS_FILED = 500  # a day's slips of a large compound, with room to spare


class OwnerConsentBody(RequestModel):
    """The unit's current owner consents in writing (rules G4, H6) — who, how, when, which
    paper."""

    owner_person_id: Id
    method: ConfirmationMethod = Field(description="`document` (signed) or `sealed`; "
                                       "`phone` and `in_person` are refused")
    confirmed_at: datetime = Field(description="with its UTC offset")
    reference: str | None = Field(None, max_length=200, description="the consent's number or "
                                  "where the paper is kept (required)")


class GoodsSlipBody(RequestModel):
    """A release slip (物品放行条): whose goods, who carries them, what, which day."""

    household_id: Id
    applicant_person_id: Id
    carrier_name: str = Field(max_length=100)
    items: str = Field(max_length=1000)
    valid_on: date = Field(description="the one day the slip is good for")
    owner_consent: OwnerConsentBody | None = Field(None, description="anyone but an owner "
                                                   "needs it (G4)")


class GoodsExitBody(RequestModel):
    """At the exit: what the guard checked against the slip, and the guard's signature."""

    gate_code: str = Field(max_length=64, description="the exit (site.toml gate code)")
    items_match: bool | None = Field(None, description="the goods are those on the slip")
    carrier_matches: bool | None = Field(None, description="the person is the one named")
    guard_signoff: SignOffBody | None = Field(None, description="the guard on duty, by name")


class FileSlipsBody(RequestModel):
    """Used slips the exit posts handed in."""

    numbers: list[Id] = Field(min_length=1, max_length=MAX_SLIPS_FILED)


class GoodsPassBody(RequestModel):
    """A long-term goods pass (常住物品放行证) for a resident showing their ID."""

    person_id: Id
    id_number_presented: str | None = Field(None, max_length=32)


@dataclass(frozen=True)
class FileSlips:
    """The slip numbers to file. The service takes them as a tuple; this reads them the way
    every form field is read, each number named ``numbers[i]`` when wrong."""

    numbers: tuple[int, ...]

    @staticmethod
    def from_form(data: Any) -> FileSlips:
        """Validate ``{"numbers": [1, 2, ...]}``."""
        r = FormReader(data)
        raw = r.data.get("numbers")
        numbers: list[int] = []
        if not isinstance(raw, list) or not raw:
            r.fail("numbers", "请列出要归档的放行条编号", "a list of slip numbers")
        elif len(raw) > MAX_SLIPS_FILED:
            r.fail("numbers", f"每次最多 {MAX_SLIPS_FILED} 张", f"at most {MAX_SLIPS_FILED}")
        else:
            for i, value in enumerate(raw):
                key = f"numbers[{i}]"
                # One reader per item, sharing the error list, so each is named by place.
                number = FormReader({key: value}, errors=r.errors).integer(key, 1)
                numbers.append(number)
        r.finish()
        return FileSlips(tuple(dict.fromkeys(numbers)))


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
             openapi_extra=body_doc(GoodsSlipBody))
def issue_goods_slip(request: Request, actor: ActorDep, body: BodyDep) -> SlipOut:
    """Issue a numbered release slip: refused with rule G4 while the unit is in arrears
    (overdue fees on any of its households), or for anyone but an owner without the current
    owner's written consent."""
    inp = form_input(body, GoodsSlipBody, goods.IssueGoodsSlip.from_form)
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
             openapi_extra=body_doc(GoodsExitBody))
def record_goods_exit(request: Request, actor: ActorDep, number: IdPath,
                      body: BodyDep) -> ExitOut:
    """The guard lets the goods out (G4): the slip is for today, goods and person match,
    the guard signs; the time is recorded."""
    inp = form_input(body, GoodsExitBody, goods.RecordGoodsExit.from_form, number=number)
    left_at = goods.record_goods_exit(api_state(request).desk, actor, inp)
    return ExitOut(number=inp.number, left_at=left_at)


@router.post("/goods-slips/filed", responses=GOODS_ERRORS, openapi_extra=body_doc(FileSlipsBody))
def file_goods_slips(request: Request, actor: ActorDep, body: BodyDep) -> list[FiledSlipOut]:
    """File used slips handed in by the exit posts; a late one is filed and shown late."""
    inp = form_input(body, FileSlipsBody, FileSlips.from_form)
    return _filed(goods.file_goods_slips(api_state(request).desk, actor, inp.numbers))


@router.get("/goods-slips/overdue")
def list_overdue_goods_slips(request: Request, actor: ActorDep) -> list[FiledSlipOut]:
    """Used slips not filed by their deadline, oldest first: what the desk chases."""
    return _filed(goods.overdue_goods_slips(api_state(request).desk, actor))


@router.post("/goods-passes", status_code=201, responses=GOODS_ERRORS,
             openapi_extra=body_doc(GoodsPassBody))
def issue_goods_pass(request: Request, actor: ActorDep, body: BodyDep) -> GoodsPassOut:
    """Issue a long-term goods pass, valid one year, to a current resident showing an ID
    that matches the record (G4)."""
    inp = form_input(body, GoodsPassBody, goods.IssueGoodsPass.from_form)
    pass_id, until = goods.issue_goods_pass(api_state(request).desk, actor, inp)
    return GoodsPassOut(pass_id=pass_id, valid_until=until)
