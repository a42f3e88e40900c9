"""The IC card issue / anomaly register (rule I1), read-only: filtered by dates, action,
card and household, newest first, a page at a time, and its XLSX export."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.pages.i18n import N_
from central.pages.list_filter import PAGE_FIELD, list_filter
from central.pages.page_request import requires
from central.pages.spreadsheet import Column, Kind, workbook_bytes, xlsx_response
from central.pages.templating import PageContext, render
from central.services.register_book import RegisterFilter, find_register

router = APIRouter()
HIDDEN = (PAGE_FIELD, "household_id")
Reader = Annotated[PageContext, Depends(requires("list_register"))]


@router.get("/register", response_class=HTMLResponse)
def register(request: Request, ctx: Reader) -> HTMLResponse:
    """The register, newest first, with its filters."""
    assert ctx.caller is not None
    chosen = list_filter(RegisterFilter, request, ctx.caller.timezone, hidden=HIDDEN)
    found = chosen.page("/register", partial(find_register, api_state(request).desk,
                                             ctx.caller.actor), lambda e: e.id)
    return render(ctx, "register/list.html", {"filter": chosen, "page": found},
                  status_code=chosen.status_code)


REGISTER_COLUMNS = (
    Column(N_("Date"), Kind.DAY, 12), Column(N_("Time"), Kind.TIME, 17),
    Column(N_("Action"), width=12), Column(N_("Card number"), width=12),
    Column(N_("Holder"), width=12), Column(N_("Holder kind"), width=12),
    Column(N_("Unit"), width=10), Column(N_("Signed by"), width=12),
    Column(N_("Signature ref."), width=16), Column(N_("Receipt no."), Kind.NUMBER, 10),
    Column(N_("Other card"), width=12), Column(N_("Handled by"), width=12),
    Column(N_("Detail"), width=30),
)


@router.get("/register.xlsx")
def register_xlsx(request: Request, ctx: Reader) -> Response:
    """Every register line the filters pick, as a spreadsheet."""
    assert ctx.caller is not None
    chosen = list_filter(RegisterFilter, request, ctx.caller.timezone, hidden=HIDDEN)
    if chosen.chosen is None:
        return register(request, ctx)  # the page shows what was wrong with the filters
    found = find_register(api_state(request).desk, ctx.caller.actor, chosen.chosen)
    rows = [(e.entry_on, e.entry_at, e.action, e.card_uid, e.holder_name, e.holder_kind,
             e.unit, e.signed_by, e.signoff_ref, e.receipt_number, e.related_card_uid,
             e.clerk, e.detail) for e in found]
    content = workbook_bytes(ctx, N_("Card register"), REGISTER_COLUMNS, rows)
    return xlsx_response(content, f"card-register-{ctx.caller.site}.xlsx")
