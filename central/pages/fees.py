"""A household's fees: what it owes and has paid, charging a fee, and taking payment of
some of them with one receipt (rule I7). The household's own page is /households/{id}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.pages.form_view import form_view
from central.pages.page_request import Refused, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import NotFoundError
from central.services import fees

router = APIRouter()
Reader = Annotated[PageContext, Depends(requires("list_fees"))]
LEFT_OUT_CHARGE = ("household_id",)
LEFT_OUT_PAY = ("household_id", "fee_ids")


def _household(text: str) -> int:
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise NotFoundError("本小区没有此住户", f"no household {text}", "household_id")
    return int(text)


def _page(ctx: PageContext, found: fees.HouseholdFees, *, done: str | None = None,
          charge: Refused | None = None, pay: Refused | None = None) -> HTMLResponse:
    """The fees page; ``charge`` or ``pay`` is the form refused, shown again as typed."""
    pay_values = pay.values if pay is not None else {"payer_name": found.householder}
    chosen = {str(i) for i in pay_values.get("fee_ids", [])} if pay is not None else {
        str(f.id) for f in found.unpaid}
    refused = charge or pay
    return render(ctx, "fees/household.html", {
        "h": found, "done": done,
        "charge_fields": form_view(fees.ChargeFee, charge.values if charge else {},
                                   charge.errors if charge else [], leave_out=LEFT_OUT_CHARGE),
        "charge_error": charge.error if charge else None,
        "pay_fields": form_view(fees.PayFees, pay_values, pay.errors if pay else [],
                                leave_out=LEFT_OUT_PAY),
        "pay_error": pay.error if pay else None, "chosen": chosen,
        "count": sum(1 for f in found.unpaid if str(f.id) in chosen),
        "chosen_fen": sum(f.amount_fen for f in found.unpaid if str(f.id) in chosen),
    }, status_code=refused.error.http_status if refused else 200)


def _fees(request: Request, ctx: PageContext, household_id: int) -> fees.HouseholdFees:
    assert ctx.caller is not None
    return fees.household_fees(api_state(request).desk, ctx.caller.actor, household_id)


@router.get("/households/{household_id}/fees", response_class=HTMLResponse)
def fees_page(request: Request, household_id: str, ctx: Reader,
              done: str | None = None) -> HTMLResponse:
    """The household's fees, the payment form for what it owes, the form to charge one."""
    return _page(ctx, _fees(request, ctx, _household(household_id)), done=done)


@router.get("/households/{household_id}/fees/total", response_class=HTMLResponse)
def chosen_total(request: Request, household_id: str, ctx: Reader) -> HTMLResponse:
    """What the ticked fees come to (the payment form's preview): a page fragment."""
    found = _fees(request, ctx, _household(household_id))
    ticked = set(request.query_params.getlist("fee_ids"))
    chosen = [f for f in found.unpaid if str(f.id) in ticked]
    return render(ctx, "fees/_total.html", {
        "count": len(chosen), "chosen_fen": sum(f.amount_fen for f in chosen)})


@router.post("/households/{household_id}/fees", response_class=HTMLResponse)
async def charge(request: Request, household_id: str,
                 ctx: Annotated[PageContext, Depends(requires("charge_fee"))]) -> Response:
    """Record a fee the household owes."""
    wanted = _household(household_id)
    sent = await submit(request, ctx, fees.ChargeFee, fees.charge_fee,
                        given={"household_id": wanted})
    if isinstance(sent, Refused):
        found = await run_in_threadpool(_fees, request, ctx, wanted)
        return _page(ctx, found, charge=sent)
    return see_other(f"/households/{wanted}/fees?done=charged")


@router.post("/households/{household_id}/fees/payments", response_class=HTMLResponse)
async def pay(request: Request, household_id: str,
              ctx: Annotated[PageContext, Depends(requires("pay_fees"))]) -> Response:
    """Take the money for the ticked fees and write one receipt for them."""
    wanted = _household(household_id)
    sent = await submit(request, ctx, fees.PayFees, fees.pay_fees,
                        given={"household_id": wanted})
    if isinstance(sent, Refused):
        found = await run_in_threadpool(_fees, request, ctx, wanted)
        return _page(ctx, found, pay=sent)
    return see_other(f"/receipts/{sent.result}?done=paid")
