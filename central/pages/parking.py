"""The car park at the desk: the overview of monthly subscriptions by step, the
application with its documents (rule P1), the approvals (the owner unit's and the office
director's, P3), a card's months paid with the new paid-until date shown before payment
(P2), ending a subscription, the emergency reserve spaces (P5) and the monthly report with
its three stamps and the XLSX file (P4). Every action is the API's service call."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from central.api.state import api_state
from central.form_input import FormInput, read_input
from central.forms import FormReader
from central.models import SpaceKind
from central.pages.choosers import site_today
from central.pages.enum_labels import enum_label
from central.pages.form_view import form_view, unplaced_errors
from central.pages.page_request import (
    Refused,
    field_errors,
    posted_form,
    requires,
    see_other,
    submit,
)
from central.pages.spreadsheet import xlsx_response
from central.pages.templating import PageContext, render
from central.refusals import DeskError, FieldError, InvalidInputError, UnavailableError
from central.services.context import Actor, Desk
from central.services.parking import (
    ApplyParking,
    EndParking,
    TopUpParking,
    TopUpTerms,
    apply_parking,
    end_parking,
    preview_top_up,
    top_up_parking,
)
from central.services.parking_approval import (
    ApproveParking,
    RecordOwnerUnitApproval,
    approve_parking,
    record_owner_unit_approval,
)
from central.services.parking_overview import (
    Holders,
    SubscriptionState,
    approval_queue,
    card_parking,
    parking_holders,
    parking_subscription,
    parking_subscriptions,
)
from central.services.parking_report import GateEventSource, due_dates
from central.services.parking_report_export import report_xlsx
from central.services.parking_report_signoff import (
    SignParkingReport,
    add_parking_usage,
    current_parking_report,
    read_month,
    sign_parking_report,
    total_parking_fees,
)
from central.services.parking_reserve import (
    NameReserveVehicle,
    ReserveAdmission,
    admit_to_reserve_space,
    name_reserve_vehicle,
    reserve_namings,
)

router = APIRouter()


# ------------------------------------------------------------------ overview


@router.get("/parking", response_class=HTMLResponse)
async def overview(request: Request, ctx: Annotated[PageContext, Depends(
        requires("get_parking_report"))], state: str | None = None) -> HTMLResponse:
    """The car park for the desk: subscriptions by step, the approval queue, the links;
    a guard sees the reserve check and the report."""
    actor = ctx.actor
    chosen = next((s for s in SubscriptionState if s.value == state), None)
    counts: dict[SubscriptionState, int] = {}
    lines: list[Any] = []
    queue = 0
    if ctx.can("apply_parking"):
        desk = api_state(request).desk
        counts, lines = await run_in_threadpool(parking_subscriptions, desk, actor, chosen)
        queue = counts[SubscriptionState.AWAITING_OWNER_UNIT] + \
            counts[SubscriptionState.AWAITING_DIRECTOR]
    return render(ctx, "parking/overview.html", {
        "counts": counts, "lines": lines, "chosen": chosen, "states": list(SubscriptionState),
        "queue": queue, "last_month": _last_month(site_today(request, ctx))})


def _last_month(today: date) -> str:
    first = today.replace(day=1)
    return f"{first.year - (first.month == 1)}-{(first.month - 2) % 12 + 1:02d}"


# ------------------------------------------------------------------ application (P1)


def _holders(request: Request, actor: Actor, household: int | None, person: int | None,
             unit: str | None) -> Holders | None:
    if household is None and person is None and not unit:
        return None
    return parking_holders(api_state(request).desk, actor, household_id=household,
                           person_id=person, unit=unit)


def _apply_page(ctx: PageContext, holders: Holders | None, values: dict[str, Any], *,
                errors: list[FieldError], error: DeskError | None, unit: str,
                status_code: int = 200) -> HTMLResponse:
    fields = form_view(ApplyParking, values, errors, leave_out=("holder_person_id",))
    holder_errors = [e for e in errors if e.field == "holder_person_id"]
    others = [e for e in unplaced_errors(fields, errors) if e.field != "holder_person_id"]
    return render(ctx, "parking/apply.html", {
        "fields": fields, "holders": holders, "unit": unit, "error": error,
        "others": others, "holder_errors": holder_errors,
        "chosen_holder": str(values.get("holder_person_id") or "")},
        status_code=status_code)


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


@router.get("/parking/apply", response_class=HTMLResponse)
async def apply_form(request: Request, ctx: Annotated[PageContext, Depends(
        requires("apply_parking"))], household: str | None = None, person: str | None = None,
        unit: str | None = None) -> HTMLResponse:
    """The application form (车位使用申请表): find the household by its unit (or come from a
    household's or person's page), pick the holder, check the documents (P1)."""
    actor = ctx.actor
    error: DeskError | None = None
    holders = None
    try:
        holders = await run_in_threadpool(_holders, request, actor, _int_or_none(household),
                                          _int_or_none(person), unit)
    except DeskError as exc:
        error = exc
    values: dict[str, Any] = {}
    if holders is not None and len(holders.people) == 1:
        values["holder_person_id"] = holders.people[0].person_id
    return _apply_page(ctx, holders, values, errors=[], error=error, unit=unit or "",
                       status_code=error.http_status if error is not None else 200)


@router.post("/parking/apply", response_class=HTMLResponse)
async def apply_post(request: Request, ctx: Annotated[PageContext, Depends(
        requires("apply_parking"))]) -> Response:
    """Open the subscription (P1); it waits for the approvals (P3)."""
    sent = await submit(request, ctx, ApplyParking, apply_parking)
    if isinstance(sent, Refused):
        form = sent.form
        unit = _text(form, "unit")
        holders = None
        with contextlib.suppress(DeskError):
            holders = await run_in_threadpool(
                _holders, request, ctx.actor, _int_or_none(_text(form, "household")),
                _int_or_none(_text(form, "person")), unit)
        return _apply_page(ctx, holders, sent.values, errors=sent.errors, error=sent.error,
                           unit=unit or "", status_code=sent.error.http_status)
    target = f"/parking/subscriptions/{sent.result.subscription_id}?done=applied"
    if sent.result.receipt_number is not None:
        target += f"&receipt={sent.result.receipt_number}"
    return see_other(target)


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------ approvals (P3)


@router.get("/parking/approvals", response_class=HTMLResponse)
async def approvals(request: Request, ctx: Annotated[PageContext, Depends(
        requires("record_owner_unit_approval"))]) -> HTMLResponse:
    """The applications waiting for the owner unit's or the director's approval."""
    actor = ctx.actor
    queue = await run_in_threadpool(approval_queue, api_state(request).desk, actor)
    return render(ctx, "parking/approvals.html", {"queue": queue})


# The approval forms on an application's page: input, service, the note once done.
APPROVALS: dict[str, tuple[type[FormInput], Callable[[Desk, Actor, Any], object], str]] = {
    "approve": (ApproveParking, approve_parking, "approved"),
    "owner": (RecordOwnerUnitApproval, record_owner_unit_approval, "owner_unit"),
}


async def _subscription_page(request: Request, ctx: PageContext, subscription_id: int, *,
                             failed: tuple[dict[str, Any], list[FieldError]] = ({}, []),
                             error: DeskError | None = None, error_of: str = "",
                             done: str | None = None, receipt: str | None = None,
                             status_code: int = 200) -> HTMLResponse:
    actor = ctx.actor
    line = await run_in_threadpool(parking_subscription, api_state(request).desk, actor,
                                   subscription_id)
    approve = failed if error_of == "approve" else ({}, [])
    owner = failed if error_of == "owner" else ({}, [])
    approve_fields = form_view(ApproveParking, {"space_kind": line.space_kind, **approve[0]},
                               approve[1], leave_out=("subscription_id",))
    owner_fields = form_view(RecordOwnerUnitApproval, owner[0], owner[1],
                             leave_out=("subscription_id",))
    return render(ctx, "parking/subscription.html", {
        "line": line, "approve_fields": approve_fields, "owner_fields": owner_fields,
        "error": error, "error_of": error_of, "done": done,
        "receipt": receipt if receipt is not None and receipt.isdigit() else None,
        "others": unplaced_errors(approve_fields if error_of == "approve" else owner_fields,
                                  field_errors(error)) if error is not None else []},
        status_code=status_code)


@router.get("/parking/subscriptions/{subscription_id}", response_class=HTMLResponse)
async def subscription(request: Request, ctx: Annotated[PageContext, Depends(
        requires("apply_parking"))], subscription_id: int, done: str | None = None,
        receipt: str | None = None) -> HTMLResponse:
    """One application: its step, and the approval forms still to be done."""
    return await _subscription_page(request, ctx, subscription_id, done=done, receipt=receipt)


async def _approval(request: Request, ctx: PageContext, subscription_id: int,
                    step: str) -> Response:
    """One of the two approvals (``approve``: the director's, ``owner``: the owner unit's
    signature recorded), done or refused on the application's page."""
    cls, service, done = APPROVALS[step]
    sent = await submit(request, ctx, cls, service,
                        given={"subscription_id": subscription_id})
    if isinstance(sent, Refused):
        return await _subscription_page(request, ctx, subscription_id,
                                         failed=(sent.values, sent.errors),
                                         error=sent.error, error_of=step,
                                         status_code=sent.error.http_status)
    return see_other(f"/parking/subscriptions/{subscription_id}?done={done}")


@router.post("/parking/subscriptions/{subscription_id}/approve", response_class=HTMLResponse)
async def approve_post(request: Request, ctx: Annotated[PageContext, Depends(
        requires("approve_parking"))], subscription_id: int) -> Response:
    """The office director approves: the fee per month and the space (P3, P5)."""
    return await _approval(request, ctx, subscription_id, "approve")


@router.post("/parking/subscriptions/{subscription_id}/owner-unit",
             response_class=HTMLResponse)
async def owner_unit_post(request: Request, ctx: Annotated[PageContext, Depends(
        requires("record_owner_unit_approval"))], subscription_id: int) -> Response:
    """The desk records the owner unit's signature on the application (seed 000)."""
    return await _approval(request, ctx, subscription_id, "owner")


# ------------------------------------------------------------------ a card's months (P2)


@router.get("/cards/{uid}/parking", response_class=HTMLResponse)
async def card_page(request: Request, ctx: Annotated[PageContext, Depends(
        requires("top_up_parking"))], uid: str, done: str | None = None,
        receipt: str | None = None) -> HTMLResponse:
    """A card's monthly parking: its step, the months paid, top up or end."""
    actor = ctx.actor
    parking = await run_in_threadpool(card_parking, api_state(request).desk, actor,
                                      _uid(uid))
    return render(ctx, "parking/card.html", {
        "parking": parking, "done": done,
        "receipt": receipt if receipt is not None and receipt.isdigit() else None})


def _uid(text: str) -> str:
    """The card in the path, read as every form reads a card number."""
    return read_input(EndParking, {"uid": text}).uid


def _months(uid: str, text: str | None,
            ) -> tuple[dict[str, Any], list[FieldError], TopUpParking | None]:
    """The months asked for a preview, read by the top-up's own declaration."""
    values = {"months": text if text is not None else "1"}
    try:
        return values, [], read_input(TopUpParking, values, given={"uid": uid})
    except InvalidInputError as exc:
        return values, list(exc.errors), None


def _preview(request: Request, actor: Actor, inp: TopUpParking | None,
             ) -> tuple[TopUpTerms | None, DeskError | None]:
    if inp is None:
        return None, None
    try:
        return preview_top_up(api_state(request).desk, actor, inp), None
    except DeskError as exc:
        return None, exc


async def _top_up_page(request: Request, ctx: PageContext, uid: str, *,
                       values: dict[str, Any], errors: list[FieldError],
                       asked: TopUpParking | None,
                       error: DeskError | None = None, status_code: int = 200) -> HTMLResponse:
    actor = ctx.actor
    desk = api_state(request).desk
    parking = await run_in_threadpool(card_parking, desk, actor, uid)
    terms, refused = await run_in_threadpool(_preview, request, actor, asked)
    fields = form_view(TopUpParking, values, errors, leave_out=("uid",))
    return render(ctx, "parking/top_up.html", {
        "parking": parking, "fields": fields, "terms": terms, "refused": refused,
        "error": error, "others": unplaced_errors(fields, errors) if error else []},
        status_code=status_code)


@router.get("/cards/{uid}/parking/top-up", response_class=HTMLResponse)
async def top_up_form(request: Request, ctx: Annotated[PageContext, Depends(
        requires("top_up_parking"))], uid: str, months: str | None = None) -> HTMLResponse:
    """Months of parking fees: the new paid-until date and the amount are shown before the
    money is taken (P2)."""
    card = _uid(uid)
    values, errors, asked = _months(card, months)
    return await _top_up_page(request, ctx, card, values=values, errors=errors, asked=asked)


@router.get("/cards/{uid}/parking/top-up/preview", response_class=HTMLResponse)
async def top_up_preview(request: Request, ctx: Annotated[PageContext, Depends(
        requires("top_up_parking"))], uid: str, months: str | None = None) -> HTMLResponse:
    """The preview alone (htmx, as the months are typed): period, amount, or the refusal."""
    actor = ctx.actor
    _values, errors, asked = _months(_uid(uid), months)
    terms, refused = await run_in_threadpool(_preview, request, actor, asked)
    return render(ctx, "parking/_top_up_preview.html", {
        "terms": terms, "refused": refused, "month_errors": errors})


@router.post("/cards/{uid}/parking/top-up", response_class=HTMLResponse)
async def top_up_post(request: Request, ctx: Annotated[PageContext, Depends(
        requires("top_up_parking"))], uid: str) -> Response:
    """Take the months' fees against a receipt (P2, I7)."""
    card = _uid(uid)
    sent = await submit(request, ctx, TopUpParking, top_up_parking, given={"uid": card})
    if isinstance(sent, Refused):
        _v, _e, asked = _months(card, str(sent.values.get("months", "")))
        return await _top_up_page(request, ctx, card, values=sent.values, errors=sent.errors,
                                  asked=asked, error=sent.error,
                                  status_code=sent.error.http_status)
    return see_other(f"/cards/{sent.result.uid}/parking?done=paid"
                     f"&receipt={sent.result.receipt_number}")


@router.post("/cards/{uid}/parking/end", response_class=HTMLResponse)
async def end_post(request: Request, ctx: Annotated[PageContext, Depends(
        requires("end_parking"))], uid: str) -> Response:
    """End the card's subscription today; the card keeps its doors."""
    actor = ctx.actor
    card = _uid(uid)
    await posted_form(request, ctx)
    await run_in_threadpool(end_parking, api_state(request).desk, actor, EndParking(card))
    return see_other(f"/cards/{card}/parking?done=ended")


# ------------------------------------------------------------------ reserve spaces (P5)


async def _reserve_page(request: Request, ctx: PageContext, *, plate: str | None = None,
                        values: dict[str, Any] | None = None,
                        errors: list[FieldError] | None = None,
                        error: DeskError | None = None, done: str | None = None,
                        status_code: int = 200) -> HTMLResponse:
    actor = ctx.actor
    desk = api_state(request).desk
    namings = await run_in_threadpool(reserve_namings, desk, actor)
    admission: ReserveAdmission | None = None
    refused: DeskError | None = None
    if plate:
        try:
            admission = await run_in_threadpool(admit_to_reserve_space, desk, actor, plate)
        except DeskError as exc:
            refused = exc
    fields = form_view(NameReserveVehicle, values or {"valid_from": site_today(request, ctx)},
                       errors or [])
    return render(ctx, "parking/reserve.html", {
        "namings": namings, "plate": plate or "", "admission": admission,
        "refused": refused, "fields": fields, "error": error, "done": done,
        "others": unplaced_errors(fields, errors or [])}, status_code=status_code)


@router.get("/parking/reserve", response_class=HTMLResponse)
async def reserve(request: Request, ctx: Annotated[PageContext, Depends(
        requires("check_reserve_admission"))], check: str | None = None,
        done: str | None = None) -> HTMLResponse:
    """The emergency reserve spaces: the vehicles named in advance, naming one, and the
    check of a plate at the gate (P5)."""
    return await _reserve_page(request, ctx, plate=(check or "").strip()[:16], done=done)


@router.post("/parking/reserve", response_class=HTMLResponse)
async def reserve_post(request: Request, ctx: Annotated[PageContext, Depends(
        requires("name_reserve_vehicle"))]) -> Response:
    """Record a vehicle named in advance by the owner unit or the management office."""
    sent = await submit(request, ctx, NameReserveVehicle, name_reserve_vehicle)
    if isinstance(sent, Refused):
        return await _reserve_page(request, ctx, values=sent.values, errors=sent.errors,
                                   error=sent.error, status_code=sent.error.http_status)
    return see_other("/parking/reserve?done=named")


# ------------------------------------------------------------------ monthly report (P4)


def _month(text: str) -> date:
    """The month in the path (``2026-06``), read as the services' forms read it."""
    r = FormReader({"month": text})
    month = read_month(r)
    r.finish()
    return month


def _events(request: Request, site: str) -> GateEventSource | None:
    return api_state(request).events.get(site)


def _barrier_logs(request: Request, site: str) -> GateEventSource:
    """The site's gate events, needed to add or sign the use; refused (503) without."""
    events = _events(request, site)
    if events is None:
        raise UnavailableError("本小区的门禁事件库未连接，无法读取道闸记录",
                               "the gate event store of this site is not connected: "
                               "the barriers' logs cannot be read")
    return events


@router.get("/parking/reports", response_class=HTMLResponse)
def reports(request: Request, ctx: Annotated[PageContext, Depends(
        requires("get_parking_report"))]) -> Response:
    """Last month's report: the one due this month."""
    return see_other(f"/parking/reports/{_last_month(site_today(request, ctx))}")


async def _report_page(request: Request, ctx: PageContext, month: date, *,
                       sign: tuple[dict[str, Any], list[FieldError]] = ({}, []),
                       error: DeskError | None = None, done: str | None = None,
                       status_code: int = 200) -> HTMLResponse:
    actor = ctx.actor
    assert ctx.caller is not None
    report = await run_in_threadpool(current_parking_report, api_state(request).desk, actor,
                                     month, _events(request, ctx.caller.site))
    first = month.replace(day=1)
    previous = _last_month(first)
    following = f"{first.year + (first.month == 12)}-{first.month % 12 + 1:02d}"
    return render(ctx, "parking/report.html", {
        "report": report, "month": f"{month:%Y-%m}", "previous": previous,
        "fees_due": due_dates(month)[0], "usage_due": due_dates(month)[1],
        "following": following, "month_over": following <= f"{site_today(request, ctx):%Y-%m}",
        "sign_fields": form_view(SignParkingReport, sign[0], sign[1], leave_out=("month",)),
        "error": error, "done": done, "space_of": lambda text: _space_text(ctx, text)},
        status_code=status_code)


def _space_text(ctx: PageContext, text: str) -> str:
    """A report line's space (``fixed B2-017``, the export's words) in the clerk's."""
    kind, _, number = text.partition(" ")
    known = next((k for k in SpaceKind if k.value == kind), None)
    if known is None:
        return text
    return f"{ctx.gettext(enum_label(known))} {number}".strip()


@router.get("/parking/reports/{month}", response_class=HTMLResponse)
async def report(request: Request, ctx: Annotated[PageContext, Depends(
        requires("get_parking_report"))], month: str, done: str | None = None,
        ) -> HTMLResponse:
    """The month's report as it stands: the three steps with their stamps, the fees, the
    use and the reconciliation."""
    return await _report_page(request, ctx, _month(month), done=done)


@router.get("/parking/reports/{month}/xlsx")
async def report_file(request: Request, ctx: Annotated[PageContext, Depends(
        requires("get_parking_report"))], month: str) -> Response:
    """The report as an XLSX workbook (the API's export)."""
    actor = ctx.actor
    assert ctx.caller is not None
    report = await run_in_threadpool(current_parking_report, api_state(request).desk, actor,
                                     _month(month), _events(request, ctx.caller.site))
    return xlsx_response(await run_in_threadpool(report_xlsx, report),
                         f"parking-report-{report.site_code}-{report.month:%Y-%m}.xlsx")


async def _report_step(request: Request, ctx: PageContext, month: str, step: str) -> Response:
    """One of the report's steps done from its page: the desk's totals or security's use."""
    actor = ctx.actor
    assert ctx.caller is not None
    the_month = _month(month)
    await posted_form(request, ctx)
    desk = api_state(request).desk
    try:
        if step == "fees":
            await run_in_threadpool(total_parking_fees, desk, actor, the_month)
        else:
            await run_in_threadpool(add_parking_usage, desk, actor, the_month,
                                    _barrier_logs(request, ctx.caller.site))
    except DeskError as exc:
        return await _report_page(request, ctx, the_month, error=exc,
                                  status_code=exc.http_status)
    return see_other(f"/parking/reports/{the_month:%Y-%m}?done={step}")


@router.post("/parking/reports/{month}/fees", response_class=HTMLResponse)
async def report_fees(request: Request, ctx: Annotated[PageContext, Depends(
        requires("total_parking_fees"))], month: str) -> Response:
    """The desk totals the month's parking fees (P4, by the 10th)."""
    return await _report_step(request, ctx, month, "fees")


@router.post("/parking/reports/{month}/usage", response_class=HTMLResponse)
async def report_usage(request: Request, ctx: Annotated[PageContext, Depends(
        requires("add_parking_usage"))], month: str) -> Response:
    """Security adds each card's use from the barriers' logs (P4, by the 15th)."""
    return await _report_step(request, ctx, month, "usage")


@router.post("/parking/reports/{month}/sign", response_class=HTMLResponse)
async def report_sign(request: Request, ctx: Annotated[PageContext, Depends(
        requires("sign_parking_report"))], month: str) -> Response:
    """The office director signs the reconciled report (P4)."""
    the_month = _month(month)
    sent = await submit(request, ctx, SignParkingReport, lambda desk, actor, inp: (
        sign_parking_report(desk, actor, inp, _barrier_logs(request, actor.site))),
        given={"month": f"{the_month:%Y-%m}"})
    if isinstance(sent, Refused):
        return await _report_page(request, ctx, the_month, sign=(sent.values, sent.errors),
                                  error=sent.error, status_code=sent.error.http_status)
    return see_other(f"/parking/reports/{the_month:%Y-%m}?done=signed")
