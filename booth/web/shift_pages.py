"""The shift page (rule P6): start a shift with the opening float, see the float as it
stands, pay cash in to the desk, hand over to the next guard (who signs in on the same
form), and print the handover report.

Each form is read once into a frozen input (``StartShift``, ``PayIn``, ``Handover``); a
refusal re-draws the page with the reason beside the field and everything typed kept
(except a password)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from booth.refusals import BoothRefusal
from booth.shifts import parse_invoices, parse_yuan
from booth.web.deps import Context, Form, Service, see_other, text
from booth.web.rendering import BoothContext, render
from booth.web.sign_in_pages import set_guard_cookie

router = APIRouter()
MAX_NOTES = 2000


@dataclass(frozen=True)
class StartShift:
    """Starting a shift: the float found in the drawer, in fen."""

    opening_float_fen: int

    @staticmethod
    def read(form: FormData) -> StartShift:
        """The posted form, or refused."""
        return StartShift(parse_yuan(text(form, "opening_float"), "opening_float"))


@dataclass(frozen=True)
class PayIn:
    """Cash paid in to the desk from the float, in fen."""

    amount_fen: int

    @staticmethod
    def read(form: FormData) -> PayIn:
        """The posted form, or refused."""
        return PayIn(parse_yuan(text(form, "amount"), "amount"))


@dataclass(frozen=True)
class Handover:
    """Handing over: what the shift issued and leaves open, and the next guard's sign-in."""

    invoices: int
    notes: str
    next_username: str
    next_password: str

    @staticmethod
    def read(form: FormData) -> Handover:
        """The posted form, or refused."""
        notes = text(form, "notes")
        if len(notes) > MAX_NOTES:
            raise BoothRefusal(f"遗留问题最多 {MAX_NOTES} 字", f"at most {MAX_NOTES} characters",
                               "notes")
        username = text(form, "next_username")
        if not username:
            raise BoothRefusal("请接班保安输入账号", "the next guard enters their username",
                               "next_username")
        password = form.get("next_password")
        return Handover(parse_invoices(text(form, "invoices"), "invoices"), notes, username,
                        password if isinstance(password, str) else "")


def _shift_page(ctx: BoothContext, service: Service, *, error: BoothRefusal | None = None,
                values: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    shift = service.shifts.current()
    data: dict[str, Any] = {
        "shift": shift, "cash": service.shifts.money(shift) if shift else None,
        "error": error, "values": values or {}, "done": ctx.request.query_params.get("done"),
        "reports": service.shifts.recent_reports()}
    return render(ctx, "shift/shift.html", data, status_code=status_code)


def _typed(form: FormData, *names: str) -> dict[str, str]:
    return {name: text(form, name) for name in names}


@router.get("/shift", response_class=HTMLResponse)
def shift_page(ctx: Context, service: Service) -> HTMLResponse:
    """The shift open now (or the form to start one)."""
    return _shift_page(ctx, service)


@router.post("/shift/start", response_class=HTMLResponse)
def start_shift(ctx: Context, service: Service, form: Form) -> Response:
    """Start a shift with the float typed in yuan."""
    assert ctx.guard is not None
    try:
        started = StartShift.read(form)
        service.shifts.start(ctx.guard.username, ctx.guard.name, started.opening_float_fen)
    except BoothRefusal as refusal:
        return _shift_page(ctx, service, error=refusal, values=_typed(form, "opening_float"),
                           status_code=refusal.http_status)
    return see_other("/shift?done=started")


@router.post("/shift/pay-in", response_class=HTMLResponse)
def pay_in(ctx: Context, service: Service, form: Form) -> Response:
    """Record cash paid in to the desk from the float."""
    assert ctx.guard is not None
    try:
        service.shifts.pay_in(ctx.guard.username, PayIn.read(form).amount_fen)
    except BoothRefusal as refusal:
        return _shift_page(ctx, service, error=refusal, values=_typed(form, "amount"),
                           status_code=refusal.http_status)
    return see_other("/shift?done=paid_in")


@router.post("/shift/handover", response_class=HTMLResponse)
def hand_over(ctx: Context, service: Service, form: Form) -> Response:
    """Hand the shift over: the next guard signs in on this form; the screen is theirs
    afterwards, and shows the report to print and sign."""
    assert ctx.guard is not None
    try:
        handover = Handover.read(form)
        closed, to = service.shifts.handover(
            ctx.guard.username, handover.next_username, handover.next_password,
            invoices=handover.invoices, notes=handover.notes)
    except BoothRefusal as refusal:
        return _shift_page(ctx, service, error=refusal,
                           values=_typed(form, "invoices", "notes", "next_username"),
                           status_code=refusal.http_status)
    response = RedirectResponse(f"/shift/report/{closed}", status_code=303)
    set_guard_cookie(response, service.secret, to.username, to.name, service.clock.wall())
    return response


@router.get("/shift/report/{shift_id}", response_class=HTMLResponse)
def handover_report(shift_id: str, ctx: Context, service: Service) -> HTMLResponse:
    """The handover report of a shift, to print and sign."""
    return render(ctx, "shift/report.html", {"report": service.shifts.report(shift_id)})
