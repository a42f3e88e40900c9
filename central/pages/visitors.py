"""Visitors, rules H7 and G5, as desk pages: the day's visitor register (ID numbers masked
as the service masks them for the viewer's role), registering a visitor and their exit, a
visitor's temporary pass (a resident's visitor confirmed by that resident), a temporary
parking permit for a resident's visitor and its return."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.form_input import FormInput
from central.pages.choosers import find_unit, person_options, posted_unit, site_today
from central.pages.form_view import form_view, with_choices
from central.pages.page_request import Refused, field_errors, press, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError
from central.services import visitors
from central.services.desk_choices import HouseholdChoice, site_gates

router = APIRouter()

ListDep = Annotated[PageContext, Depends(requires("list_visitors"))]
RegisterDep = Annotated[PageContext, Depends(requires("register_visitor"))]
ExitDep = Annotated[PageContext, Depends(requires("record_visitor_exit"))]
PassDep = Annotated[PageContext, Depends(requires("issue_visitor_pass"))]
PermitDep = Annotated[PageContext, Depends(requires("issue_parking_permit"))]
ReturnDep = Annotated[PageContext, Depends(requires("return_parking_permit"))]


async def _register_page(request: Request, ctx: PageContext, *, day: date | None = None,
                         done: str | None = None, values: dict[str, Any] | None = None,
                         error: DeskError | None = None,
                         status_code: int = 200) -> HTMLResponse:
    desk, actor = api_state(request).desk, ctx.actor
    today = site_today(request, ctx)
    shown = day or today
    lines = await run_in_threadpool(visitors.visitor_register, desk, actor, shown)
    passes: tuple[visitors.PassView, ...] = ()
    permits: tuple[visitors.PermitView, ...] = ()
    if ctx.can("issue_visitor_pass"):
        passes = await run_in_threadpool(visitors.passes_valid_on, desk, actor, shown)
    if ctx.can("return_parking_permit"):
        permits = await run_in_threadpool(visitors.permits_out, desk, actor)
    gates = await run_in_threadpool(site_gates, desk, actor)
    fields = with_choices(
        form_view(visitors.RegisterVisitor, values or {},
                  field_errors(error) if error else (), leave_out=("visitor_pass_id",)),
        {"gate_code": [(g.code, g.name) for g in gates]})
    return render(ctx, "visitors/register.html", {
        "shown_day": shown, "today": today, "lines": lines, "passes": passes, "permits": permits,
        "gates_by_id": {g.gate_id: g.name for g in gates}, "fields": fields, "done": done,
        "error": error},
        status_code=status_code)


@router.get("/visitors", response_class=HTMLResponse)
async def register_page(request: Request, ctx: ListDep, day: date | None = None,
                        done: str | None = None) -> HTMLResponse:
    """The visitor register of a day (today unless asked), and the form to register one."""
    return await _register_page(request, ctx, day=day, done=done)


@router.post("/visitors", response_class=HTMLResponse)
async def register_visitor(request: Request, ctx: RegisterDep) -> Response:
    """Register a visitor: refused under G5 without the number of the ID shown."""
    sent = await submit(request, ctx, visitors.RegisterVisitor, visitors.register_visitor)
    if isinstance(sent, Refused):
        # The ID number typed goes back into the form only to the one who typed it.
        return await _register_page(request, ctx, values=sent.values, error=sent.error,
                                    status_code=sent.error.http_status)
    return see_other("/visitors?done=registered")


async def _register_action(request: Request, ctx: PageContext, service: Callable[..., object],
                           number: int, done: str) -> Response:
    """A button on the register's lines: ``service`` for line ``number``."""
    sent = await press(request, ctx, lambda desk, actor: service(desk, actor, number))
    if isinstance(sent, Refused):
        return await _register_page(request, ctx, error=sent.error,
                                    status_code=sent.error.http_status)
    return see_other(f"/visitors?done={done}")


@router.post("/visitors/{registration_id}/exit", response_class=HTMLResponse)
async def visitor_exit(request: Request, ctx: ExitDep, registration_id: int) -> Response:
    """The visitor left: the time out is stamped now."""
    return await _register_action(request, ctx, visitors.record_visitor_exit,
                                  registration_id, "left")


@router.post("/visitors/permits/{permit_id}/return", response_class=HTMLResponse)
async def return_permit(request: Request, ctx: ReturnDep, permit_id: int) -> Response:
    """A temporary parking permit handed back."""
    return await _register_action(request, ctx, visitors.return_parking_permit, permit_id,
                                  "returned")


def _resident_form(ctx: PageContext, cls: type[FormInput],
                   households: Sequence[HouseholdChoice], values: dict[str, Any], *,
                   errors: Any, person_fields: tuple[str, ...],
                   leave_out: tuple[str, ...] = ()) -> Any:
    options = person_options(households, ctx.gettext)
    return with_choices(form_view(cls, values, errors, leave_out=leave_out),
                        dict.fromkeys(person_fields, options))


# A pass with no resident inviting (a contractor, a courier) has no confirmation to show.
_INVITER_FIELDS = ("invited_by_person_id", "confirmation")


async def _pass_page(request: Request, ctx: PageContext, unit: str, *,
                     values: dict[str, Any], error: DeskError | None = None,
                     status_code: int = 200) -> HTMLResponse:
    found = await find_unit(request, ctx, unit)
    fields = _resident_form(ctx, visitors.IssueVisitorPass, found.households, values,
                            errors=field_errors(error) if error else (),
                            person_fields=("invited_by_person_id", "confirmation.person_id"),
                            leave_out=() if found.households else _INVITER_FIELDS)
    return render(ctx, "visitors/pass.html", {**found.shown, "fields": fields, "error": error},
                  status_code=status_code)


@router.get("/visitors/pass", response_class=HTMLResponse)
async def pass_form(request: Request, ctx: PassDep, unit: str | None = None) -> HTMLResponse:
    """A visitor's temporary pass: with the inviting resident's unit, their confirmation."""
    today = site_today(request, ctx)
    return await _pass_page(request, ctx, unit or "", values={
        "valid_from": today, "valid_until": today})


@router.post("/visitors/pass", response_class=HTMLResponse)
async def issue_pass(request: Request, ctx: PassDep) -> Response:
    """Issue the pass: at most three days; a resident's visitor confirmed by that resident
    (H7)."""
    sent = await submit(request, ctx, visitors.IssueVisitorPass, visitors.issue_visitor_pass)
    if isinstance(sent, Refused):
        return await _pass_page(request, ctx, posted_unit(sent.form), values=sent.values,
                                error=sent.error, status_code=sent.error.http_status)
    return see_other(f"/visitors?done=pass&day={sent.result.valid_from.isoformat()}")


async def _permit_page(request: Request, ctx: PageContext, unit: str, *,
                       values: dict[str, Any], error: DeskError | None = None,
                       status_code: int = 200) -> HTMLResponse:
    found = await find_unit(request, ctx, unit)
    fields = _resident_form(ctx, visitors.IssueParkingPermit, found.households, values,
                            errors=field_errors(error) if error else (),
                            person_fields=("host_person_id",),
                            leave_out=("visitor_pass_id",))
    return render(ctx, "visitors/permit.html", {**found.shown, "fields": fields,
                                                "error": error}, status_code=status_code)


@router.get("/visitors/permit", response_class=HTMLResponse)
async def permit_form(request: Request, ctx: PermitDep,
                      unit: str | None = None) -> HTMLResponse:
    """A temporary parking permit for a resident's visitor, once the unit is found."""
    today = site_today(request, ctx)
    return await _permit_page(request, ctx, unit or "", values={
        "valid_from": today, "valid_until": today})


@router.post("/visitors/permit", response_class=HTMLResponse)
async def issue_permit(request: Request, ctx: PermitDep) -> Response:
    """Issue the permit: at most seven days (H7), for a current resident's visitor."""
    sent = await submit(request, ctx, visitors.IssueParkingPermit,
                        visitors.issue_parking_permit)
    if isinstance(sent, Refused):
        return await _permit_page(request, ctx, posted_unit(sent.form), values=sent.values,
                                  error=sent.error, status_code=sent.error.http_status)
    return see_other("/visitors?done=permit")
