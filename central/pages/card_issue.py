"""Issuing cards at the desk: choosing the holder's kind, then a household's resident cards
(H1 H2, with the household quota I4 and the fee I2 shown before the clerk commits, each
holder's sign-off I5), a merchant's card (H3) or an internal staff card (H4: the leads
only). Visitors (H7) and renovation workers (H6) have their own pages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.form_input import FormInput, read_input
from central.models import HolderKind, HouseholdKind, Relationship
from central.pages.form_view import Options, form_view, posted_values, unplaced_errors, with_choices
from central.pages.page_request import PageDep, field_errors, posted_form, requires, see_other
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services import other_cards, resident_cards
from central.services.card_activation import IssueResult

router = APIRouter()

ResidentDep = Annotated[PageContext, Depends(requires("issue_resident_cards"))]
MerchantDep = Annotated[PageContext, Depends(requires("issue_merchant_card"))]
StaffDep = Annotated[PageContext, Depends(requires("issue_staff_card"))]

# The most card lines one application form draws (a household rarely asks for more).
MAX_LINES = 8



def _tz(ctx: PageContext) -> str:
    assert ctx.caller is not None
    return ctx.caller.timezone


def staff_card_lead(ctx: PageDep) -> None:
    """Rule H4 before anything else on the staff card pages: anyone but the two leads is
    refused in the rule's own words (the permission matrix then checks the operation)."""
    assert ctx.caller is not None
    refusal = other_cards.staff_card_refusal(ctx.caller.role)
    if refusal is not None:
        raise refusal


@router.get("/cards/issue", response_class=HTMLResponse)
def choose_kind(ctx: ResidentDep) -> HTMLResponse:
    """Which kind of card: resident, merchant, staff (and where visitors and workers go)."""
    assert ctx.caller is not None
    h4 = other_cards.staff_card_refusal(ctx.caller.role)
    return render(ctx, "cards/issue_choose.html", {"h4": h4})


# ---------------------------------------------------------------- resident cards


def _lines_wanted(value: str | None, at_least: int = 1) -> int:
    try:
        wanted = int(value or at_least)
    except ValueError:
        wanted = at_least
    return max(at_least, min(MAX_LINES, wanted))


def _household_id(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise NotFoundError("没有这个住户", f"no household {value!r}", "household_id")
    return int(value)


def _planned(values: Mapping[str, Any]) -> list[resident_cards.PlannedLine]:
    """The lines as far as they are filled, read leniently (the issue reads them strictly):
    a relationship not yet chosen, a holder not yet picked."""
    planned = []
    for line in values.get("lines", []):
        try:
            relationship = Relationship(line.get("relationship") or "")
        except ValueError:
            relationship = None
        holder = str(line.get("holder_person_id") or "")
        planned.append(resident_cards.PlannedLine(
            relationship, int(holder) if holder.isdigit() else None))
    return planned


def _resident_page(ctx: PageContext, preview: resident_cards.ResidentIssuePreview,
                   values: Mapping[str, Any], *, errors: Sequence[Any] = (),
                   error: DeskError | None = None, lines: int = 1,
                   status_code: int = 200) -> HTMLResponse:
    tenancy = preview.kind is HouseholdKind.TENANCY
    leave_out = {"household_id", "owner_confirmation" if tenancy else "tenant_documents"}
    people: Options = [(str(m.id), m.name) for m in preview.members]
    owners: Options = [(str(m.id), m.name) for m in preview.members
                       if m.holder_kind is HolderKind.OWNER]
    view = with_choices(
        form_view(resident_cards.IssueResidentCards, values, errors, leave_out=leave_out,
             rows={"lines": lines}),
        {"applicant_person_id": people, "holder_person_id": people,
         "owner_confirmation.owner_person_id": owners})
    return render(ctx, "cards/issue_resident.html", {
        "preview": preview, "fields": view, "lines": lines, "max_lines": MAX_LINES,
        "others": unplaced_errors(view, errors), "error": error, "tenancy": tenancy,
    }, status_code=status_code)


@router.get("/cards/issue/resident", response_class=HTMLResponse)
async def resident_form(ctx: ResidentDep, request: Request, household: str | None = None,
                        lines: str | None = None) -> HTMLResponse:
    """A household's card application; without a household, the list to choose it from."""
    desk = api_state(request).desk
    household_id = _household_id(household)
    if household_id is None:
        choices = await run_in_threadpool(resident_cards.current_households, desk,
                                          ctx.actor)
        return render(ctx, "cards/issue_household.html", {"households": choices})
    preview = await run_in_threadpool(resident_cards.resident_issue_preview, desk,
                                      ctx.actor, household_id)
    return _resident_page(ctx, preview, {}, lines=_lines_wanted(lines))


@router.get("/cards/issue/resident/preview", response_class=HTMLResponse)
async def resident_preview(ctx: ResidentDep, request: Request) -> HTMLResponse:
    """The quota (I4) and fee (I2) of the form as filled so far (an htmx fragment; nothing
    is written)."""
    household_id = _household_id(request.query_params.get("household"))
    if household_id is None:
        raise NotFoundError("没有这个住户", "no household given", "household_id")
    values = posted_values(resident_cards.IssueResidentCards, request.query_params,
                           _tz(ctx))
    preview = await run_in_threadpool(resident_cards.resident_issue_preview,
                                      api_state(request).desk, ctx.actor, household_id,
                                      _planned(values))
    return render(ctx, "cards/_resident_preview.html", {"preview": preview})


@router.post("/cards/issue/resident", response_class=HTMLResponse)
async def issue_resident(ctx: ResidentDep, request: Request) -> Response:
    """Issue the household's cards, all or none; then the receipt (money was taken) or
    the household's page. ``step=more`` only draws one more card line."""
    form = await posted_form(request, ctx)
    desk = api_state(request).desk
    household_id = _household_id(str(form.get("household") or ""))
    if household_id is None:
        raise NotFoundError("没有这个住户", "no household given", "household_id")
    values = posted_values(resident_cards.IssueResidentCards, form, _tz(ctx))
    lines = _lines_wanted(str(form.get("lines_drawn") or ""), len(values.get("lines", [])))
    if form.get("step") == "more":
        preview = await run_in_threadpool(resident_cards.resident_issue_preview, desk,
                                          ctx.actor, household_id, _planned(values))
        return _resident_page(ctx, preview, values, lines=_lines_wanted(str(lines + 1)))
    try:
        inp = read_input(resident_cards.IssueResidentCards, values,
                         given={"household_id": household_id})
        result = await run_in_threadpool(resident_cards.issue_resident_cards, desk,
                                         ctx.actor, inp)
    except DeskError as exc:
        preview = await run_in_threadpool(resident_cards.resident_issue_preview, desk,
                                          ctx.actor, household_id, _planned(values))
        return _resident_page(ctx, preview, values, errors=field_errors(exc), error=exc,
                              lines=lines, status_code=exc.http_status)
    return see_other(_after_issue(result, f"/households/{household_id}?done=issued"))


def _after_issue(result: IssueResult, otherwise: str) -> str:
    """Where the desk goes once cards are issued: the receipt to print when money was
    taken, else ``otherwise``."""
    if result.receipt_number is not None:
        return f"/receipts/{result.receipt_number}?done=issued"
    return otherwise


# ---------------------------------------------------------------- merchant and staff


def _other_page(ctx: PageContext, kind: HolderKind, input_cls: type[FormInput], *,
                people: Sequence[other_cards.HolderChoice], fee_fen: int,
                values: Mapping[str, Any], errors: Sequence[Any] = (),
                error: DeskError | None = None, status_code: int = 200) -> HTMLResponse:
    options: Options = [(str(p.id), f"{p.name}（{p.organisation}）" if p.organisation
                         else p.name) for p in people]
    view = with_choices(form_view(input_cls, values, errors), {"holder_person_id": options})
    return render(ctx, "cards/issue_other.html", {
        "kind": kind, "fields": view, "fee_fen": fee_fen, "error": error,
        "others": unplaced_errors(view, errors),
        "action": "/cards/issue/merchant" if kind is HolderKind.MERCHANT
        else "/cards/issue/staff"}, status_code=status_code)


async def _other_form(ctx: PageContext, request: Request, kind: HolderKind,
                      input_cls: type[FormInput]) -> HTMLResponse:
    desk = api_state(request).desk
    people = await run_in_threadpool(other_cards.people_of_kind, desk, ctx.actor, kind)
    fee = await run_in_threadpool(other_cards.card_fee, desk, ctx.actor, kind)
    return _other_page(ctx, kind, input_cls, people=people, fee_fen=fee, values={})


async def _other_issue(ctx: PageContext, request: Request, kind: HolderKind,
                       input_cls: type[FormInput]) -> Response:
    form = await posted_form(request, ctx)
    desk = api_state(request).desk
    values = posted_values(input_cls, form, _tz(ctx))
    try:
        if kind is HolderKind.MERCHANT:
            result = await run_in_threadpool(
                other_cards.issue_merchant_card, desk, ctx.actor,
                read_input(other_cards.IssueMerchantCard, values))
        else:
            result = await run_in_threadpool(
                other_cards.issue_staff_card, desk, ctx.actor,
                read_input(other_cards.IssueStaffCard, values))
    except DeskError as exc:
        people = await run_in_threadpool(other_cards.people_of_kind, desk, ctx.actor, kind)
        fee = await run_in_threadpool(other_cards.card_fee, desk, ctx.actor, kind)
        return _other_page(ctx, kind, input_cls, people=people, fee_fen=fee, values=values,
                           errors=field_errors(exc), error=exc, status_code=exc.http_status)
    return see_other(_after_issue(result, f"/cards/{result.cards[0].uid}?done=issued"))


@router.get("/cards/issue/merchant", response_class=HTMLResponse)
async def merchant_form(ctx: MerchantDep, request: Request) -> HTMLResponse:
    """A merchant's card application (H3), its fee (I2) shown."""
    return await _other_form(ctx, request, HolderKind.MERCHANT, other_cards.IssueMerchantCard)


@router.post("/cards/issue/merchant", response_class=HTMLResponse)
async def issue_merchant(ctx: MerchantDep, request: Request) -> Response:
    """Issue a merchant's card; then its receipt."""
    return await _other_issue(ctx, request, HolderKind.MERCHANT, other_cards.IssueMerchantCard)


@router.get("/cards/issue/staff", response_class=HTMLResponse,
            dependencies=[Depends(staff_card_lead)])
async def staff_form(ctx: StaffDep, request: Request) -> HTMLResponse:
    """An internal staff card (H4: free; the front-desk or customer-service lead only)."""
    return await _other_form(ctx, request, HolderKind.STAFF, other_cards.IssueStaffCard)


@router.post("/cards/issue/staff", response_class=HTMLResponse,
             dependencies=[Depends(staff_card_lead)])
async def issue_staff(ctx: StaffDep, request: Request) -> Response:
    """Issue an internal staff card; then the card's page (no money is taken)."""
    return await _other_issue(ctx, request, HolderKind.STAFF, other_cards.IssueStaffCard)
