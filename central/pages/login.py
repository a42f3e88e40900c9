"""Logging in and out of the desk pages, and choosing the pages' language.

The login page reads the same declared input as ``POST /api/v1/login`` and checks the
password through the same throttled service; a refused login waits as the API's does. The
session's token goes into an HttpOnly, SameSite=Strict cookie and ends after
``ApiState.page_idle_timeout`` without a request (an unattended counter) or at the end of
the shift (``session_ttl``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from central.api.auth import LoginForm, pause_after_refused_login
from central.api.sessions import close_session, open_session
from central.api.state import api_state
from central.form_input import read_input
from central.pages.form_view import form_view, posted_values
from central.pages.i18n import LOCALES, chosen_locale
from central.pages.page_request import PageDep, field_errors, page, posted_form, see_other
from central.pages.page_session import (
    CSRF_FIELD,
    LOCALE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    LoginRequired,
    check_csrf,
    new_login_csrf,
)
from central.pages.templating import PageContext, render
from central.refusals import DeskError, LoginFailedError, LoginThrottledError
from central.services.staff import set_locale
from central.services.staff_login import login as check_login

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this desk only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_page(request: Request, *, values: dict[str, str] | None = None,
                error: DeskError | None = None, next_url: str = "/", why: str = "",
                status_code: int = 200) -> HTMLResponse:
    ctx = PageContext(request, None, chosen_locale(request.cookies.get(LOCALE_COOKIE)))
    token = new_login_csrf()
    shown = {k: v for k, v in (values or {}).items() if k != "password"}
    response = render(ctx, "login.html", {
        "fields": form_view(LoginForm, shown, field_errors(error) if error else []),
        "error": error, "next_url": next_url, "why": why, "login_csrf": token},
        status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: Annotated[str | None, Query()] = None,
               why: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The login page."""
    return _login_page(request, next_url=safe_next(next),
                       why=why if why in ("idle", "ended", "out") else "")


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request) -> Response:
    """Check the user name and password; on success start a session and go on."""
    state = api_state(request)
    form = await request.form(max_files=0, max_fields=10)
    next_url = safe_next(str(form.get("next") or "/"))
    values = {k: str(v) for k, v in form.items() if k in ("username", "password")}
    try:
        check_csrf(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form.get(CSRF_FIELD))
        inp = read_input(LoginForm, posted_values(LoginForm, values, "UTC"))
        remote = request.client.host if request.client is not None else ""
        try:
            who = await run_in_threadpool(check_login, state.desk, inp.username,
                                          inp.password, remote)
        except (LoginFailedError, LoginThrottledError):
            await pause_after_refused_login(state)
            raise
    except DeskError as exc:
        return _login_page(request, values=values, error=exc, next_url=next_url,
                           status_code=exc.http_status)
    token, _expires_at = await run_in_threadpool(
        open_session, state.desk, who.staff_id, state.session_ttl, state.page_idle_timeout)
    response = RedirectResponse(next_url, status_code=303)
    # A browser-session cookie: the desk ends the session itself (idle limit, end of
    # shift), by its own clock rather than the counter computer's.
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=_secure(request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, ctx: PageDep) -> RedirectResponse:
    """End this session and go back to the login page."""
    await posted_form(request, ctx)
    assert ctx.caller is not None
    await run_in_threadpool(close_session, api_state(request).desk,
                            ctx.caller.principal.session_id)
    response = see_other("/login?why=out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
async def choose_language(request: Request) -> RedirectResponse:
    """Switch the pages' language: remembered for the account when logged in (on every
    computer it uses), and by this browser for the login page."""
    form = await request.form(max_files=0, max_fields=10)
    locale = str(form.get("locale") or "")
    back = safe_next(str(form.get("back") or "/"))
    if locale not in LOCALES:
        return see_other(back)
    if request.cookies.get(SESSION_COOKIE):
        try:
            ctx: PageContext | None = page(request)
        except LoginRequired:  # an ended session: only the browser's choice changes
            ctx = None
        if ctx is not None and ctx.caller is not None:
            check_csrf(ctx.caller.csrf, form.get(CSRF_FIELD))
            await run_in_threadpool(set_locale, api_state(request).desk,
                                    ctx.caller.principal.staff_id, locale)
    response = see_other(back)
    response.set_cookie(LOCALE_COOKIE, locale, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=365 * 24 * 3600, path="/")
    return response
