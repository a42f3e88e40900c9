"""What every page handler starts from: ``PageDep`` (the caller, their language, the
context templates get), ``requires(operation)`` (the API's permission matrix, checked on the
server for every page and action whatever buttons were shown), ``posted_form`` (a form post,
its size bounded and its CSRF token checked) and ``see_other`` (the answer to a form that
did its work, so a reload never repeats it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from central.api.errors import PayloadTooLargeError, RoleRefusedError
from central.api.permissions import PERMISSIONS, ROLE_TITLES, ROLE_TITLES_ZH
from central.pages.i18n import chosen_locale
from central.pages.page_session import (
    CSRF_FIELD,
    LOCALE_COOKIE,
    check_csrf,
    page_caller,
)
from central.pages.templating import PageContext
from central.refusals import DeskError, FieldError, InvalidInputError

# The largest page form (a household's cards, a renovation's workers) is a few kilobytes.
MAX_FORM_BYTES = 256 * 1024
MAX_FORM_FIELDS = 2000


def page(request: Request) -> PageContext:
    """The page's context: the logged-in caller (else the login page) in their language
    (their account's choice, else the browser's cookie, else Chinese)."""
    caller = page_caller(request)
    locale = chosen_locale(caller.principal.locale or request.cookies.get(LOCALE_COOKIE))
    return PageContext(request, caller, locale)


PageDep = Annotated[PageContext, Depends(page)]


def requires(operation: str) -> Callable[[PageContext], PageContext]:
    """A dependency: the page's context if the caller's role may perform ``operation``
    (an API operation name), else the matrix's refusal in the caller's language."""
    permission = PERMISSIONS[operation]

    def allowed(ctx: PageDep) -> PageContext:
        assert ctx.caller is not None
        role = ctx.caller.principal.role
        if role not in permission.roles:
            ordered = [r for r in ROLE_TITLES if r in permission.roles]
            raise RoleRefusedError(
                f"{ROLE_TITLES_ZH[role]}无权办理此业务；须由"
                f"{'、'.join(ROLE_TITLES_ZH[r] for r in ordered)}办理",
                f"a {ROLE_TITLES[role]} may not {permission.summary}; allowed: "
                f"{', '.join(ROLE_TITLES[r] for r in ordered)}")
        return ctx
    return allowed


async def posted_form(request: Request, ctx: PageContext) -> FormData:
    """The posted form, refused when larger than any desk form or without this session's
    CSRF token."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise PayloadTooLargeError("提交的内容过大", "the form is too large")
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    check_csrf(ctx.caller.csrf if ctx.caller is not None else "", form.get(CSRF_FIELD))
    return form


def field_errors(exc: DeskError) -> list[FieldError]:
    """A refusal's problems by field (an invalid form), or the one field it names."""
    if isinstance(exc, InvalidInputError):
        return list(exc.errors)
    if exc.field:
        return [FieldError(exc.field, exc.message_zh, exc.message_en)]
    return []


def see_other(url: str) -> RedirectResponse:
    """Go to ``url`` after a form did its work."""
    return RedirectResponse(url, status_code=303)
