"""Renovation filings (装修备案), rules H6 and G6, as desk pages: the ledger of filings,
filing one with its deposits (a non-owner with the owner's written consent), a filing's
page — its workers and their cards, its deposits — the director's approval, an extension
(every card still out follows), lending workers' cards, taking them back and refunding a
deposit once every card is back."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.calendar import months_end
from central.form_input import FormInput, read_input
from central.pages.choosers import (
    household_options,
    person_options,
    site_today,
)
from central.pages.form_view import form_view, posted_values, with_choices
from central.pages.page_request import field_errors, posted_form, requires, see_other
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services import renovation, renovation_approval, renovation_deposits
from central.services.context import Actor
from central.services.desk_choices import HouseholdChoice, unit_households

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
# The forms on a filing's page, each drawn from its input's declaration; the filing is the
# page's own.
FILING_FORMS: dict[str, type[FormInput]] = {
    "extend": renovation.ExtendRenovation,
    "cards": renovation.IssueWorkerCards,
    "return": renovation_deposits.ReturnWorkerCards,
    "refund": renovation_deposits.RefundDeposit,
}


def _actor(ctx: PageContext) -> Actor:
    assert ctx.caller is not None
    return ctx.caller.actor


@router.get("/renovations", response_class=HTMLResponse)
async def ledger(request: Request, ctx: ViewDep) -> HTMLResponse:
    """The renovation ledger: the last year's filings and any still holding cards or
    deposits."""
    lines = await run_in_threadpool(renovation.renovation_ledger, api_state(request).desk,
                                    _actor(ctx))
    return render(ctx, "renovations/list.html", {"lines": lines})


async def _households(request: Request, ctx: PageContext, unit: str | None,
                      household_id: int | None,
                      ) -> tuple[tuple[HouseholdChoice, ...], DeskError | None]:
    if not unit and household_id is None:
        return (), None
    try:
        return await run_in_threadpool(unit_households, api_state(request).desk, _actor(ctx),
                                       unit=unit, household_id=household_id), None
    except DeskError as exc:
        return (), exc


def _filing_form(ctx: PageContext, households: tuple[HouseholdChoice, ...],
                 values: dict[str, Any], errors: Any = ()) -> Any:
    return with_choices(form_view(renovation.FileRenovation, values, errors), {
        "household_id": household_options(households, ctx.gettext),
        "applicant_person_id": person_options(households, ctx.gettext),
        "owner_consent.owner_person_id": person_options(households, ctx.gettext,
                                                        owners_only=True),
    })


@router.get("/renovations/new", response_class=HTMLResponse)
async def new_filing(request: Request, ctx: FileDep, unit: str | None = None,
                     household: int | None = None) -> HTMLResponse:
    """The filing's form, once the unit is found (or from a household's page)."""
    households, unit_error = await _households(request, ctx, unit, household)
    today = site_today(request, ctx)
    values: dict[str, Any] = {"starts_on": today, "ends_on": months_end(today, 1)}
    if household is not None and households:
        values["household_id"] = household
    elif len(households) == 1:
        values["household_id"] = households[0].household_id
    return render(ctx, "renovations/new.html", {
        "unit": unit or (households[0].unit_label if households else ""),
        "unit_error": unit_error, "households": households,
        "fields": _filing_form(ctx, households, values)})


@router.post("/renovations/new", response_class=HTMLResponse)
async def file_renovation(request: Request, ctx: FileDep) -> Response:
    """File the renovation and take its deposits: at most three months (H6); a non-owner
    brings the owner's written consent; deposits against their own receipts (G6)."""
    assert ctx.caller is not None
    form = await posted_form(request, ctx)
    unit = str(form.get("unit") or "")
    values = posted_values(renovation.FileRenovation, form, ctx.caller.timezone)
    try:
        inp = read_input(renovation.FileRenovation, values)
        result = await run_in_threadpool(renovation.file_renovation,
                                         api_state(request).desk, _actor(ctx), inp)
    except DeskError as exc:
        households, _ = await _households(request, ctx, unit, None)
        return render(ctx, "renovations/new.html", {
            "unit": unit, "unit_error": None, "households": households,
            "fields": _filing_form(ctx, households, values, field_errors(exc)),
            "error": exc}, status_code=exc.http_status)
    return see_other(f"/renovations/{result.filing_id}?done=filed")


async def _filing_page(request: Request, ctx: PageContext, filing_id: int, *,
                       done: str | None = None, failed: str | None = None,
                       values: dict[str, Any] | None = None, error: DeskError | None = None,
                       status_code: int = 200) -> HTMLResponse:
    view = await run_in_threadpool(renovation.filing_summary, api_state(request).desk,
                                   _actor(ctx), filing_id)
    signer = view.contractor_lead.split(" ")[0] if view.contractor_lead else ""
    defaults: dict[str, dict[str, Any]] = {
        "extend": {"new_end": months_end(view.ends_on + timedelta(days=1), 1),
                   "signoff": {"signer_name": signer}},
        "cards": {},
        "return": {"uids": [w.uid for w in view.workers if not w.returned]},
        "refund": {},
    }
    forms = {}
    for name, cls in FILING_FORMS.items():
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
    await posted_form(request, ctx)
    try:
        await run_in_threadpool(renovation_approval.approve_renovation,
                                api_state(request).desk, _actor(ctx), filing_id)
    except DeskError as exc:
        if isinstance(exc, NotFoundError):
            raise
        return await _filing_page(request, ctx, filing_id, error=exc,
                                  status_code=exc.http_status)
    return see_other(f"/renovations/{filing_id}?done=approved")


async def _filing_action(request: Request, ctx: PageContext, filing_id: int,
                         name: str) -> Response:
    """Read the filing's form ``name`` and perform it; the page again, refused or done."""
    assert ctx.caller is not None
    form = await posted_form(request, ctx)
    cls = FILING_FORMS[name]
    values = posted_values(cls, form, ctx.caller.timezone)
    desk, actor = api_state(request).desk, _actor(ctx)
    try:
        inp: Any = read_input(cls, {**values, "filing_id": filing_id})
        if name == "extend":
            await run_in_threadpool(renovation.extend_renovation, desk, actor, inp)
        elif name == "cards":
            await run_in_threadpool(renovation.issue_worker_cards, desk, actor, inp)
        elif name == "return":
            await run_in_threadpool(renovation_deposits.return_worker_cards, desk, actor, inp)
        else:
            await run_in_threadpool(renovation_deposits.refund_deposit, desk, actor, inp)
    except DeskError as exc:
        if isinstance(exc, NotFoundError) and exc.field == "filing_id":
            raise
        return await _filing_page(request, ctx, filing_id, failed=name, values=values,
                                  error=exc, status_code=exc.http_status)
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
