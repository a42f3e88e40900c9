"""The goods tab (``/goods``, rule G4): the number field has the focus, so a QR or bar-code
scanner (which types the number and Enter) looks a slip up at once; a guard can type it
too. The slip is shown with its unit, carrier, items and day; the guard ticks that the
items and the person match and lets it out, signing with their sign-in. A long-term pass is
looked up as ``L`` and its number, or picked from the passes tab, and each use records the
items typed. A refusal is shown in red with the reason (and journalled by booth.goods)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from booth.goods import PASS_PREFIX, read_number
from booth.refusals import BoothRefusal
from booth.web.deps import Context, Form, Service, see_other, text
from booth.web.rendering import BoothContext, render
from sync.wire.booth_list import BoothGoodsPass, BoothSlip

router = APIRouter()


def _index(ctx: BoothContext, service: Service, *, tab: str = "slips",
           error: BoothRefusal | None = None, refused_number: str = "",
           notice: dict[str, Any] | None = None) -> Response:
    goods = service.goods
    return render(ctx, "goods/index.html", {
        "tab": tab, "error": error, "refused_number": refused_number, "notice": notice,
        "slips_out": goods.slips_out_today(), "pass_uses": goods.pass_uses_today(),
        "refusals": goods.refusals_today(), "passes": goods.passes(),
        "today": goods.today(),
        "guard_names": {g.username: g.name for g in service.booth_list().guards},
    }, status_code=409 if error is not None else 200)


def _gates(service: Service) -> list[str]:
    return [g.device for g in service.gates.gates]


def _slip_page(ctx: BoothContext, service: Service, slip: BoothSlip, *,
               error: BoothRefusal | None = None, gate: str = "",
               ticked: tuple[bool, bool] = (False, False)) -> Response:
    return render(ctx, "goods/slip.html", {
        "slip": slip, "gates": _gates(service), "gate": gate, "error": error,
        "ticked": ticked,
    }, status_code=422 if error is not None else 200)


def _pass_page(ctx: BoothContext, service: Service, goods_pass: BoothGoodsPass, *,
               error: BoothRefusal | None = None, gate: str = "",
               items: str = "") -> Response:
    return render(ctx, "goods/pass.html", {
        "goods_pass": goods_pass, "gates": _gates(service), "gate": gate, "error": error,
        "items": items,
    }, status_code=422 if error is not None else 200)


@router.get("/goods")
def goods_page(ctx: Context, service: Service, tab: str = "slips", out: str = "",
               used: str = "") -> Response:
    """The goods tab (``tab=passes``: the long-term passes); ``out``/``used`` name the
    slip just let out or the pass just used."""
    notice = None
    if out.isdigit():
        notice = next(({"kind": "out", "slip": s} for s in service.goods.slips_out_today()
                       if s.number == int(out)), None)
    elif used:
        notice = next(({"kind": "used", "use": u} for u in service.goods.pass_uses_today()
                       if u.use_id == used), None)
    return _index(ctx, service, tab="passes" if tab == "passes" else "slips", notice=notice)


@router.post("/goods/look-up")
def look_up(ctx: Context, service: Service, form: Form) -> Response:
    """The slip or pass scanned or typed, to be checked; or the tab with the refusal."""
    typed = text(form, "number")
    assert ctx.guard is not None
    try:
        found = service.goods.look_up(typed, ctx.guard.username)
    except BoothRefusal as refusal:
        try:
            shown = read_number(typed)
        except BoothRefusal:
            shown = ""
        tab = "passes" if shown.startswith(PASS_PREFIX) and text(form, "tab") == "passes" \
            else "slips"
        return _index(ctx, service, tab=tab, error=refusal, refused_number=shown)
    if isinstance(found, BoothSlip):
        return _slip_page(ctx, service, found)
    return _pass_page(ctx, service, found)


@router.post("/goods/slips/{number}/out")
def let_slip_out(number: int, ctx: Context, service: Service, form: Form) -> Response:
    """Let the slip out (both checks ticked); the tab with the notice or the refusal."""
    assert ctx.guard is not None
    gate = text(form, "gate")
    ticked = (form.get("items_match") == "yes", form.get("carrier_matches") == "yes")
    try:
        service.goods.let_out(number, gate, items_match=ticked[0], carrier_matches=ticked[1],
                              guard=ctx.guard.username)
    except BoothRefusal as refusal:
        slip = service.goods.slip(number)
        if refusal.field in ("items_match", "carrier_matches", "gate") and slip is not None:
            return _slip_page(ctx, service, slip, error=refusal, gate=gate, ticked=ticked)
        return _index(ctx, service, error=refusal, refused_number=str(number))
    return see_other(f"/goods?out={number}")


@router.post("/goods/passes/{pass_id}/use")
def use_pass(pass_id: int, ctx: Context, service: Service, form: Form) -> Response:
    """Record one use of a long-term pass with the items typed."""
    assert ctx.guard is not None
    gate, items = text(form, "gate"), text(form, "items")
    try:
        use = service.goods.use_pass(pass_id, gate, items, ctx.guard.username)
    except BoothRefusal as refusal:
        goods_pass = service.goods.goods_pass(pass_id)
        if refusal.field in ("items", "gate") and goods_pass is not None:
            return _pass_page(ctx, service, goods_pass, error=refusal, gate=gate, items=items)
        return _index(ctx, service, tab="passes", error=refusal,
                      refused_number=f"{PASS_PREFIX}{pass_id}")
    return see_other(f"/goods?used={use.use_id}")
