"""Signing in and out at the booth's screen.

The sign-in form is posted before anyone is signed in, so it cannot carry a sign-in's CSRF
token: it carries a random token that is also in a cookie of the sign-in page
(``SameSite=Strict``, path ``/sign-in``), and the two must match (a double-submit cookie,
as the desk's login page does). The password is checked offline (booth.sign_in) on the
thread pool, with no lock held while argon2 works."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from booth.refusals import BoothRefusal
from booth.web.deps import MAX_FORM_BYTES, Context, Form, FormRefused, OpenContext, Service
from booth.web.guard_session import CSRF_FIELD, GUARD_COOKIE, cookie_value, csrf_matches
from booth.web.rendering import BoothContext, render

router = APIRouter()
SIGN_IN_CSRF_COOKIE = "booth_sign_in_csrf"
WHY = ("ended", "removed", "out")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this booth only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _sign_in_page(ctx: BoothContext, service: Service, *, username: str = "",
                  error: BoothRefusal | None = None, next_url: str = "/", why: str = "",
                  status_code: int = 200) -> HTMLResponse:
    try:
        service.booth_list()
        no_list: BoothRefusal | None = None
    except BoothRefusal as refusal:
        no_list = refusal
    token = secrets.token_urlsafe(32)
    response = render(ctx, "sign_in/sign_in.html", {
        "username": username, "error": error, "next_url": next_url, "why": why,
        "no_list": no_list, "sign_in_csrf": token}, status_code=status_code)
    response.set_cookie(SIGN_IN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        path="/sign-in")
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(ctx: OpenContext, service: Service,
                 next: Annotated[str | None, Query()] = None,
                 why: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The sign-in page (a plain message instead of the form before the desk's list
    arrived: nobody can sign in without it)."""
    return _sign_in_page(ctx, service, next_url=safe_next(next),
                         why=why if why in WHY else "")


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in_submit(request: Request, ctx: OpenContext, service: Service) -> Response:
    """Check the guard's username and password against the desk's list; on success the
    screen is theirs and the browser goes on to where it was going."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise FormRefused("提交的内容过大", "the form is too large")
    form = await request.form(max_files=0, max_fields=10)
    next_url = safe_next(str(form.get("next") or "/"))
    username = str(form.get("username") or "")
    password = str(form.get("password") or "")
    try:
        if not csrf_matches(request.cookies.get(SIGN_IN_CSRF_COOKIE, ""),
                            form.get(CSRF_FIELD)):
            raise FormRefused("页面已过期，请重新输入账号和密码",
                              "this form has expired: sign in again")
        guard = await run_in_threadpool(service.sign_in.sign_in, username, password)
    except BoothRefusal as refusal:
        return _sign_in_page(ctx, service, username=username, error=refusal,
                             next_url=next_url, status_code=refusal.http_status)
    # A guard who signs in between shifts is asked to take the post first.
    if next_url == "/" and service.shifts.current() is None:
        next_url = "/shift"
    response = RedirectResponse(next_url, status_code=303)
    set_guard_cookie(response, service.secret, guard.username, guard.name,
                     service.clock.wall())
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/sign-in")
    return response


def set_guard_cookie(response: Response, secret: bytes, username: str, name: str,
                     at: float) -> None:
    """Make this screen the signed-in guard's (the shift page does it at handover too)."""
    # A browser-session cookie: the booth ends the sign-in itself (guard_session).
    response.set_cookie(GUARD_COOKIE, cookie_value(secret, username, name, at),
                        httponly=True, samesite="strict", path="/")


@router.post("/sign-out")
def sign_out(ctx: Context, service: Service, form: Form) -> RedirectResponse:
    """Sign the guard out of this screen (journalled) and show the sign-in page."""
    assert ctx.guard is not None
    del form  # read for its CSRF token
    service.sign_in.sign_out(ctx.guard.username)
    response = RedirectResponse("/sign-in?why=out", status_code=303)
    response.delete_cookie(GUARD_COOKIE, path="/")
    return response
