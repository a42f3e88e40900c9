"""What a booth page handler asks FastAPI for: the service, the guard signed in at this
screen (or the sign-in page), the page context, and a posted form checked for its CSRF
token. A page handler is a plain ``def`` (run on the thread pool): the booth's work is
SQLite commits and control-socket calls, which block."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from booth.refusals import BoothRefusal, NotSignedIn
from booth.service import BoothService
from booth.web.guard_session import (
    CSRF_FIELD,
    GUARD_COOKIE,
    LOCALE_COOKIE,
    SignedIn,
    csrf_matches,
    read_cookie,
)
from booth.web.i18n import chosen_locale
from booth.web.rendering import DEFAULT_TIMEZONE, BoothContext

MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 100


def booth_service(request: Request) -> BoothService:
    """The booth service the app was built over."""
    service: BoothService = request.app.state.booth
    return service


Service = Annotated[BoothService, Depends(booth_service)]


def _timezone(service: BoothService) -> str:
    current = service.lists.current()
    return current.timezone if current is not None else DEFAULT_TIMEZONE


def signed_in_guard(request: Request, service: Service) -> SignedIn:
    """The guard signed in at this screen; NotSignedIn (answered with the sign-in page)
    when there is none, the sign-in is too old, or the desk's list no longer has them."""
    value = request.cookies.get(GUARD_COOKIE, "")
    if not value:
        raise NotSignedIn()
    guard = read_cookie(service.secret, value, service.clock.wall())
    if guard is None:
        raise NotSignedIn("ended")
    current = service.lists.current()
    if current is None or all(g.username != guard.username for g in current.guards):
        raise NotSignedIn("removed")
    return guard


Guard = Annotated[SignedIn, Depends(signed_in_guard)]


def page_context(request: Request, service: Service) -> BoothContext:
    """The context of a page before sign-in (the sign-in page, errors)."""
    return BoothContext(request, None, chosen_locale(request.cookies.get(LOCALE_COOKIE)),
                        service.booth.post, _timezone(service),
                        gate_name=service.gate_name)


def guard_context(request: Request, service: Service, guard: Guard) -> BoothContext:
    """The context of a page for the guard signed in."""
    return BoothContext(request, guard, chosen_locale(request.cookies.get(LOCALE_COOKIE)),
                        service.booth.post, _timezone(service),
                        gate_name=service.gate_name)


Context = Annotated[BoothContext, Depends(guard_context)]
OpenContext = Annotated[BoothContext, Depends(page_context)]


class FormRefused(BoothRefusal):
    """A form that cannot be read (too large, or without this sign-in's CSRF token)."""

    http_status = 400


async def posted_form(request: Request, ctx: Context) -> FormData:
    """The posted form, refused when too large or without this sign-in's CSRF token."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise FormRefused("提交的内容过大", "the form is too large")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    if not csrf_matches(ctx.guard.csrf if ctx.guard else "", form.get(CSRF_FIELD)):
        raise FormRefused("页面已过期，请刷新后重新提交",
                          "this form has expired: reload the page and submit it again")
    return form


Form = Annotated[FormData, Depends(posted_form)]


def text(form: FormData, name: str) -> str:
    """A text field of a posted form, stripped; "" when missing."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def see_other(url: str) -> RedirectResponse:
    """Go to ``url`` after a form did its work."""
    return RedirectResponse(url, status_code=303)
