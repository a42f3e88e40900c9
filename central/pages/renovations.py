"""Renovation filings (装修备案), rules H6 and G6, as desk pages: the ledger of filings,
filing one with its deposits (a non-owner with the owner's written consent), a filing's
page — its workers and their cards, its deposits — the director's approval, an extension
(every card still out follows), lending workers' cards, taking them back and refunding a
deposit once every card is back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.calendar import months_end
from central.form_input import FormInput
from central.pages import choosers
from central.pages.form_view import form_view, with_choices
from central.pages.page_request import Refused, field_errors, press, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services import renovation, renovation_approval, renovation_deposits
from central.services.context import Actor, Desk
from central.services.desk_choices import HouseholdChoice

router = APIRouter()

ViewDep = Annotated[PageContext, Depends(requires("get_renovation"))]
FileDep = Annotated[PageContext, Depends(requires("file_renovation"))]
ApproveDep = Annotated[PageContext, Depends(requires("approve_renovation"))]
ExtendDep = Annotated[PageContext, Depends(requires("extend_renovation"))]
CardsDep = Annotated[PageContext, Depends(requires("issue_worker_cards"))]
ReturnDep = Annotated[PageContext, Depends(requires("return_worker_cards"))]
RefundDep = Annotated[PageContext, Depends(requires("refund_renovation_deposit"))]

# How many worker lines the lending form draws (blank lines are dropped when posted).
WORKER_LINES = 3
# The forms on a filing's page, each drawn from its input's declaration (the filing is the
# page's own) and done by its service.
FILING_FORMS: dict[str, tuple[type[FormInput], Callable[[Desk, Actor, Any], object]]] = {
    "extend": (renovation.ExtendRenovation, renovation.extend_renovation),
    "cards": (renovation.IssueWorkerCards, renovation.issue_worker_cards),
    "return": (renovation_deposits.ReturnWorkerCards, renovation_deposits.return_worker_cards),
    "refund": (renovation_deposits.RefundDeposit, renovation_deposits.refund_deposit),
}


@router.get("/renovations", response_class=HTMLResponse)
async def ledger(request: Request, ctx: ViewDep) -> HTMLResponse:
    """The renovation ledger: the last year's filings and any still holding cards or
    deposits."""
    lines = await run_in_threadpool(renovation.renovation_ledger, api_state(request).desk,
                                    ctx.actor)
    return render(ctx, "renovations/list.html", {"lines": lines})


def _filing_form(ctx: PageContext, households: tuple[HouseholdChoice, ...],
                 values: dict[str, Any], errors: Any = ()) -> Any:
    return with_choices(form_view(renovation.FileRenovation, values, errors),
                        choosers.household_choices(households, ctx.gettext))


@router.get("/renovations/new", response_class=HTMLResponse)
async def new_filing(request: Request, ctx: FileDep, unit: str | None = None,
                     household: int | None = None) -> HTMLResponse:
    """The filing's form, once the unit is found (or from a household's page)."""
    found = await choosers.find_unit(request, ctx, unit, household)
    today = choosers.site_today(request, ctx)
    values = {"starts_on": today, "ends_on": months_end(today, 1),
              **found.household(household)}
    return render(ctx, "renovations/new.html", {
        **found.shown, "fields": _filing_form(ctx, found.households, values)})


@router.post("/renovations/new", response_class=HTMLResponse)
async def file_renovation(request: Request, ctx: FileDep) -> Response:
    """File the renovation and take its deposits: at most three months (H6); a non-owner
    brings the owner's written consent; deposits against their own receipts (G6)."""
    sent = await submit(request, ctx, renovation.FileRenovation, renovation.file_renovation)
    if isinstance(sent, Refused):
        found = await choosers.find_unit(request, ctx, choosers.posted_unit(sent.form))
        return render(ctx, "renovations/new.html", {
            **found.shown, "error": sent.error,
            "fields": _filing_form(ctx, found.households, sent.values, sent.errors)},
            status_code=sent.error.http_status)
    return see_other(f"/renovations/{sent.result.filing_id}?done=filed")


async def _filing_page(request: Request, ctx: PageContext, filing_id: int, *,
                       done: str | None = None, failed: str | None = None,
                       values: dict[str, Any] | None = None, error: DeskError | None = None,
                       status_code: int = 200) -> HTMLResponse:
    view = await run_in_threadpool(renovation.filing_summary, api_state(request).desk,
                                   ctx.actor, filing_id)
    signer = view.contractor_lead.split(" ")[0] if view.contractor_lead else ""
    defaults: dict[str, dict[str, Any]] = {
        "extend": {"new_end": months_end(view.ends_on + timedelta(days=1), 1),
                   "signoff": {"signer_name": signer}},
        "cards": {},
        "return": {"uids": [w.uid for w in view.workers if not w.returned]},
        "refund": {},
    }
    forms = {}
    for name, (cls, _service) in FILING_FORMS.items():
        shown = values if name == failed and values is not None else defaults[name]
        errors = field_errors(error) if name == failed and error is not None else ()
        forms[name] = with_choices(form_view(cls, shown, errors, leave_out=("filing_id",),
                                             rows={"lines": WORKER_LINES}), {})
    out = [d for d in view.deposits if not d.refunded]
    forms["refund"] = with_choices(forms["refund"], {"receipt_number": [
        (str(d.receipt_number), f"No. {d.receipt_number} · {d.payer_name}") for d in out]})
    return render(ctx, "renovations/filing.html", {
        "filing": view, "forms": forms, "done": done, "failed": failed, "error": error,
        "cards_out": sum(1 for w in view.workers if not w.returned)},
        status_code=status_code)


@router.get("/renovations/{filing_id}", response_class=HTMLResponse)
async def filing_page(request: Request, ctx: ViewDep, filing_id: int,
                      done: str | None = None) -> HTMLResponse:
    """A filing: its period and extensions, its workers and their cards, its deposits, and
    what may be done with it."""
    return await _filing_page(request, ctx, filing_id, done=done)


@router.post("/renovations/{filing_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, ctx: ApproveDep, filing_id: int) -> Response:
    """The director approves the filing (H6, seed 001)."""
    sent = await press(request, ctx, lambda desk, actor: renovation_approval.approve_renovation(
        desk, actor, filing_id))
    if isinstance(sent, Refused):
        if isinstance(sent.error, NotFoundError):
            raise sent.error
        return await _filing_page(request, ctx, filing_id, error=sent.error,
                                  status_code=sent.error.http_status)
    return see_other(f"/renovations/{filing_id}?done=approved")


async def _filing_action(request: Request, ctx: PageContext, filing_id: int,
                         name: str) -> Response:
    """Read the filing's form ``name`` and perform it; the page again, refused or done."""
    cls, service = FILING_FORMS[name]
    sent = await submit(request, ctx, cls, service, given={"filing_id": filing_id})
    if isinstance(sent, Refused):
        if isinstance(sent.error, NotFoundError) and sent.error.field == "filing_id":
            raise sent.error
        return await _filing_page(request, ctx, filing_id, failed=name, values=sent.values,
                                  error=sent.error, status_code=sent.error.http_status)
    return see_other(f"/renovations/{filing_id}?done={name}")


@router.post("/renovations/{filing_id}/extend", response_class=HTMLResponse)
async def extend(request: Request, ctx: ExtendDep, filing_id: int) -> Response:
    """Extend the filing by at most three months (H6); every card still out follows."""
    return await _filing_action(request, ctx, filing_id, "extend")


@router.post("/renovations/{filing_id}/worker-cards", response_class=HTMLResponse)
async def lend_cards(request: Request, ctx: CardsDep, filing_id: int) -> Response:
    """Lend workers temporary cards: blank cards (I6), each signed for (I1), valid to the
    filing's end in working hours (H6)."""
    return await _filing_action(request, ctx, filing_id, "cards")


@router.post("/renovations/{filing_id}/returned-cards", response_class=HTMLResponse)
async def return_cards(request: Request, ctx: ReturnDep, filing_id: int) -> Response:
    """Take workers' cards back; each is formatted for re-use (G6, I6)."""
    return await _filing_action(request, ctx, filing_id, "return")


@router.post("/renovations/{filing_id}/refund", response_class=HTMLResponse)
async def refund(request: Request, ctx: RefundDep, filing_id: int) -> Response:
    """Refund a deposit to its payer, once every worker's card is back (G6)."""
    return await _filing_action(request, ctx, filing_id, "refund")
