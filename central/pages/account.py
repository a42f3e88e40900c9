"""The logged-in staff member's own account: who they are, their role, their session,
and changing their own password."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from central.pages.form_view import form_view
from central.pages.page_request import PageDep, Refused, see_other, submit
from central.pages.templating import render
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
    principal = ctx.caller.principal
    remote = request.client.host if request.client is not None else ""
    sent = await submit(request, ctx, OwnPassword, lambda desk, _actor, inp: change_own_password(
        desk, principal.staff_id, inp, keep_session_id=principal.session_id, remote=remote))
    if isinstance(sent, Refused):
        # Passwords are never sent back into the page.
        return render(ctx, "account_password.html", {
            "fields": form_view(OwnPassword, {}, sent.errors), "error": sent.error},
            status_code=sent.error.http_status)
    return see_other("/account?done=password")
