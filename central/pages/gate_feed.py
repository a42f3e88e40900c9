"""The gates' live event feed: newest first, each tap with its card's holder and unit, in
the site's local time, filtered by gate, kind, outcome, card and time window (one declared
input, ``EventQuery``), refreshing itself; and the same events as an XLSX file with headers
in the reader's language."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from openpyxl import Workbook

from central.api.state import api_state
from central.form_input import read_input
from central.pages.form_view import form_view, posted_values
from central.pages.i18n import N_
from central.pages.page_request import field_errors, requires
from central.pages.templating import PageContext, local_time, render
from central.refusals import DeskError, FieldError, UnavailableError
from central.services import gate_events, gate_status
from central.services.gate_events import EventOutcome, EventPage, EventQuery

router = APIRouter()
POLL = "every 5s"
# A page shows this many events (narrow the window for older ones); an export at most
# EXPORT_LIMIT, a month of a busy gate's taps.
PAGE_LIMIT, EXPORT_LIMIT = 200, 20_000

# The journal's event kinds a guard reads, by name (edge/, sync/agent/); a kind not listed
# shows as its code.
EVENT_KINDS: dict[str, str] = {
    "lot_corrected": N_("Car park count corrected"),
    "lot_correct_failed": N_("Car park count could not be corrected"),
    "display_unavailable": N_("Lane display gone"),
    "display_available": N_("Lane display back"),
    "display_fault": N_("Lane display fault"),
    "camera_unavailable": N_("Plate camera gone"),
    "camera_available": N_("Plate camera back"),
    "camera_intruder": N_("Plate push from an unknown device"),
    "camera_bad_push": N_("Bad plate push"),
    "credit_lapsed": N_("Grant unused"),
    "lot_counts_fault": N_("Car park count file fault"),
    "site_rules_unreadable": N_("Site rules unreadable"),
    "site_rules": N_("Site rules applied"),
    "tap": N_("Card tap"),
    "plate": N_("Plate read"),
    "vehicle_counted": N_("Vehicle counted"),
    "timed_mode": N_("Timed mode"),
    "rex": N_("Exit button"),
    "manual_open": N_("Opened by hand"),
    "remote_command": N_("Remote command"),
    "door_opened": N_("Door opened"),
    "door_closed": N_("Door closed"),
    "door_forced_open": N_("Door forced open"),
    "door_held_open": N_("Door held open"),
    "door_mode": N_("Door mode changed"),
    "mode_expired": N_("Hold-open or lockdown ended"),
    "barrier_state": N_("Barrier moved"),
    "barrier_stuck": N_("Barrier stuck"),
    "barrier_reset": N_("Barrier reset"),
    "vehicle_passed": N_("Vehicle passed"),
    "vehicle_backed_out": N_("Vehicle backed out"),
    "tailgate": N_("Tailgating"),
    "security": N_("Security warning"),
    "journal_overflow": N_("Event log overflow"),
    "clock_trust": N_("Clock trust changed"),
    "storage_fault": N_("Storage fault"),
    "storage_recovered": N_("Storage recovered"),
    "remote_command_failed": N_("Remote command failed"),
    "remote_command_undelivered": N_("Remote command not delivered"),
    "boot": N_("Gate started"),
    "shutdown": N_("Gate stopped"),
}
# Why a tap was granted or refused, by name (edge/decision.py Reason); others show as codes.
REASONS: dict[str, str] = {
    "granted": N_("Granted"),
    "unknown_card": N_("Unknown card"),
    "lost": N_("Reported lost"),
    "revoked": N_("Withdrawn"),
    "not_yet_valid": N_("Not yet valid"),
    "expired": N_("Expired"),
    "not_permitted_here": N_("No access at this gate"),
    "outside_schedule": N_("Outside its hours"),
    "anti_passback": N_("Anti-passback"),
    "clock_untrusted": N_("Gate clock not trusted"),
    "out_of_service": N_("Gate out of service"),
    "lockdown": N_("Gate locked down"),
    "journal_unavailable": N_("Event log unavailable"),
    "whitelist_unavailable": N_("Card list unavailable"),
    "parking_expired": N_("Monthly parking expired"),
    "parking_not_started": N_("Monthly parking not started yet"),
    "guard_confirm": N_("Expired monthly card: guard to confirm"),
    "lot_full": N_("Car park full"),
    "monthly_only": N_("Monthly cars only at this hour"),
    "pay_at_booth": N_("Temporary car: pay at the booth"),
    "plate_unknown": N_("Plate not on any card"),
    "plate_ambiguous": N_("Plate read matches several cards"),
    "plate_low_confidence": N_("Plate read unclear"),
    "plate_mismatch": N_("Card and plate do not match"),
    "pair_incomplete": N_("Waiting for card and plate"),
}
EXPORT_HEADERS = (N_("Time"), N_("Gate"), N_("Event"), N_("Card number"), N_("Holder"),
                  N_("Unit"), N_("Outcome"), N_("Reason"), N_("Alarm"))


def _query(ctx: PageContext, params: Mapping[str, Any]) -> tuple[
        EventQuery | None, dict[str, Any], list[FieldError]]:
    """The filters asked for (None with their problems when they cannot be read), and
    what was typed, to draw the form again."""
    assert ctx.caller is not None
    typed = posted_values(EventQuery, params, ctx.caller.timezone)
    given = {k: v for k, v in typed.items() if v not in ("", None)}
    try:
        return read_input(EventQuery, given), typed, []
    except DeskError as exc:
        return None, typed, field_errors(exc)


def _events(request: Request, ctx: PageContext, query: EventQuery, limit: int) -> EventPage:
    assert ctx.caller is not None
    state, actor = api_state(request), ctx.caller.actor
    source = state.events.get(actor.site)
    if source is None:
        raise UnavailableError("本小区的门禁事件库未接入",
                               "this site's gate event store is not connected")
    return gate_events.gate_events(state.desk, actor, source, query.event_filter(limit))


def _gate_choices(request: Request, ctx: PageContext) -> dict[str, str]:
    assert ctx.caller is not None
    return gate_status.gate_names(api_state(request).desk, ctx.caller.actor)


def _feed(request: Request, ctx: PageContext) -> dict[str, Any]:
    query, typed, problems = _query(ctx, request.query_params)
    data: dict[str, Any] = {
        "fields": {f.name: f for f in form_view(EventQuery, typed, problems)},
        "typed": typed, "gates": _gate_choices(request, ctx), "kinds": EVENT_KINDS,
        "reasons": REASONS, "page": None, "poll": POLL,
        "filters": urlencode({k: v for k, v in request.query_params.items() if v}),
        "kind_label": lambda kind: EVENT_KINDS.get(kind, kind),
        "granted": EventOutcome.GRANTED, "denied": EventOutcome.DENIED,
    }
    if query is not None:
        data["page"] = _events(request, ctx, query, PAGE_LIMIT)
    return data


@router.get("/gates/events", response_class=HTMLResponse)
async def feed(request: Request,
               ctx: Annotated[PageContext, Depends(requires("list_events"))]) -> Response:
    """The event feed with its filters; the list refreshes itself."""
    try:
        data = await run_in_threadpool(_feed, request, ctx)
    except DeskError as exc:
        return render(ctx, "gates/events.html", {"unavailable": exc},
                      status_code=exc.http_status)
    # Filters that cannot be read come back beside their fields, as a refused form does.
    return render(ctx, "gates/events.html", data,
                  status_code=200 if data["page"] is not None else 422)


@router.get("/gates/events/rows", response_class=HTMLResponse)
async def feed_rows(request: Request,
                    ctx: Annotated[PageContext, Depends(requires("list_events"))]) -> Response:
    """The feed's list alone (the page's htmx poll), with the same filters."""
    data = await run_in_threadpool(_feed, request, ctx)
    return render(ctx, "gates/_events.html", data)


def workbook(ctx: PageContext, found: EventPage) -> bytes:
    """The events as an XLSX workbook, one row each, headers in the reader's language."""
    assert ctx.caller is not None
    _ = ctx.gettext
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("Gate events")
    sheet.append([_(h) for h in EXPORT_HEADERS])
    for item in found.events:
        e, holder = item.event, item.holder
        granted = e.get("granted")
        reason = e.get("reason")
        sheet.append([
            local_time(item.at, ctx.caller.timezone, seconds=True),
            str(e.get("device") or ""), _(EVENT_KINDS.get(str(e["kind"]), str(e["kind"]))),
            str(e.get("uid") or ""), holder.name if holder else "",
            (holder.unit or "") if holder else "",
            "" if granted is None else _("Granted") if granted else _("Denied"),
            "" if reason is None else _(REASONS.get(str(reason), str(reason))),
            _("Yes") if e.get("alarm") else "",
        ])
    if found.truncated:
        sheet.append([_("More events match: narrow the time window.")])
    sheet.freeze_panes = "A2"
    for column, width in zip("ABCDEFGHI", (20, 14, 16, 14, 12, 10, 8, 16, 6), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.get("/gates/events.xlsx")
async def export(request: Request,
                 ctx: Annotated[PageContext, Depends(requires("list_events"))]) -> Response:
    """The events matching the feed's filters, as an XLSX file."""
    query, _typed, _problems = _query(ctx, request.query_params)
    if query is None:
        return await feed(request, ctx)
    found = await run_in_threadpool(_events, request, ctx, query, EXPORT_LIMIT)
    body = await run_in_threadpool(workbook, ctx, found)
    return Response(body, media_type="application/vnd.openxmlformats-officedocument."
                                      "spreadsheetml.sheet",
                    headers={"Content-Disposition":
                             'attachment; filename="gate-events.xlsx"'})
