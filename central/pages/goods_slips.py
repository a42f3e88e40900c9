"""Goods release (物品放行), rule G4, as desk pages: the slips of the last month (the used
ones not filed in time marked overdue), issuing a slip (the unit's arrears and the owner's
written consent as the service enforces them), the customer-service lead's approval, the
exit guard's check and signature, filing the used slips, the long-term goods pass, and the
slip's print with a QR code of its number for the exit guard to scan."""

from __future__ import annotations

from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from central.api.goods import FileSlips
from central.api.state import api_state
from central.pages import choosers
from central.pages.form_view import form_view, with_choices
from central.pages.page_request import Refused, field_errors, press, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services import goods
from central.services.context import Actor, Desk
from central.services.desk_choices import HouseholdChoice, site_gates

router = APIRouter()

ListDep = Annotated[PageContext, Depends(requires("list_overdue_goods_slips"))]
IssueDep = Annotated[PageContext, Depends(requires("issue_goods_slip"))]
ApproveDep = Annotated[PageContext, Depends(requires("approve_goods_slip"))]
ExitDep = Annotated[PageContext, Depends(requires("record_goods_exit"))]
FileDep = Annotated[PageContext, Depends(requires("file_goods_slips"))]
PassDep = Annotated[PageContext, Depends(requires("issue_goods_pass"))]


def slip_qr_svg(number: int) -> str:
    """The slip's number as a QR code, an inline SVG element the exit guard's scanner reads
    (drawn on the server: the pages run no script of their own to draw it)."""
    # A full QR code, never a Micro QR (segno's choice for short text): the guards' phone
    # scanners read only the full kind.
    return str(segno.make_qr(str(number), error="m").svg_inline(
        scale=6, border=4, svgclass="slip-qr", lineclass=None,
        title=f"放行条 No. {number}"))


async def _list_page(request: Request, ctx: PageContext, *, done: str | None = None,
                     number: int | None = None, late: bool = False,
                     file_values: dict[str, Any] | None = None,
                     error: DeskError | None = None, status_code: int = 200) -> HTMLResponse:
    slips = await run_in_threadpool(goods.recent_goods_slips, api_state(request).desk,
                                    ctx.actor)
    file_error = error if file_values is not None else None
    return render(ctx, "goods_slips/list.html", {
        "slips": slips, "done": done, "number": number, "late": late,
        "overdue": sum(1 for s in slips if s.overdue),
        "file_fields": form_view(FileSlips, file_values or {},
                                 field_errors(file_error) if file_error else ()),
        "error": error}, status_code=status_code)


@router.get("/goods-slips", response_class=HTMLResponse)
async def slip_list(request: Request, ctx: ListDep, done: str | None = None,
                    number: int | None = None, late: bool = False) -> HTMLResponse:
    """The slips of the last month and the open ones, newest first; overdue ones marked."""
    return await _list_page(request, ctx, done=done, number=number, late=late)


def _file_slips(desk: Desk, actor: Actor, inp: FileSlips) -> str:
    """File the slips; then the list, saying how many and whether any came late."""
    filed = goods.file_goods_slips(desk, actor, inp.numbers)
    return (f"/goods-slips?done=filed&number={len(filed)}"
            + ("&late=true" if any(f.late for f in filed) else ""))


@router.post("/goods-slips/filed", response_class=HTMLResponse)
async def file_slips(request: Request, ctx: FileDep) -> Response:
    """File the used slips the exit posts handed in; late ones are filed and said late."""
    sent = await submit(request, ctx, FileSlips, _file_slips)
    if isinstance(sent, Refused):
        return await _list_page(request, ctx, file_values=sent.values, error=sent.error,
                                status_code=sent.error.http_status)
    return see_other(sent.result)


def _slip_form(ctx: PageContext, households: tuple[HouseholdChoice, ...],
               values: dict[str, Any], errors: Any = ()) -> Any:
    return with_choices(form_view(goods.IssueGoodsSlip, values, errors),
                        choosers.household_choices(households, ctx.gettext))


@router.get("/goods-slips/new", response_class=HTMLResponse)
async def new_slip(request: Request, ctx: IssueDep, unit: str | None = None,
                   household: int | None = None) -> HTMLResponse:
    """The slip's form, once the unit is found (or from a household's page): its
    households and people to choose from."""
    found = await choosers.find_unit(request, ctx, unit, household)
    values = {"valid_on": choosers.site_today(request, ctx), **found.household(household)}
    return render(ctx, "goods_slips/new.html", {
        **found.shown, "fields": _slip_form(ctx, found.households, values)})


@router.post("/goods-slips/new", response_class=HTMLResponse)
async def issue_slip(request: Request, ctx: IssueDep) -> Response:
    """Issue the slip; refused under G4 while the unit owes fees, or for anyone but an
    owner without the owner's written consent."""
    sent = await submit(request, ctx, goods.IssueGoodsSlip, goods.issue_goods_slip)
    if isinstance(sent, Refused):
        found = await choosers.find_unit(request, ctx, choosers.posted_unit(sent.form))
        return render(ctx, "goods_slips/new.html", {
            **found.shown, "error": sent.error,
            "fields": _slip_form(ctx, found.households, sent.values, sent.errors)},
            status_code=sent.error.http_status)
    return see_other(f"/goods-slips?done=issued&number={sent.result}")


@router.post("/goods-slips/{number}/approve", response_class=HTMLResponse)
async def approve_slip(request: Request, ctx: ApproveDep, number: int) -> Response:
    """The customer-service lead approves a slip someone else issued (G4)."""
    sent = await press(request, ctx, lambda desk, actor: goods.approve_goods_slip(
        desk, actor, number))
    if isinstance(sent, Refused):
        return await _list_page(request, ctx, error=sent.error,
                                status_code=sent.error.http_status)
    return see_other(f"/goods-slips?done=approved&number={number}")


async def _exit_page(request: Request, ctx: PageContext, number: int,
                     values: dict[str, Any], *, error: DeskError | None = None,
                     status_code: int = 200) -> HTMLResponse:
    desk = api_state(request).desk
    slip = await run_in_threadpool(goods.goods_slip, desk, ctx.actor, number)
    gates = await run_in_threadpool(site_gates, desk, ctx.actor)
    view = form_view(goods.RecordGoodsExit, values, field_errors(error) if error else (),
                     leave_out=("number",))
    view = with_choices(view, {"gate_code": [(g.code, g.name) for g in gates]})
    return render(ctx, "goods_slips/exit.html", {"slip": slip, "fields": view,
                                                 "error": error}, status_code=status_code)


@router.get("/goods-slips/{number}/exit", response_class=HTMLResponse)
async def exit_form(request: Request, ctx: ExitDep, number: int) -> HTMLResponse:
    """The guard's check of a slip at the exit."""
    assert ctx.caller is not None
    return await _exit_page(request, ctx, number, {
        "gate_code": "main-gate",
        "guard_signoff": {"signer_name": ctx.caller.principal.display_name}})


@router.post("/goods-slips/{number}/exit", response_class=HTMLResponse)
async def record_exit(request: Request, ctx: ExitDep, number: int) -> Response:
    """The guard lets the goods out: slip for today, approved, goods and person checked,
    signed (G4); the time is the server's."""
    sent = await submit(request, ctx, goods.RecordGoodsExit, goods.record_goods_exit,
                        given={"number": number})
    if isinstance(sent, Refused):
        if isinstance(sent.error, NotFoundError) and sent.error.field == "number":
            raise sent.error
        return await _exit_page(request, ctx, number, sent.values, error=sent.error,
                                status_code=sent.error.http_status)
    return see_other(f"/goods-slips?done=left&number={number}")


@router.get("/goods-slips/{number:int}", response_class=HTMLResponse)
@router.get("/goods-slips/{number}/print", response_class=HTMLResponse)
async def print_slip(request: Request, ctx: ListDep, number: int) -> HTMLResponse:
    """The slip on paper (also its page, where a household's page links), with a QR code
    of its number for the exit guard."""
    slip = await run_in_threadpool(goods.goods_slip, api_state(request).desk, ctx.actor,
                                   number)
    return render(ctx, "goods_slips/print.html", {
        "slip": slip, "qr": Markup(slip_qr_svg(slip.number))})


def _pass_form(ctx: PageContext, households: tuple[HouseholdChoice, ...],
               values: dict[str, Any], errors: Any = ()) -> Any:
    return with_choices(form_view(goods.IssueGoodsPass, values, errors),
                        {"person_id": choosers.person_options(households, ctx.gettext)})


@router.get("/goods-slips/pass", response_class=HTMLResponse)
async def pass_form(request: Request, ctx: PassDep, *, unit: str | None = None,
                    household: int | None = None, issued: int | None = None,
                    until: str | None = None) -> HTMLResponse:
    """The long-term goods pass's form, once the unit is found; after issuing, the pass."""
    found = await choosers.find_unit(request, ctx, unit, household)
    return render(ctx, "goods_slips/pass.html", {
        **found.shown, "fields": _pass_form(ctx, found.households, {}),
        "issued": (issued, until) if issued is not None else None})


@router.post("/goods-slips/pass", response_class=HTMLResponse)
async def issue_pass(request: Request, ctx: PassDep) -> Response:
    """Issue a long-term goods pass to a current resident showing a matching ID (G4)."""
    sent = await submit(request, ctx, goods.IssueGoodsPass, goods.issue_goods_pass)
    if isinstance(sent, Refused):
        found = await choosers.find_unit(request, ctx, choosers.posted_unit(sent.form))
        # The ID number typed is not sent back into the page (G5).
        values = {k: v for k, v in sent.values.items() if k != "id_number_presented"}
        return render(ctx, "goods_slips/pass.html", {
            **found.shown, "error": sent.error, "issued": None,
            "fields": _pass_form(ctx, found.households, values, sent.errors)},
            status_code=sent.error.http_status)
    pass_id, until = sent.result
    return see_other(f"/goods-slips/pass?issued={pass_id}&until={until.isoformat()}")
