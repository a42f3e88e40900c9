"""A household's fees: what it owes and has paid, charging a fee, and taking payment of
some of them with one receipt (rule I7). The household's own page is /households/{id}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.form_input import read_input
from central.pages.form_view import form_view, posted_values
from central.pages.page_request import field_errors, posted_form, requires, see_other
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services.fees import (
    ChargeFee,
    HouseholdFees,
    PayFees,
    charge_fee,
    household_fees,
    pay_fees,
)

router = APIRouter()
Reader = Annotated[PageContext, Depends(requires("list_fees"))]
LEFT_OUT_CHARGE = ("household_id",)
LEFT_OUT_PAY = ("household_id", "fee_ids")


def _household(text: str) -> int:
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise NotFoundError("本小区没有此住户", f"no household {text}", "household_id")
    return int(text)


def _page(ctx: PageContext, fees: HouseholdFees, *, done: str | None = None,
          charge: tuple[dict[str, Any], DeskError | None] = ({}, None),
          pay: tuple[dict[str, Any], DeskError | None] | None = None,
          status_code: int = 200) -> HTMLResponse:
    charge_values, charge_error = charge
    pay_values, pay_error = pay if pay is not None else (
        {"payer_name": fees.householder}, None)
    chosen = {str(i) for i in pay_values.get("fee_ids", [])} if pay is not None else {
        str(f.id) for f in fees.unpaid}
    return render(ctx, "fees/household.html", {
        "h": fees, "done": done,
        "charge_fields": form_view(ChargeFee, charge_values,
                                   field_errors(charge_error) if charge_error else [],
                                   leave_out=LEFT_OUT_CHARGE),
        "charge_error": charge_error,
        "pay_fields": form_view(PayFees, pay_values,
                                field_errors(pay_error) if pay_error else [],
                                leave_out=LEFT_OUT_PAY),
        "pay_error": pay_error, "chosen": chosen,
        "count": sum(1 for f in fees.unpaid if str(f.id) in chosen),
        "chosen_fen": sum(f.amount_fen for f in fees.unpaid if str(f.id) in chosen),
    }, status_code=status_code)


@router.get("/households/{household_id}/fees", response_class=HTMLResponse)
def fees_page(request: Request, household_id: str, ctx: Reader,
              done: str | None = None) -> HTMLResponse:
    """The household's fees, the payment form for what it owes, the form to charge one."""
    assert ctx.caller is not None
    found = household_fees(api_state(request).desk, ctx.caller.actor, _household(household_id))
    return _page(ctx, found, done=done)


@router.get("/households/{household_id}/fees/total", response_class=HTMLResponse)
def chosen_total(request: Request, household_id: str, ctx: Reader) -> HTMLResponse:
    """What the ticked fees come to (the payment form's preview): a page fragment."""
    assert ctx.caller is not None
    found = household_fees(api_state(request).desk, ctx.caller.actor, _household(household_id))
    ticked = set(request.query_params.getlist("fee_ids"))
    chosen = [f for f in found.unpaid if str(f.id) in ticked]
    return render(ctx, "fees/_total.html", {
        "count": len(chosen), "chosen_fen": sum(f.amount_fen for f in chosen)})


@router.post("/households/{household_id}/fees", response_class=HTMLResponse)
async def charge(request: Request, household_id: str,
                 ctx: Annotated[PageContext, Depends(requires("charge_fee"))]) -> Response:
    """Record a fee the household owes."""
    assert ctx.caller is not None
    wanted = _household(household_id)
    form = await posted_form(request, ctx)
    desk = api_state(request).desk
    values = posted_values(ChargeFee, form, ctx.caller.timezone)
    try:
        inp = read_input(ChargeFee, values, given={"household_id": wanted})
        await run_in_threadpool(charge_fee, desk, ctx.caller.actor, inp)
    except DeskError as exc:
        found = await run_in_threadpool(household_fees, desk, ctx.caller.actor, wanted)
        return _page(ctx, found, charge=(values, exc), status_code=exc.http_status)
    return see_other(f"/households/{wanted}/fees?done=charged")


@router.post("/households/{household_id}/fees/payments", response_class=HTMLResponse)
async def pay(request: Request, household_id: str,
              ctx: Annotated[PageContext, Depends(requires("pay_fees"))]) -> Response:
    """Take the money for the ticked fees and write one receipt for them."""
    assert ctx.caller is not None
    wanted = _household(household_id)
    form = await posted_form(request, ctx)
    desk = api_state(request).desk
    values = posted_values(PayFees, form, ctx.caller.timezone)
    try:
        inp = read_input(PayFees, values, given={"household_id": wanted})
        number = await run_in_threadpool(pay_fees, desk, ctx.caller.actor, inp)
    except DeskError as exc:
        found = await run_in_threadpool(household_fees, desk, ctx.caller.actor, wanted)
        return _page(ctx, found, pay=(values, exc), status_code=exc.http_status)
    return see_other(f"/receipts/{number}?done=paid")
