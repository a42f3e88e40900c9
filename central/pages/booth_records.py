"""The guards' booths as the desk reads them (issue 11): per booth, a day's shifts with
their handover reports and the float (over the limit in red, what was paid in), temporary
parking charges with the day's total, the visitors registered there (ID numbers masked as
the reader's role allows, G5), goods slips let out, the controls of the post's gates and
alarms acknowledged, and anything the desk could not take or has not yet received."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from central.api.state import api_state
from central.models import BoothRecordOutcome
from central.pages.choosers import site_today
from central.pages.i18n import N_
from central.pages.page_request import requires
from central.pages.templating import PageContext, render
from central.refusals import UnavailableError
from central.services import booth_records

router = APIRouter()

# The booth reads where gate events are read: the guards, the leads and the director.
ReadDep = Annotated[PageContext, Depends(requires("list_events"))]

# What a guard did at the post (docs/booth.md ``gate_control`` actions, ``alarm_ack``).
ACTIONS = {
    "open": N_("Opened by hand"),
    "hold_open": N_("Held open"),
    "release": N_("Back to normal"),
    "lockdown": N_("Locked down"),
    "reset": N_("Barrier reset"),
    "clear_presence": N_("Anti-passback cleared"),
}
RESULTS = {
    "opened": N_("Opened"),
    "ok": N_("Done"),
    "done": N_("Done"),
    "failed": N_("Failed"),
    "refused": N_("Refused"),
    "unreachable": N_("Gate not reachable"),
}


@router.get("/booths", response_class=HTMLResponse)
async def booths(request: Request, ctx: ReadDep, day: date | None = None,
                 booth: str | None = None) -> HTMLResponse:
    """Each booth's records of a day (today unless asked), newest first."""
    state, actor = api_state(request), ctx.actor
    today = site_today(request, ctx)
    shown = day or today
    # Any object: mypy would take a GateEventSource that is no BoothEventSource for
    # impossible (neither protocol is the other's subtype) and the page for unreachable.
    source: object = state.events.get(actor.site)
    if not isinstance(source, booth_records.BoothEventSource):
        exc = UnavailableError("本小区的门禁事件库未接入",
                               "this site's gate event store is not connected")
        return render(ctx, "booth_records/index.html", {"unavailable": exc, "shown_day": shown,
                                                       "today": today},
                      status_code=exc.http_status)
    names = await run_in_threadpool(booth_records.booth_names, state.desk, actor)
    found = await run_in_threadpool(booth_records.booth_records, state.desk, actor, source,
                                    shown, booth if booth in names else None)
    return render(ctx, "booth_records/index.html", {
        "shown_day": shown, "today": today, "found": found, "names": names,
        "chosen": booth if booth in names else "", "actions": ACTIONS, "results": RESULTS,
        "conflict": BoothRecordOutcome.CONFLICT})
