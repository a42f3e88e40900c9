"""The logged-in staff member's own account: who they are, their role, their session,
and changing their own password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.form_input import read_input
from central.pages.form_view import form_view, posted_values
from central.pages.page_request import PageDep, field_errors, posted_form, see_other
from central.pages.templating import render
from central.refusals import DeskError
from central.services.staff import OwnPassword, change_own_password

router = APIRouter()


@router.get("/account", response_class=HTMLResponse)
def account(ctx: PageDep, done: str | None = None) -> HTMLResponse:
    """The account page."""
    return render(ctx, "account.html", {"done": done == "password"})


@router.get("/account/password", response_class=HTMLResponse)
def password_form(ctx: PageDep) -> HTMLResponse:
    """The form to change one's own password."""
    return render(ctx, "account_password.html", {"fields": form_view(OwnPassword)})


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(request: Request, ctx: PageDep) -> Response:
    """Change one's own password; the account's other sessions end."""
    assert ctx.caller is not None
    form = await posted_form(request, ctx)
    try:
        inp = read_input(OwnPassword, posted_values(OwnPassword, form, ctx.caller.timezone))
        remote = request.client.host if request.client is not None else ""
        await run_in_threadpool(change_own_password, api_state(request).desk,
                                ctx.caller.principal.staff_id, inp,
                                keep_session_id=ctx.caller.principal.session_id,
                                remote=remote)
    except DeskError as exc:
        # Passwords are never sent back into the page.
        return render(ctx, "account_password.html",
                      {"fields": form_view(OwnPassword, {}, field_errors(exc)), "error": exc},
                      status_code=exc.http_status)
    return see_other("/account?done=password")
