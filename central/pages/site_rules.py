"""The site's rules the gates apply offline (issue 12), the administrator's and the office
director's pages: the policy for expired monthly cards per space kind, the car parks'
spaces, the holiday calendar and the gates' timed modes. Every role may look; the forms are
shown to those the permission matrix lets change them, and the server checks again.

Each form is its input's declaration drawn by ``form_view`` and read back by ``submit``
(the API's reader), done by central/services/site_rules.py, whose every change raises the
rules' version: the hub publishes them to the gates within seconds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.models import SpaceKind
from central.pages.form_view import form_view, unplaced_errors, with_choices
from central.pages.page_request import Refused, field_errors, press, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services import site_rules
from central.services.context import Actor, Desk
from central.services.site_rules import (
    AddHoliday,
    AddTimedMode,
    RemoveHoliday,
    RemoveTimedMode,
    SetLotSpaces,
    SetParkingPolicy,
    SiteRulesView,
)

router = APIRouter()

Reader = Annotated[PageContext, Depends(requires("get_site_rules"))]
PolicySetter = Annotated[PageContext, Depends(requires("set_parking_policy"))]
HolidayAdder = Annotated[PageContext, Depends(requires("add_holiday"))]
HolidayRemover = Annotated[PageContext, Depends(requires("remove_holiday"))]
LotSetter = Annotated[PageContext, Depends(requires("set_lot_spaces"))]
ModeAdder = Annotated[PageContext, Depends(requires("add_timed_mode"))]
ModeRemover = Annotated[PageContext, Depends(requires("remove_timed_mode"))]

HOME = "/settings/rules"
# What the overview says after a form did its work (``?done=…``).
DONE = ("policy", "lot", "holiday", "holiday_removed", "mode", "mode_removed")


async def _view(request: Request, ctx: PageContext) -> SiteRulesView:
    assert ctx.caller is not None
    return await run_in_threadpool(site_rules.site_rules_view, api_state(request).desk,
                                   ctx.caller.actor)


async def _overview(request: Request, ctx: PageContext, *, done: str | None = None,
                    values: dict[str, Any] | None = None,
                    error: DeskError | None = None) -> HTMLResponse:
    """The overview, with the holiday form (as posted, with its problems, when refused)."""
    view = await _view(request, ctx)
    errors = field_errors(error) if error is not None else []
    fields = form_view(AddHoliday, values or {}, errors)
    return render(ctx, "site_rules/index.html", {
        "rules": view, "holiday_fields": fields, "error": error,
        "others": unplaced_errors(fields, errors),
        "done": done if done in DONE else None,
    }, status_code=error.http_status if error is not None else 200)


@router.get(HOME, response_class=HTMLResponse)
async def overview(request: Request, ctx: Reader, done: str | None = None) -> HTMLResponse:
    """The site's rules at a glance, the holiday calendar's form, and links to edit."""
    return await _overview(request, ctx, done=done)


@router.post(f"{HOME}/holidays", response_class=HTMLResponse)
async def add_holiday(request: Request, ctx: HolidayAdder) -> Response:
    """Put a date on the calendar; back to the overview."""
    sent = await submit(request, ctx, AddHoliday, site_rules.add_holiday)
    if isinstance(sent, Refused):
        return await _overview(request, ctx, values=sent.values, error=sent.error)
    return see_other(f"{HOME}?done=holiday")


@router.post(f"{HOME}/holidays/{{day}}/remove", response_class=HTMLResponse)
async def remove_holiday(request: Request, ctx: HolidayRemover, day: str) -> Response:
    """Take a date off the calendar."""
    def perform(desk: Desk, actor: Actor) -> None:
        site_rules.remove_holiday(desk, actor, RemoveHoliday.from_form({"day": day}))
    sent = await press(request, ctx, perform)
    if isinstance(sent, Refused):
        return await _overview(request, ctx, error=sent.error)
    return see_other(f"{HOME}?done=holiday_removed")


def _kind(text: str) -> SpaceKind:
    try:
        kind = SpaceKind(text)
    except ValueError:
        kind = SpaceKind.VISITOR
    if kind not in site_rules.POLICY_KINDS:
        raise NotFoundError("没有这种月卡车位", f"no monthly space kind {text!r}")
    return kind


async def _policy_page(request: Request, ctx: PageContext, kind: SpaceKind, *,
                       values: dict[str, Any] | None = None,
                       error: DeskError | None = None) -> HTMLResponse:
    view = await _view(request, ctx)
    (line,) = [p for p in view.policies if p.space_kind is kind]
    shown = values if values is not None else {
        "expired": line.policy.expired, "grace_days": line.policy.grace_days,
        "remind_days": line.policy.remind_days}
    errors = field_errors(error) if error is not None else []
    fields = form_view(SetParkingPolicy, shown, errors, leave_out=("space_kind",))
    return render(ctx, "site_rules/edit.html", {
        "kind": "policy", "subject": kind, "fields": fields, "error": error,
        "others": unplaced_errors(fields, errors),
        "action": f"{HOME}/parking/{kind.value}",
    }, status_code=error.http_status if error is not None else 200)


@router.get(f"{HOME}/parking/{{space_kind}}", response_class=HTMLResponse)
async def policy_form(request: Request, ctx: PolicySetter, space_kind: str) -> HTMLResponse:
    """The policy form of one space kind, showing what is in force."""
    return await _policy_page(request, ctx, _kind(space_kind))


@router.post(f"{HOME}/parking/{{space_kind}}", response_class=HTMLResponse)
async def set_policy(request: Request, ctx: PolicySetter, space_kind: str) -> Response:
    """Set the space kind's policy; back to the overview."""
    kind = _kind(space_kind)
    sent = await submit(request, ctx, SetParkingPolicy, site_rules.set_parking_policy,
                        given={"space_kind": kind.value})
    if isinstance(sent, Refused):
        return await _policy_page(request, ctx, kind, values=sent.values, error=sent.error)
    return see_other(f"{HOME}?done=policy")


async def _lot_page(request: Request, ctx: PageContext, code: str, *,
                    values: dict[str, Any] | None = None,
                    error: DeskError | None = None) -> HTMLResponse:
    view = await _view(request, ctx)
    lot = next((x for x in view.lots if x.code == code), None)
    if lot is None:
        raise NotFoundError(f"没有代码为 {code} 的停车场", f"no car park {code!r}")
    shown = values if values is not None else {
        "fixed": lot.fixed, "monthly": lot.monthly, "temporary": lot.temporary}
    errors = field_errors(error) if error is not None else []
    fields = form_view(SetLotSpaces, shown, errors, leave_out=("lot",))
    return render(ctx, "site_rules/edit.html", {
        "kind": "lot", "subject": lot, "fields": fields, "error": error,
        "others": unplaced_errors(fields, errors), "action": f"{HOME}/lots/{lot.code}",
    }, status_code=error.http_status if error is not None else 200)


@router.get(f"{HOME}/lots/{{lot}}", response_class=HTMLResponse)
async def lot_form(request: Request, ctx: LotSetter, lot: str) -> HTMLResponse:
    """A car park's spaces form."""
    return await _lot_page(request, ctx, lot)


@router.post(f"{HOME}/lots/{{lot}}", response_class=HTMLResponse)
async def set_lot(request: Request, ctx: LotSetter, lot: str) -> Response:
    """Set the car park's spaces; back to the overview."""
    sent = await submit(request, ctx, SetLotSpaces, site_rules.set_lot_spaces,
                        given={"lot": lot})
    if isinstance(sent, Refused):
        return await _lot_page(request, ctx, lot, values=sent.values, error=sent.error)
    return see_other(f"{HOME}?done=lot")


async def _mode_page(request: Request, ctx: PageContext, *,
                     values: dict[str, Any] | None = None,
                     error: DeskError | None = None) -> HTMLResponse:
    view = await _view(request, ctx)
    errors = field_errors(error) if error is not None else []
    fields = with_choices(form_view(AddTimedMode, values or {}, errors),
                          {"gate": [(code, f"{name} ({code})") for code, name in view.gates]})
    return render(ctx, "site_rules/edit.html", {
        "kind": "mode", "subject": None, "fields": fields, "error": error,
        "others": unplaced_errors(fields, errors), "action": f"{HOME}/timed-modes/new",
    }, status_code=error.http_status if error is not None else 200)


@router.get(f"{HOME}/timed-modes/new", response_class=HTMLResponse)
async def mode_form(request: Request, ctx: ModeAdder) -> HTMLResponse:
    """The form to give a gate a timed mode."""
    return await _mode_page(request, ctx)


@router.post(f"{HOME}/timed-modes/new", response_class=HTMLResponse)
async def add_mode(request: Request, ctx: ModeAdder) -> Response:
    """Give the gate its timed mode; back to the overview."""
    sent = await submit(request, ctx, AddTimedMode, site_rules.add_timed_mode)
    if isinstance(sent, Refused):
        return await _mode_page(request, ctx, values=sent.values, error=sent.error)
    return see_other(f"{HOME}?done=mode")


@router.post(f"{HOME}/timed-modes/{{mode_id}}/remove", response_class=HTMLResponse)
async def remove_mode(request: Request, ctx: ModeRemover, mode_id: int) -> Response:
    """Take the timed mode away."""
    def perform(desk: Desk, actor: Actor) -> None:
        site_rules.remove_timed_mode(desk, actor, RemoveTimedMode(mode_id))
    sent = await press(request, ctx, perform)
    if isinstance(sent, Refused):
        return await _overview(request, ctx, error=sent.error)
    return see_other(f"{HOME}?done=mode_removed")

