"""The visitors tab (``/visitors``, rules G5 and H7): who is in now with a big sign-out
button each, today's expected visitors from the desk's passes, the registration form, and
who left today.

The ID number travels only in a posted form body: never in a URL (the access log and the
browser's history keep URLs), and the booth shows it masked once saved. A refused form is
shown again with what was typed and the reason beside the field."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from booth.refusals import BoothRefusal
from booth.visitors import HostConfirmation, PassCheck, VisitorEntry
from booth.web.deps import Context, Form, Service, see_other, text
from booth.web.rendering import BoothContext, render

router = APIRouter()

ENTRY_FIELDS = ("name", "id_kind", "id_number", "plate", "host_unit", "items",
                "host_confirm_method", "host_confirmed_by", "visitor_pass_id")


def _index(ctx: BoothContext, service: Service, *, error: BoothRefusal | None = None,
           notice: dict[str, Any] | None = None, pass_typed: str = "") -> Response:
    visitors = service.visitors
    return render(ctx, "visitors/index.html", {
        "error": error, "notice": notice, "pass_typed": pass_typed,
        "inside": visitors.inside(), "expected": visitors.expected_today(),
        "left": visitors.left_today(),
    }, status_code=409 if error is not None else 200)


def _form(ctx: BoothContext, values: dict[str, str], check: PassCheck | None, *,
          error: BoothRefusal | None = None) -> Response:
    return render(ctx, "visitors/form.html", {
        "values": values, "check": check, "error": error,
        "methods": [m.value for m in HostConfirmation],
    }, status_code=422 if error is not None else 200)


@router.get("/visitors")
def visitors_page(ctx: Context, service: Service, saved: str = "", out: str = "") -> Response:
    """The visitors tab; ``saved``/``out`` name the visit just registered or signed out."""
    notice = None
    try:
        if saved:
            notice = {"kind": "saved", "visit": service.visitors.visit(saved)}
        elif out:
            notice = {"kind": "out", "visit": service.visitors.visit(out)}
    except BoothRefusal:
        notice = None
    return _index(ctx, service, notice=notice)


@router.get("/visitors/new")
def new_visitor(ctx: Context, service: Service, visitor_pass: str = "") -> Response:
    """The registration form; with ``visitor_pass``, filled from the desk's pass (or the
    tab again with the reason the pass cannot be used today)."""
    values = dict.fromkeys(ENTRY_FIELDS, "")
    values["id_kind"] = "resident_id"
    check = None
    typed = visitor_pass.strip()
    if typed:
        try:
            if not typed.isdigit():
                raise BoothRefusal("访客通行证编号应为数字", "a visitor pass number is digits",
                                   "visitor_pass_id")
            check = service.visitors.find_pass(int(typed))
            if check.refusal is not None:
                raise check.refusal
        except BoothRefusal as refusal:
            return _index(ctx, service, error=refusal, pass_typed=typed)
        vp = check.visitor_pass
        values.update(name=vp.visitor, host_unit=vp.host_unit, plate=vp.plate or "",
                      visitor_pass_id=str(vp.pass_id),
                      host_confirm_method="pass" if vp.confirmed else "")
    return _form(ctx, values, check)


def _entry(form: FormData) -> tuple[VisitorEntry, dict[str, str]]:
    values = {name: text(form, name) for name in ENTRY_FIELDS}
    pass_id = values["visitor_pass_id"]
    if pass_id and not pass_id.isdigit():
        raise BoothRefusal("访客通行证编号应为数字", "a visitor pass number is digits",
                           "visitor_pass_id")
    return VisitorEntry(values["name"], values["id_kind"], values["id_number"],
                        values["plate"], values["host_unit"], values["items"],
                        values["host_confirm_method"], values["host_confirmed_by"],
                        int(pass_id) if pass_id else None), values


@router.post("/visitors/new")
def register_visitor(ctx: Context, service: Service, form: Form) -> Response:
    """Register the visitor; the tab with the ID masked, or the form again with the
    reason and everything typed."""
    values = {name: text(form, name) for name in ENTRY_FIELDS}
    check = None
    try:
        entry, values = _entry(form)
        if entry.visitor_pass_id is not None:
            check = service.visitors.find_pass(entry.visitor_pass_id)
        assert ctx.guard is not None
        visit = service.visitors.register(entry, ctx.guard.username)
    except BoothRefusal as refusal:
        return _form(ctx, values, check, error=refusal)
    return see_other(f"/visitors?saved={visit.visit_id}")


@router.post("/visitors/{visit_id}/out")
def sign_visitor_out(visit_id: str, ctx: Context, service: Service, form: Form) -> Response:
    """The visitor left now."""
    assert ctx.guard is not None
    try:
        service.visitors.sign_out(visit_id, ctx.guard.username)
    except BoothRefusal as refusal:
        return _index(ctx, service, error=refusal)
    return see_other(f"/visitors?out={visit_id}")
