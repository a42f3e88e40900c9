"""Receipts (rule I7): the list with its filters and its XLSX export, one receipt, its
print on A5 paper or an 80 mm thermal roll, and voiding it with the corrected receipt
(leads and the director)."""

from __future__ import annotations

import enum
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.amounts import capital_yuan, yuan
from central.api.state import api_state
from central.pages.enum_labels import enum_label
from central.pages.form_view import form_view, unplaced_errors
from central.pages.i18n import N_
from central.pages.list_filter import PAGE_FIELD, list_filter
from central.pages.page_request import Refused, requires, see_other, submit
from central.pages.spreadsheet import Column, Kind, workbook_bytes, xlsx_response
from central.pages.templating import PageContext, render
from central.refusals import NotFoundError
from central.services.receipt_book import (
    ReceiptFilter,
    ReceiptView,
    find_receipts,
    receipt_view,
)
from central.services.receipts import VoidReceipt, void_receipt

router = APIRouter()
HIDDEN = (PAGE_FIELD, "household_id")
Reader = Annotated[PageContext, Depends(requires("list_receipts"))]
Getter = Annotated[PageContext, Depends(requires("get_receipt"))]
Voider = Annotated[PageContext, Depends(requires("void_receipt"))]


class Paper(enum.StrEnum):
    """What a receipt is printed on."""

    A5 = "a5"
    ROLL80 = "roll80"


PAPER_NAMES = {Paper.A5: N_("A5 paper"), Paper.ROLL80: N_("80 mm roll")}


def _number(text: str) -> int:
    """A receipt number from the path: a number that names no receipt is not found."""
    if not text.isdigit() or len(text) > 9 or int(text) < 1:
        raise NotFoundError(f"没有第 {text} 号收据", f"no receipt number {text}", "number")
    return int(text)



@router.get("/receipts", response_class=HTMLResponse)
def receipts(request: Request, ctx: Reader) -> HTMLResponse:
    """The receipts, newest first, a page at a time, with their filters."""
    assert ctx.caller is not None
    chosen = list_filter(ReceiptFilter, request, ctx.caller.timezone, hidden=HIDDEN)
    found = chosen.page("/receipts", partial(find_receipts, api_state(request).desk,
                                             ctx.caller.actor), lambda r: r.number)
    return render(ctx, "receipts/list.html", {"filter": chosen, "page": found},
                  status_code=chosen.status_code)


RECEIPT_COLUMNS = (
    Column(N_("Receipt no."), Kind.NUMBER, 10), Column(N_("Date"), Kind.DAY, 12),
    Column(N_("Time"), Kind.TIME, 17), Column(N_("Payer"), width=16),
    Column(N_("Unit"), width=10), Column(N_("Charged items"), width=30),
    Column(N_("Amount (yuan)"), Kind.MONEY, 14), Column(N_("Method")),
    Column(N_("Handled by")), Column(N_("Void"), width=8), Column(N_("Void reason"), width=24),
    Column(N_("Corrects receipt"), Kind.NUMBER), Column(N_("Corrected by"), Kind.NUMBER),
)


@router.get("/receipts.xlsx")
def receipts_xlsx(request: Request,
                  ctx: Reader) -> Response:
    """The receipts the filters pick, every one of them, as a spreadsheet."""
    assert ctx.caller is not None
    chosen = list_filter(ReceiptFilter, request, ctx.caller.timezone, hidden=HIDDEN)
    if chosen.chosen is None:
        return receipts(request, ctx)  # the page shows what was wrong with the filters
    found = find_receipts(api_state(request).desk, ctx.caller.actor, chosen.chosen)
    rows = [(r.number, r.issued_on, r.issued_at, r.payer_name, r.unit,
             "; ".join(ctx.gettext(enum_label(ln.item)) + (f" {ln.card_uid}" if ln.card_uid
                                                             else "") for ln in r.lines),
             r.amount_fen, r.method, r.clerk, ctx.gettext("Void") if r.is_void else "",
             r.void_reason, r.replaces, r.replaced_by) for r in found]
    content = workbook_bytes(ctx, N_("Receipts"), RECEIPT_COLUMNS, rows)
    return xlsx_response(content, f"receipts-{ctx.caller.site}.xlsx")


@router.get("/receipts/{number}", response_class=HTMLResponse)
def receipt(request: Request, number: str,
            ctx: Getter,
            done: str | None = None) -> HTMLResponse:
    """One receipt: its lines, payer, method, clerk, and whether it was voided and why."""
    found = receipt_view(api_state(request).desk, ctx.actor, _number(number))
    return render(ctx, "receipts/detail.html", {
        "r": found, "done": done, "papers": [(p.value, PAPER_NAMES[p]) for p in Paper],
        "capital": capital_yuan(found.amount_fen)})


@router.get("/receipts/{number}/print", response_class=HTMLResponse)
def print_receipt(request: Request, number: str,
                  ctx: Getter,
                  paper: str = Paper.A5.value) -> HTMLResponse:
    """The receipt laid out for its paper, ready for the browser's print."""
    try:
        chosen = Paper(paper)
    except ValueError:
        raise NotFoundError(f"没有这种纸张：{paper[:20]}", f"no such paper: {paper[:20]}",
                            "paper") from None
    found = receipt_view(api_state(request).desk, ctx.actor, _number(number))
    return render(ctx, "receipts/print.html", {
        "r": found, "paper": chosen.value, "paper_name": PAPER_NAMES[chosen],
        "capital": capital_yuan(found.amount_fen)})


def _void_page(ctx: PageContext, r: ReceiptView, refused: Refused | None = None,
               ) -> HTMLResponse:
    errors = refused.errors if refused is not None else []
    # The corrected receipt starts as a copy of the wrong one: the lead changes what was
    # wrong (or clears every line to void without a new receipt).
    values = refused.values if refused is not None else {"corrected": [{
        "item": ln.item, "amount_yuan": yuan(ln.amount_fen), "description": ln.description,
        "card_uid": ln.card_uid, "fee_id": ln.fee_id} for ln in r.lines]}
    fields = form_view(VoidReceipt, values, errors, leave_out=("number",),
                       rows={"corrected": len(r.lines) + 1})
    return render(ctx, "receipts/void.html", {
        "r": r, "fields": fields, "error": refused.error if refused is not None else None,
        "others": unplaced_errors(fields, errors)},
        status_code=refused.error.http_status if refused is not None else 200)


@router.get("/receipts/{number}/void", response_class=HTMLResponse)
def void_form(request: Request, number: str, ctx: Voider) -> HTMLResponse:
    """The form to void a receipt, with its corrected lines."""
    return _void_page(ctx, receipt_view(api_state(request).desk, ctx.actor, _number(number)))


@router.post("/receipts/{number}/void", response_class=HTMLResponse)
async def void(request: Request, number: str, ctx: Voider) -> Response:
    """Void the receipt (it stays, marked void) and write the corrected one, if any."""
    wanted = _number(number)
    sent = await submit(request, ctx, VoidReceipt, void_receipt, given={"number": wanted})
    if isinstance(sent, Refused):
        old = await run_in_threadpool(receipt_view, api_state(request).desk, ctx.actor,
                                      wanted)
        return _void_page(ctx, old, sent)
    if sent.result.replacement is not None:
        return see_other(f"/receipts/{sent.result.replacement}?done=corrected")
    return see_other(f"/receipts/{sent.result.voided}?done=voided")
