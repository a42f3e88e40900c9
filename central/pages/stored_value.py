"""Putting money on a card (stored value, 消费余额): the card's balance now and, as the
clerk types the amount, what it will be — before any money is taken; then the top-up with
its receipt (rule I7)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.form_input import form_fields
from central.forms import FormReader
from central.pages.form_view import form_view
from central.pages.page_request import Refused, field_errors, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError
from central.services.stored_value import TopUpCard, TopUpPreview, top_up_card, top_up_preview

router = APIRouter()
TopUp = Annotated[PageContext, Depends(requires("top_up_card"))]
AMOUNT = next(f for f in form_fields(TopUpCard) if f.key == "amount_yuan")


def _uid(text: str) -> str:
    """The card number from the path, in any spelling the desk accepts."""
    r = FormReader({"uid": text})
    uid: str = r.uid("uid")
    r.finish()
    return uid


def _amount(text: str | None) -> int:
    """The amount typed so far, read by the top-up's own declaration; 0 until it reads."""
    r = FormReader({AMOUNT.key: text or ""})
    fen = AMOUNT.spec.read(r, AMOUNT.key, True)
    return int(fen) if not r.errors and fen is not None else 0


def _page(ctx: PageContext, uid: str, preview: TopUpPreview | None, *,
          values: dict[str, Any] | None = None, error: DeskError | None = None,
          done: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    errors = field_errors(error) if error is not None else []
    shown = values if values is not None else {
        "payer_name": preview.holder_name if preview is not None else ""}
    return render(ctx, "stored_value/top_up.html", {
        "uid": uid, "p": preview, "error": error, "done": done,
        "fields": form_view(TopUpCard, shown, errors, leave_out=("uid",)),
    }, status_code=status_code)


@router.get("/cards/{uid}/top-up", response_class=HTMLResponse)
def top_up_page(request: Request, uid: str, ctx: TopUp, done: str | None = None,
                amount_yuan: str | None = None) -> HTMLResponse:
    """The card, its balance, and the top-up form (with the new balance when an amount is
    given: a page that works without scripts too)."""
    assert ctx.caller is not None
    desk = api_state(request).desk
    try:
        card = _uid(uid)
        preview = top_up_preview(desk, ctx.caller.actor, card, _amount(amount_yuan))
    except DeskError as exc:
        return _page(ctx, uid, None, error=exc, status_code=exc.http_status)
    receipt = done if done is not None and done.isdigit() else None
    return _page(ctx, card, preview, done={"receipt": receipt} if receipt else None)


@router.get("/cards/{uid}/top-up/preview", response_class=HTMLResponse)
def top_up_balance(request: Request, uid: str, ctx: TopUp,
                   amount_yuan: str | None = None) -> HTMLResponse:
    """The balance now and after the amount typed so far: a page fragment."""
    assert ctx.caller is not None
    preview = top_up_preview(api_state(request).desk, ctx.caller.actor, _uid(uid),
                             _amount(amount_yuan))
    return render(ctx, "stored_value/_balance.html", {"p": preview})


@router.post("/cards/{uid}/top-up", response_class=HTMLResponse)
async def top_up(request: Request, uid: str, ctx: TopUp) -> Response:
    """Take the money, put it on the card and write the receipt."""
    assert ctx.caller is not None
    card = _uid(uid)
    sent = await submit(request, ctx, TopUpCard, top_up_card, given={"uid": card})
    if isinstance(sent, Refused):
        try:
            preview: TopUpPreview | None = await run_in_threadpool(
                top_up_preview, api_state(request).desk, ctx.caller.actor, card,
                _amount(str(sent.values.get(AMOUNT.key, ""))))
        except DeskError:
            preview = None
        return _page(ctx, card, preview, values=sent.values, error=sent.error,
                     status_code=sent.error.http_status)
    return see_other(f"/cards/{sent.result.uid}/top-up?done={sent.result.receipt_number}")
