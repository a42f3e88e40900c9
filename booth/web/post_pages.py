"""The post page (``/``): a card per gate with its state and its controls, the live feed of
the post's taps and the gates' alarms, refreshed by htmx every 2 s (``/post/live``); the
small forms of the controls (open, hold-open, reset, clear presence, acknowledge an alarm,
correct a car park's count) under ``/post/``. A post with car-park lanes shows each car park's
free spaces per class as its lanes count them (booth/car_park.py), refreshed with the feed.

A control's outcome is shown from what the booth recorded (``/?batch=``), so a reload shows
the same truth and never sends the command again. The words for the gates' reasons, event
kinds, arm states and holder kinds are declared here in English and shown in the guard's
language (post.po)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from booth.car_park import CLASS_ORDER, LotView, parse_correction
from booth.gate_controls import HOLD_LIMITS, OPEN_REASONS, RESET_CHECK_ZH, ControlOutcome
from booth.refusals import BoothRefusal
from booth.web.deps import Context, Form, Service, see_other, text
from booth.web.i18n import N_
from booth.web.rendering import BoothContext, render
from edge.decision import Reason

router = APIRouter()
# A form shown again with the refusal and what was typed (a gate not answering too: the
# guard reads it on the form, the status only tells the browser the action was refused).
FORM_REFUSED = 422

# Why a tap was granted or refused, in a guard's words (every edge.decision.Reason).
REASON_WORDS: dict[str, str] = {
    Reason.GRANTED: N_("Granted"),
    Reason.UNKNOWN_CARD: N_("Unknown card"),
    Reason.LOST: N_("Card reported lost"),
    Reason.REVOKED: N_("Card cancelled"),
    Reason.NOT_YET_VALID: N_("Card not yet valid"),
    Reason.EXPIRED: N_("Card expired"),
    Reason.NOT_PERMITTED_HERE: N_("No access at this gate"),
    Reason.OUTSIDE_SCHEDULE: N_("Outside allowed hours"),
    Reason.ANTI_PASSBACK: N_("Already inside (anti-passback)"),
    Reason.CLOCK_UNTRUSTED: N_("Gate clock not trusted"),
    Reason.OUT_OF_SERVICE: N_("Gate out of service"),
    Reason.LOCKDOWN: N_("Gate locked down"),
    Reason.JOURNAL_UNAVAILABLE: N_("Gate cannot record (storage fault)"),
    Reason.WHITELIST_UNAVAILABLE: N_("Card list unreadable"),
    Reason.PARKING_EXPIRED: N_("Monthly parking expired"),
    Reason.PARKING_NOT_STARTED: N_("Monthly parking not started yet"),
    Reason.GUARD_CONFIRM: N_("Expired monthly card: guard to confirm"),
    Reason.LOT_FULL: N_("Car park full"),
    Reason.MONTHLY_ONLY: N_("Monthly cars only at this hour"),
    Reason.PAY_AT_BOOTH: N_("Temporary car: pay at the booth"),
    Reason.PLATE_UNKNOWN: N_("Plate not on any card"),
    Reason.PLATE_AMBIGUOUS: N_("Plate read matches several cards"),
    Reason.PLATE_LOW_CONFIDENCE: N_("Plate read unclear"),
    Reason.PLATE_MISMATCH: N_("Card and plate do not match"),
    Reason.PAIR_INCOMPLETE: N_("Waiting for card and plate"),
}

# What happened at a gate, for the feed and the alarm list.
KIND_WORDS: dict[str, str] = {
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
    "manual_open": N_("Opened by hand"),
    "manual_open_failed": N_("Manual open failed"),
    "remote_command": N_("Command from the desk"),
    "remote_command_failed": N_("Desk command failed"),
    "mode_command": N_("Mode set at the post"),
    "mode_expired": N_("Mode time limit ended"),
    "mode_restored": N_("Mode restored after restart"),
    "mode_not_applied": N_("Mode could not be applied"),
    "mode_file_unreadable": N_("Mode file unreadable"),
    "actuator_reset": N_("Barrier reset"),
    "actuator_reset_failed": N_("Barrier still out of service after reset"),
    "presence_cleared": N_("Card presence cleared"),
    "presence_clear_failed": N_("Card presence could not be cleared"),
    "rex": N_("Exit button pressed"),
    "door_forced_open": N_("Door forced open"),
    "door_held_open": N_("Door held open too long"),
    "barrier_stuck": N_("Barrier stuck"),
    "barrier_state": N_("Barrier position unknown"),
    "tailgate": N_("Tailgating vehicle"),
    "reader_unavailable": N_("Card reader gone"),
    "reader_available": N_("Card reader back"),
    "storage_damaged": N_("Gate file damaged and replaced"),
    "storage_fault": N_("Gate storage fault"),
    "journal_unavailable": N_("Gate could not record events"),
    "journal_overflow": N_("Gate journal full"),
    "clock_trust": N_("Gate clock problem"),
}
UNKNOWN_KIND = N_("Gate event")

HOLDER_WORDS: dict[str, str] = {
    "owner": N_("Owner"), "family": N_("Family"), "tenant": N_("Tenant"),
    "merchant": N_("Merchant"), "staff": N_("Staff"),
    "renovation_worker": N_("Renovation worker"), "visitor": N_("Visitor"),
}

STATE_WORDS: dict[str, str] = {
    "locked": N_("Locked"), "unlocked": N_("Unlocked"), "closed": N_("Arm down"),
    "opening": N_("Arm rising"), "open": N_("Arm up"), "closing": N_("Arm lowering"),
    "stuck": N_("Arm stuck"), "unknown": N_("Arm position unknown"),
    "stopped": N_("Stopped"),
}
MODE_WORDS: dict[str, str] = {"normal": N_("Normal"), "hold_open": N_("Held open"),
                              "lockdown": N_("Locked down")}
ROLE_WORDS: dict[str, str] = {"door": N_("Door"), "barrier_entry": N_("Car park entry"),
                              "barrier_exit": N_("Car park exit")}
DETAIL_WORDS: dict[str, str] = {
    "travel_timeout": N_("did not reach its limit in time"),
    "both_limits_active": N_("both limit switches active"),
    "lockdown": N_("locked down"), "out of service": N_("out of service"),
    **MODE_WORDS,
}
HOLD_WORDS = {"15m": N_("15 minutes"), "1h": N_("1 hour"), "4h": N_("4 hours")}
# A car park's classes of spaces as the post page's count line names them.
CLASS_WORDS: dict[str, str] = {"temporary": N_("Temporary spaces"),
                               "monthly": N_("Monthly spaces"), "fixed": N_("Fixed spaces")}


def _words(ctx: BoothContext) -> dict[str, object]:
    """The dictionaries a post template reads its words from."""
    return {"reason_words": REASON_WORDS, "kind_words": KIND_WORDS, "unknown_kind": UNKNOWN_KIND,
            "holder_words": HOLDER_WORDS, "state_words": STATE_WORDS, "mode_words": MODE_WORDS,
            "role_words": ROLE_WORDS, "detail_words": DETAIL_WORDS, "hold_words": HOLD_WORDS,
            "open_reasons": OPEN_REASONS, "hold_limits": [k for k, _s in HOLD_LIMITS],
            "reset_check_zh": RESET_CHECK_ZH, "class_words": CLASS_WORDS,
            "zh": ctx.locale == "zh_CN"}


def _live(service: Service) -> dict[str, object]:
    """What the refreshed part of the post page shows: the gates, feed and alarms, and the
    post's car parks."""
    return {"view": service.post_feed.view(), "car_park": service.car_park.view()}


def _outcomes(service: Service, batch: str) -> list[ControlOutcome]:
    return service.gate_controls.batch(batch) if batch else []


@router.get("/", response_class=HTMLResponse)
def post_page(ctx: Context, service: Service, batch: str = "") -> HTMLResponse:
    """The post: gates, feed, alarms and the controls."""
    return render(ctx, "post/index.html", {
        **_words(ctx), **_live(service),
        "outcomes": _outcomes(service, batch), "lockdown_note": "", "error": None})


@router.get("/post/live", response_class=HTMLResponse)
def live(ctx: Context, service: Service) -> HTMLResponse:
    """The part of the post page refreshed every 2 s."""
    return render(ctx, "post/live.html", {**_words(ctx), **_live(service)})


def _done(outcome: ControlOutcome) -> RedirectResponse:
    return see_other(f"/?batch={outcome.batch}")


def _gate_form(ctx: BoothContext, service: Service, template: str, device: str, *,
               values: dict[str, str], error: BoothRefusal | None = None) -> HTMLResponse:
    gate = service.gates.gate(device)
    return render(ctx, template, {**_words(ctx), "gate": gate, "values": values,
                                  "error": error},
                  status_code=200 if error is None else FORM_REFUSED)


@router.get("/post/gates/{device}/open", response_class=HTMLResponse)
def open_form(device: str, ctx: Context, service: Service) -> HTMLResponse:
    """Open by hand: the reason list and the guard's words."""
    return _gate_form(ctx, service, "post/open.html", device, values={})


@router.post("/post/gates/{device}/open", response_model=None)
def open_gate(device: str, ctx: Context, service: Service,
              form: Form) -> HTMLResponse | RedirectResponse:
    """Open ``device`` once (rule G3)."""
    values = {"reason": text(form, "reason"), "note": text(form, "note")}
    assert ctx.guard is not None
    try:
        outcome = service.gate_controls.open(device, ctx.guard.username, values["reason"],
                                             values["note"])
    except BoothRefusal as refusal:
        return _gate_form(ctx, service, "post/open.html", device, values=values, error=refusal)
    return _done(outcome)


@router.get("/post/gates/{device}/hold-open", response_class=HTMLResponse)
def hold_open_form(device: str, ctx: Context, service: Service) -> HTMLResponse:
    """Hold open: the reason and how long."""
    return _gate_form(ctx, service, "post/hold_open.html", device, values={"limit": "15m"})


@router.post("/post/gates/{device}/hold-open", response_model=None)
def hold_open(device: str, ctx: Context, service: Service,
              form: Form) -> HTMLResponse | RedirectResponse:
    """Hold ``device`` open until released or its time limit."""
    values = {"reason": text(form, "reason"), "note": text(form, "note"),
              "limit": text(form, "limit")}
    assert ctx.guard is not None
    try:
        outcome = service.gate_controls.hold_open(device, ctx.guard.username, values["reason"],
                                                  values["note"], values["limit"])
    except BoothRefusal as refusal:
        return _gate_form(ctx, service, "post/hold_open.html", device, values=values, error=refusal)
    return _done(outcome)


@router.post("/post/gates/{device}/release")
def release(device: str, ctx: Context, service: Service, form: Form) -> RedirectResponse:
    """Back to normal (a refusal is answered by the app's error page)."""
    assert ctx.guard is not None and form is not None
    return _done(service.gate_controls.release(device, ctx.guard.username))


@router.get("/post/gates/{device}/reset", response_class=HTMLResponse)
def reset_form(device: str, ctx: Context, service: Service) -> HTMLResponse:
    """Reset a stuck barrier: the guard confirms they checked it."""
    return _gate_form(ctx, service, "post/reset.html", device, values={})


@router.post("/post/gates/{device}/reset", response_model=None)
def reset(device: str, ctx: Context, service: Service,
          form: Form) -> HTMLResponse | RedirectResponse:
    """Put a checked barrier back in service."""
    values = {"note": text(form, "note"), "checked": text(form, "checked")}
    assert ctx.guard is not None
    try:
        outcome = service.gate_controls.reset(device, ctx.guard.username, values["note"],
                                              checked=values["checked"] == "yes")
    except BoothRefusal as refusal:
        return _gate_form(ctx, service, "post/reset.html", device, values=values, error=refusal)
    return _done(outcome)


@router.get("/post/gates/{device}/clear-presence", response_class=HTMLResponse)
def clear_presence_form(device: str, ctx: Context, service: Service) -> HTMLResponse:
    """Clear one card's presence: its UID and why."""
    return _gate_form(ctx, service, "post/clear_presence.html", device, values={})


@router.post("/post/gates/{device}/clear-presence", response_model=None)
def clear_presence(device: str, ctx: Context, service: Service,
                   form: Form) -> HTMLResponse | RedirectResponse:
    """Forget one card's anti-passback presence on a lane pair."""
    values = {"uid": text(form, "uid"), "note": text(form, "note")}
    assert ctx.guard is not None
    try:
        outcome = service.gate_controls.clear_presence(device, ctx.guard.username,
                                                       values["uid"], values["note"])
    except BoothRefusal as refusal:
        return _gate_form(ctx, service, "post/clear_presence.html", device, values=values,
                          error=refusal)
    return _done(outcome)


@router.post("/post/lockdown", response_model=None)
def lockdown(ctx: Context, service: Service, form: Form) -> HTMLResponse | RedirectResponse:
    """Lock down every gate of the post (the page asked for a confirmation first)."""
    note = text(form, "note")
    assert ctx.guard is not None
    try:
        outcomes = service.gate_controls.lockdown_all(ctx.guard.username, note)
    except BoothRefusal as refusal:
        return render(ctx, "post/index.html", {
            **_words(ctx), **_live(service), "outcomes": [],
            "lockdown_note": note, "error": refusal}, status_code=FORM_REFUSED)
    return see_other(f"/?batch={outcomes[0].batch}" if outcomes else "/")


@router.post("/post/release")
def release_all(ctx: Context, service: Service, form: Form) -> RedirectResponse:
    """Every gate of the post back to normal."""
    assert ctx.guard is not None and form is not None
    outcomes = service.gate_controls.release_all(ctx.guard.username)
    return see_other(f"/?batch={outcomes[0].batch}" if outcomes else "/")


@router.get("/post/alarms/{device}/{seq}", response_class=HTMLResponse)
def alarm_form(device: str, seq: int, ctx: Context, service: Service) -> HTMLResponse:
    """One alarm and the form to acknowledge it."""
    return render(ctx, "post/alarm.html", {**_words(ctx),
                                           "alarm": service.post_feed.alarm(device, seq),
                                           "values": {}, "error": None})


@router.post("/post/alarms/{device}/{seq}", response_model=None)
def acknowledge(device: str, seq: int, ctx: Context, service: Service,
                form: Form) -> HTMLResponse | RedirectResponse:
    """Acknowledge an alarm with what the guard found or did."""
    values = {"comment": text(form, "comment")}
    assert ctx.guard is not None
    try:
        service.post_feed.acknowledge(device, seq, ctx.guard.username, values["comment"])
    except BoothRefusal as refusal:
        return render(ctx, "post/alarm.html", {
            **_words(ctx), "alarm": service.post_feed.alarm(device, seq), "values": values,
            "error": refusal}, status_code=FORM_REFUSED)
    return see_other("/")


def _lot_form(ctx: BoothContext, service: Service, lot: str, *, lane: str = "",
              values: dict[str, str], error: BoothRefusal | None = None) -> HTMLResponse:
    """The count form of ``lot``: the figures as the lane counts them now (none when no lane
    of the post answers for it: the refusal says why, and what was typed is kept)."""
    view: LotView | None = None
    try:
        view = service.car_park.lot(lot)
    except BoothRefusal as refusal:
        error = error or refusal
    rows = [(c.value, view.space_class(c.value) if view else None) for c in CLASS_ORDER]
    if view is not None:
        rows = [(name, figures) for name, figures in rows if figures is not None]
    return render(ctx, "post/lot_correct.html", {
        **_words(ctx), "lot_id": lot, "lot": view, "lane": lane or (view.lane if view else ""),
        "rows": rows, "values": values, "error": error},
        status_code=200 if error is None else FORM_REFUSED)


@router.get("/post/lots/{lot}/correct", response_class=HTMLResponse)
def lot_correct_form(lot: str, ctx: Context, service: Service) -> HTMLResponse:
    """Correct a car park's count: per class the cars the guard counted, and why."""
    return _lot_form(ctx, service, lot, values={})


@router.post("/post/lots/{lot}/correct", response_model=None)
def lot_correct(lot: str, ctx: Context, service: Service,
                form: Form) -> HTMLResponse | RedirectResponse:
    """Send the guard's count to the lane the figures came from (it journals it and carries
    it to the other lanes); recorded with what the lane answered."""
    names = [f"occupied_{c.value}" for c in CLASS_ORDER]
    values = {name: text(form, name) for name in (*names, "reason", "lane")}
    assert ctx.guard is not None
    try:
        correction = parse_correction(
            {c.value: values[f"occupied_{c.value}"] for c in CLASS_ORDER}, values["reason"])
        outcome = service.gate_controls.correct_lot(values["lane"], ctx.guard.username, lot,
                                                    correction)
    except BoothRefusal as refusal:
        return _lot_form(ctx, service, lot, lane=values["lane"], values=values, error=refusal)
    return _done(outcome)
