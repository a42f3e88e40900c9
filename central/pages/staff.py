"""Staff accounts (the administrator's pages): the accounts they manage, creating one,
and for each account changing its role, setting a new password (its sessions end),
deactivating it (it can no longer log in; its sessions end), for a guard the booths they may
sign in at (each booth's list carries its guards: central/services/booth_list.py) and, for a
company-wide admin, the roles an account has at other sites.

Everything goes through central/services/staff.py, which scopes an admin to their own
site's accounts and refuses an admin changing their own role or deactivating themselves;
the pages do not offer those on the admin's own account, and show the refusal if it comes
anyway (a second tab, a stale page).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.pages.form_view import form_view, unplaced_errors
from central.pages.page_request import Refused, field_errors, press, requires, see_other, submit
from central.pages.page_session import PageCaller
from central.pages.templating import PageContext, render
from central.refusals import DeskError, FieldError
from central.services import staff

router = APIRouter()

Lister = Annotated[PageContext, Depends(requires("list_staff"))]
Creator = Annotated[PageContext, Depends(requires("create_staff"))]
RoleChanger = Annotated[PageContext, Depends(requires("change_staff_role"))]
# Which booths a guard signs in at is the same admin's business as the account's role.
BoothSetter = RoleChanger
PasswordSetter = Annotated[PageContext, Depends(requires("reset_staff_password"))]
SiteRoleGiver = Annotated[PageContext, Depends(requires("give_staff_site_role"))]
SiteRoleTaker = Annotated[PageContext, Depends(requires("take_staff_site_role"))]
Deactivator = Annotated[PageContext, Depends(requires("deactivate_staff"))]

# What the list says after a form did its work (``?done=…&who=<account id>``).
DONE = ("created", "role", "password", "deactivated", "booths", "site_roles")


def _caller(ctx: PageContext) -> PageCaller:
    assert ctx.caller is not None
    return ctx.caller


@router.get("/staff", response_class=HTMLResponse)
async def staff_list(request: Request, ctx: Lister, done: str | None = None,
                     who: int | None = None) -> HTMLResponse:
    """The accounts the admin manages, with their role, site, state and last login."""
    desk = api_state(request).desk
    actor = _caller(ctx).actor
    accounts = await run_in_threadpool(staff.list_staff, desk, actor)
    logins = await run_in_threadpool(staff.last_logins, desk, actor)
    named = next((a for a in accounts if a.id == who), None)
    return render(ctx, "staff/list.html", {
        "accounts": accounts, "logins": logins,
        "done": done if done in DONE and named is not None else None, "named": named})


def _new_form(ctx: PageContext, values: dict[str, Any] | None = None,
              error: DeskError | None = None, status_code: int = 200) -> HTMLResponse:
    caller = _caller(ctx)
    shown = {k: v for k, v in (values or {}).items() if k != "password"}
    errors = field_errors(error) if error is not None else []
    fields = form_view(staff.NewStaff, shown, errors, leave_out=("site",))
    # The site is drawn as a select of the sites the admin serves (not a typed code).
    others = [e for e in unplaced_errors(fields, errors) if e.field != "site"]
    return render(ctx, "staff/new.html", {
        "fields": fields, "error": error,
        # The refusal at the top only when no field shows it.
        "refusal": error if error is not None and (not errors or others) else None,
        "others": others,
        "site_errors": [e for e in errors if e.field == "site"],
        "chosen_site": shown.get("site") if values is not None else caller.site,
        "company_wide": caller.principal.site is None,
    }, status_code=status_code)


@router.get("/staff/new", response_class=HTMLResponse)
def new_staff_form(ctx: Creator) -> HTMLResponse:
    """The form to create an account (at the admin's site unless they choose otherwise)."""
    return _new_form(ctx)


@router.post("/staff/new", response_class=HTMLResponse)
async def new_staff(request: Request, ctx: Creator) -> Response:
    """Create the account; back to the list, which names it."""
    sent = await submit(request, ctx, staff.NewStaff,
                        lambda desk, actor, inp: staff.create_staff(desk, inp, actor))
    if isinstance(sent, Refused):
        # A form's own problems are shown beside the fields; anything else at the top.
        return _new_form(ctx, sent.values, sent.error, sent.error.http_status)
    return see_other(f"/staff?done=created&who={sent.result}")


async def _account_page(request: Request, ctx: PageContext, staff_id: int, *,
                        failed: str = "", values: dict[str, Any] | None = None,
                        error: DeskError | None = None) -> HTMLResponse:
    """One account with its forms; ``failed`` names the form ``error`` refused, which comes
    back with what was chosen (never a password) and its problems beside its fields."""
    caller = _caller(ctx)
    account = await run_in_threadpool(staff.managed_account, api_state(request).desk,
                                      caller.actor, staff_id)
    errors = field_errors(error) if error is not None else []

    def errors_of(name: str) -> list[FieldError]:
        return errors if failed == name else []
    role_values = values if failed == "role" and values else {"role": account.role}
    booths = await run_in_threadpool(staff.booth_choices, api_state(request).desk,
                                     caller.actor, staff_id)
    chosen = values.get("booths") if failed == "booths" and values else None
    # Only a company-wide admin gives roles at other sites (the service refuses others).
    company_admin = caller.principal.site is None
    site_roles = (await run_in_threadpool(staff.site_role_choices, api_state(request).desk,
                                          caller.actor, staff_id) if company_admin else [])
    site_role_values = values if failed == "site_roles" and values else {}
    return render(ctx, "staff/account.html", {
        "company_admin": company_admin,
        "site_role_sites": site_roles,
        "site_role_errors": errors_of("site_roles"),
        "site_role_fields": form_view(staff.StaffSiteRoleInput, site_role_values,
                                      errors_of("site_roles"), leave_out=("site",)),
        "chosen_site_role_site": site_role_values.get("site", ""),
        "guard_anywhere": account.role.value == "guard"
        or any(g.role.value == "guard" for g in account.site_roles),
        "booths": booths,
        "chosen_booths": list(chosen) if chosen is not None
        else [b.key for b in booths if b.allowed],
        "booth_errors": errors_of("booths"),
        "account": account, "is_self": account.id == caller.principal.staff_id,
        "role_fields": form_view(staff.NewRole, role_values, errors_of("role")),
        "password_fields": form_view(staff.NewPassword, {}, errors_of("password")),
        "error": error, "failed": failed,
    }, status_code=error.http_status if error is not None else 200)


@router.get("/staff/{staff_id}", response_class=HTMLResponse)
async def account_page(request: Request, ctx: Lister, staff_id: int) -> HTMLResponse:
    """One account: its facts, and the admin's forms for it."""
    return await _account_page(request, ctx, staff_id)


@router.post("/staff/{staff_id}/role", response_class=HTMLResponse)
async def set_role(request: Request, ctx: RoleChanger, staff_id: int) -> Response:
    """Give the account another role: its next page shows that role's menu."""
    sent = await submit(request, ctx, staff.NewRole, lambda desk, actor, inp: staff.change_role(
        desk, actor, staff_id, inp))
    if isinstance(sent, Refused):
        return await _account_page(request, ctx, staff_id, failed="role", values=sent.values,
                                   error=sent.error)
    return see_other(f"/staff?done=role&who={staff_id}")


@router.post("/staff/{staff_id}/booths", response_class=HTMLResponse)
async def set_booths(request: Request, ctx: BoothSetter, staff_id: int) -> Response:
    """Allow the guard at exactly the booths ticked; each booth's next list says so."""
    sent = await submit(request, ctx, staff.StaffBooths,
                        lambda desk, actor, inp: staff.set_booths(desk, actor, staff_id, inp))
    if isinstance(sent, Refused):
        return await _account_page(request, ctx, staff_id, failed="booths", values=sent.values,
                                   error=sent.error)
    return see_other(f"/staff?done=booths&who={staff_id}")


@router.post("/staff/{staff_id}/password", response_class=HTMLResponse)
async def set_password(request: Request, ctx: PasswordSetter, staff_id: int) -> Response:
    """Set a new password for the account; every session of it ends."""
    sent = await submit(request, ctx, staff.NewPassword,
                        lambda desk, actor, inp: staff.reset_password(desk, actor, staff_id, inp))
    if isinstance(sent, Refused):
        return await _account_page(request, ctx, staff_id, failed="password", error=sent.error)
    return see_other(f"/staff?done=password&who={staff_id}")


@router.post("/staff/{staff_id}/deactivate", response_class=HTMLResponse)
async def deactivate(request: Request, ctx: Deactivator, staff_id: int) -> Response:
    """Deactivate the account: it can no longer log in, and its sessions end now."""
    sent = await press(request, ctx, lambda desk, actor: staff.deactivate_staff(
        desk, actor, staff_id))
    if isinstance(sent, Refused):
        return await _account_page(request, ctx, staff_id, failed="deactivate",
                                   error=sent.error)
    return see_other(f"/staff?done=deactivated&who={staff_id}")


@router.post("/staff/{staff_id}/site-roles", response_class=HTMLResponse)
async def give_site_role(request: Request, ctx: SiteRoleGiver, staff_id: int) -> Response:
    """Give the account a role at another site: it acts there with it from its next page."""
    sent = await submit(request, ctx, staff.StaffSiteRoleInput,
                        lambda desk, actor, inp: staff.give_site_role(desk, actor, staff_id,
                                                                      inp))
    if isinstance(sent, Refused):
        return await _account_page(request, ctx, staff_id, failed="site_roles",
                                   values=sent.values, error=sent.error)
    return see_other(f"/staff?done=site_roles&who={staff_id}")


@router.post("/staff/{staff_id}/site-roles/{site_code}/take", response_class=HTMLResponse)
async def take_site_role(request: Request, ctx: SiteRoleTaker, staff_id: int,
                         site_code: str) -> Response:
    """Take back the account's role at that site."""
    sent = await press(request, ctx, lambda desk, actor: staff.take_site_role(
        desk, actor, staff_id, site_code))
    if isinstance(sent, Refused):
        return await _account_page(request, ctx, staff_id, failed="site_roles",
                                   error=sent.error)
    return see_other(f"/staff?done=site_roles&who={staff_id}")
