"""The booth's parking page (rule P6): the entry half (plate typed, a pool card handed out,
or a forced entry with its reason), the exit half (find the car, take the fee, print the
receipt), the cars in now with their fee so far, the lost-ticket charge and the pool of
temporary cards.

An exit form carries the charge token of the screen it was shown on: posted twice, it finds
its charge and goes to the same receipt (booth/parking.py). A refused form is shown again
with the reason and what was typed."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from booth.parking import Charge, ExitForm, Quote, Stay, local_entry_time, normal_plate
from booth.refusals import BoothRefusal
from booth.web.deps import Context, Form, Service, see_other, text
from booth.web.rendering import TEMPLATE_DIR, BoothContext, render
from firmware_config.controller_tables import Role

router = APIRouter()
RECEIPT_CSS = TEMPLATE_DIR / "parking" / "receipt.css"
EXIT_FIELDS = ("token", "gate", "ticket_id", "exited_at", "quoted_fen", "paid",
               "waived_reason", "lost_reason", "lost_plate", "lost_entered_at")


def _guard(ctx: BoothContext) -> tuple[str, str]:
    assert ctx.guard is not None  # Context is only built for a signed-in guard
    return ctx.guard.username, ctx.guard.name


def _index(ctx: BoothContext, service: Service, *, error: BoothRefusal | None = None,
           typed: dict[str, str] | None = None, status_code: int = 200) -> HTMLResponse:
    parking = service.parking
    cars: list[tuple[Stay, int]] = [(s, parking.fee_so_far(s)) for s in parking.cars_in()]
    entered = ctx.request.query_params.get("entered", "")
    just_in = parking.stay(entered) if entered else None
    return render(ctx, "parking/index.html", {
        "error": error, "typed": typed or {}, "cars": cars, "cards": parking.cards(),
        "entry_lanes": parking.lanes(Role.BARRIER_ENTRY), "just_in": just_in,
        "opened": ctx.request.query_params.get("opened", ""),
        "now": service.clock.wall(),
    }, status_code=status_code)


@router.get("/parking", response_class=HTMLResponse)
def parking_page(ctx: Context, service: Service) -> HTMLResponse:
    """The parking page: entry, exit, cars in, the card pool."""
    return _index(ctx, service)


@router.post("/parking/entry")
def post_entry(ctx: Context, service: Service, form: Form) -> Response:
    """A temporary car enters; back to the page with what the barrier did."""
    typed = {k: text(form, k) for k in ("plate", "gate", "forced_reason", "with_card")}
    username, _name = _guard(ctx)
    try:
        entered = service.parking.enter(guard=username, gate=typed["gate"],
                                        plate=typed["plate"],
                                        with_card=typed["with_card"] == "1",
                                        forced_reason=typed["forced_reason"])
    except BoothRefusal as refusal:
        return _index(ctx, service, error=refusal, typed=typed, status_code=422)
    return see_other(f"/parking?entered={entered.stay.ticket_id}"
                     f"&opened={int(entered.barrier.opened)}")


@router.post("/parking/cards")
def post_card(ctx: Context, service: Service, form: Form) -> Response:
    """Add a temporary card to the booth's pool."""
    username, _name = _guard(ctx)
    try:
        service.parking.add_card(text(form, "card"), username)
    except BoothRefusal as refusal:
        return _index(ctx, service, error=refusal, typed={"card": text(form, "card")},
                      status_code=422)
    return see_other("/parking#cards")


@router.get("/parking/find")
def find_car(ctx: Context, service: Service, q: str = "") -> Response:
    """Find a car in by plate or card (or a temporary car the entry lane's camera let in)
    and go to its exit screen."""
    try:
        stay = service.parking.find_for_exit(q, _guard(ctx)[0])
    except BoothRefusal as refusal:
        return _index(ctx, service, error=refusal, typed={"find": q}, status_code=422)
    return see_other(f"/parking/exit/{stay.ticket_id}")


def _exit_page(ctx: BoothContext, service: Service, quote: Quote, *,
               error: BoothRefusal | None = None, typed: dict[str, str] | None = None,
               status_code: int = 200) -> HTMLResponse:
    return render(ctx, "parking/exit.html", {
        "quote": quote, "error": error, "typed": typed or {},
        "exit_lanes": service.parking.lanes(Role.BARRIER_EXIT),
    }, status_code=status_code)


@router.get("/parking/exit/{ticket_id}", response_class=HTMLResponse)
def exit_screen(ticket_id: str, ctx: Context, service: Service) -> HTMLResponse:
    """The exit screen of a car in: its fee now and a fresh charge token."""
    return _exit_page(ctx, service, service.parking.quote(ticket_id))


@router.get("/parking/lost", response_class=HTMLResponse)
def lost_ticket(ctx: Context, service: Service, plate: str = "",
                entered_at: str = "") -> HTMLResponse:
    """A lost ticket (no entry record): the fee from the entry time given, else the cap."""
    typed = {"lost_plate": plate, "lost_entered_at": entered_at}
    try:
        normal_plate(plate)
        entered = local_entry_time(entered_at, ctx.timezone) if entered_at.strip() else None
        quote = service.parking.quote(None, lost_entered_at=entered)
    except BoothRefusal as refusal:
        quote = service.parking.quote(None)
        return _exit_page(ctx, service, quote, error=refusal, typed=typed, status_code=422)
    return _exit_page(ctx, service, quote, typed=typed)


@router.post("/parking/exit")
def post_exit(ctx: Context, service: Service, form: Form) -> Response:
    """Take the fee and let the car out; the receipt. The same form again: the same
    receipt."""
    typed = {k: text(form, k) for k in EXIT_FIELDS}
    username, name = _guard(ctx)
    try:
        exited = service.parking.charge(ExitForm.parse(typed, ctx.timezone), guard=username,
                                        guard_name=name)
    except BoothRefusal as refusal:
        return _exit_again(ctx, service, typed, refusal)
    # What the barrier did, for the receipt page: a repeat did not open it again.
    outcome = "repeat" if exited.barrier is None else str(int(exited.barrier.opened))
    return see_other(f"/parking/receipt/{exited.charge.receipt_no}?opened={outcome}")


def _exit_again(ctx: BoothContext, service: Service, typed: dict[str, str],
                refusal: BoothRefusal) -> HTMLResponse:
    """The exit screen again after a refusal: priced anew (a new token: nothing was
    recorded), with the reason and what was typed."""
    keep = {k: v for k, v in typed.items() if k not in ("token", "exited_at", "quoted_fen")}
    try:
        if typed["ticket_id"]:
            quote = service.parking.quote(typed["ticket_id"])
        else:
            entered = typed["lost_entered_at"]
            quote = service.parking.quote(
                None, lost_entered_at=local_entry_time(entered, ctx.timezone)
                if entered else None)
    except BoothRefusal:
        # The car is gone (charged on another screen) or the entry time is wrong: the
        # refusal is all there is to show.
        raise refusal from None
    return _exit_page(ctx, service, quote, error=refusal, typed=keep, status_code=422)


def _receipt(service: Service, receipt_no: str) -> Charge:
    charge = service.parking.receipt(receipt_no)
    if charge is None:
        raise BoothRefusal(f"没有收据 {receipt_no}", f"no receipt {receipt_no}")
    return charge


@router.get("/parking/receipt/{receipt_no}", response_class=HTMLResponse)
def receipt_page(receipt_no: str, ctx: Context, service: Service,
                 opened: str = "") -> HTMLResponse:
    """The receipt, printable on an 80 mm receipt printer."""
    return render(ctx, "parking/receipt.html", {"charge": _receipt(service, receipt_no),
                                                "opened": opened})


@router.post("/parking/receipt/{receipt_no}/open")
def open_again(receipt_no: str, ctx: Context, service: Service, form: Form) -> Response:
    """Open the exit barrier for a car already charged (the barrier did not open, or the
    booth restarted before it could)."""
    charge = _receipt(service, receipt_no)
    username, _name = _guard(ctx)
    result = service.parking.open_barrier(charge.gate, username,
                                          f"临时车出场 {receipt_no} 重新抬杆")
    return RedirectResponse(f"/parking/receipt/{receipt_no}?opened={int(result.opened)}",
                            status_code=303)


@router.get("/parking/receipt.css")
def receipt_css() -> Response:
    """The receipt's own style (an 80 mm roll when printed), kept beside its template."""
    return Response(Path(RECEIPT_CSS).read_text(), media_type="text/css")

