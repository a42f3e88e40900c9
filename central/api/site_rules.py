"""The site's rules every gate applies offline (issue 12): the expired-monthly-card policy
per space kind, the car parks' spaces, the holiday calendar and the gates' timed modes.
Every desk role reads them; the administrator or the office director changes them
(central/services/site_rules.py). Each change raises the rules' version, and the hub
publishes the new rules to the gates."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Request
from pydantic import BaseModel

from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import IdPath
from central.api.state import api_state
from central.form_input import read_input
from central.models import SpaceKind
from central.services import site_rules
from edge.site_rules import DayKind, ExpiredPolicy, TimedModeKind

router = protected_router("site rules")
RULES_ERRORS = error_responses(404, 413, 415)
POLICY_BODY = Body(site_rules.SetParkingPolicy, path=("space_kind",), name="ParkingPolicyBody")
HOLIDAY_BODY = Body(site_rules.AddHoliday, name="HolidayBody")
LOT_BODY = Body(site_rules.SetLotSpaces, path=("lot",), name="LotSpacesBody")
TIMED_MODE_BODY = Body(site_rules.AddTimedMode, name="TimedModeBody")
DayPath = Annotated[str, Path(json_schema_extra={"format": "date"})]
LotPath = Annotated[str, Path(max_length=64)]
KindPath = Annotated[str, Path(json_schema_extra={
    "enum": [k.value for k in site_rules.POLICY_KINDS]})]


class PolicyOut(BaseModel):
    """One space kind's policy; ``stated`` false: the default, nothing set."""

    space_kind: SpaceKind
    expired: ExpiredPolicy
    grace_days: int
    remind_days: int
    stated: bool


class LotOut(BaseModel):
    """A car park: its lanes and spaces per class."""

    id: str
    name: str
    gates: list[str]
    fixed: int
    monthly: int
    temporary: int


class HolidayOut(BaseModel):
    """A date of the holiday calendar."""

    day: date
    kind: DayKind
    note: str


class TimedModeOut(BaseModel):
    """A gate's timed mode."""

    id: int
    gate: str
    schedule: str
    mode: TimedModeKind
    note: str


class SiteRulesOut(BaseModel):
    """The site's rules as the desk keeps them, and their version."""

    version: int
    parking: list[PolicyOut]
    lots: list[LotOut]
    holidays: list[HolidayOut]
    timed_modes: list[TimedModeOut]


@router.get("/site-rules", responses=error_responses(404))
def get_site_rules(request: Request, actor: ActorDep) -> SiteRulesOut:
    """The site's rules: the policy per space kind, car parks, holidays, timed modes."""
    view = site_rules.site_rules_view(api_state(request).desk, actor)
    return SiteRulesOut(
        version=view.version,
        parking=[PolicyOut(space_kind=p.space_kind, expired=p.policy.expired,
                           grace_days=p.policy.grace_days, remind_days=p.policy.remind_days,
                           stated=p.stated) for p in view.policies],
        lots=[LotOut(id=lot.code, name=lot.name, gates=list(lot.gates), fixed=lot.fixed,
                     monthly=lot.monthly, temporary=lot.temporary) for lot in view.lots],
        holidays=[HolidayOut(day=h.day, kind=h.kind, note=h.note) for h in view.holidays],
        timed_modes=[TimedModeOut(id=m.id, gate=m.gate, schedule=m.schedule, mode=m.mode,
                                  note=m.note) for m in view.timed_modes])


@router.put("/site-rules/parking/{space_kind}", responses=RULES_ERRORS,
            openapi_extra=POLICY_BODY.openapi)
def set_parking_policy(request: Request, actor: ActorDep, space_kind: KindPath,
                       body: BodyDep) -> PolicyOut:
    """Set what the lanes do with a monthly card of this space kind once its paid month has
    run out (P2): refuse, let in as a temporary car, or the guard confirms; grace days; when
    the lane starts reminding."""
    inp = POLICY_BODY.read(body, space_kind=space_kind)
    site_rules.set_parking_policy(api_state(request).desk, actor, inp)
    return PolicyOut(space_kind=inp.space_kind, expired=inp.expired, grace_days=inp.grace_days,
                     remind_days=inp.remind_days, stated=True)


@router.post("/site-rules/holidays", status_code=201, responses=RULES_ERRORS,
             openapi_extra=HOLIDAY_BODY.openapi)
def add_holiday(request: Request, actor: ActorDep, body: BodyDep) -> HolidayOut:
    """Put a date on the holiday calendar, a holiday or a weekend day worked (调休上班);
    a date already there takes the new kind."""
    inp = HOLIDAY_BODY.read(body)
    site_rules.add_holiday(api_state(request).desk, actor, inp)
    return HolidayOut(day=inp.day, kind=inp.kind, note=inp.note)


@router.delete("/site-rules/holidays/{day}", status_code=204, responses=RULES_ERRORS)
def remove_holiday(request: Request, actor: ActorDep, day: DayPath) -> None:
    """Take a date off the holiday calendar: it follows its weekday again."""
    inp = read_input(site_rules.RemoveHoliday, {"day": day})
    site_rules.remove_holiday(api_state(request).desk, actor, inp)


@router.put("/site-rules/lots/{lot}", responses=RULES_ERRORS, openapi_extra=LOT_BODY.openapi)
def set_lot_spaces(request: Request, actor: ActorDep, lot: LotPath, body: BodyDep) -> LotOut:
    """Set a car park's spaces per class: "车位已满" refuses temporary cars when no
    temporary space is free."""
    inp = LOT_BODY.read(body, lot=lot)
    desk = api_state(request).desk
    site_rules.set_lot_spaces(desk, actor, inp)
    (line,) = [x for x in site_rules.site_rules_view(desk, actor).lots if x.code == inp.lot]
    return LotOut(id=line.code, name=line.name, gates=list(line.gates), fixed=line.fixed,
                  monthly=line.monthly, temporary=line.temporary)


@router.post("/site-rules/timed-modes", status_code=201, responses=RULES_ERRORS,
             openapi_extra=TIMED_MODE_BODY.openapi)
def add_timed_mode(request: Request, actor: ActorDep, body: BodyDep) -> TimedModeOut:
    """Give a gate a timed mode: held open, or monthly cards only, inside weekly windows
    (``Hol`` for the calendar's holidays)."""
    inp = TIMED_MODE_BODY.read(body)
    mode_id = site_rules.add_timed_mode(api_state(request).desk, actor, inp)
    return TimedModeOut(id=mode_id, gate=inp.gate, schedule=inp.schedule, mode=inp.mode,
                        note=inp.note)


@router.delete("/site-rules/timed-modes/{mode_id}", status_code=204, responses=RULES_ERRORS)
def remove_timed_mode(request: Request, actor: ActorDep, mode_id: IdPath) -> None:
    """Take a timed mode away: the gate is back to its normal mode."""
    inp = read_input(site_rules.RemoveTimedMode, {"id": mode_id})
    site_rules.remove_timed_mode(api_state(request).desk, actor, inp)
