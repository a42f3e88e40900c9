"""What every page handler starts from: ``PageDep`` (the caller, their language, the
context templates get), ``requires(operation)`` (the API's permission matrix, checked on the
server for every page and action whatever buttons were shown), ``posted_form`` (a form post,
its size bounded and its CSRF token checked), ``submit`` (a posted form read by its input's
declaration and done by its service) and ``see_other`` (the answer to a form that did its
work, so a reload never repeats it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from central.api.errors import PayloadTooLargeError, RoleRefusedError
from central.api.permissions import PERMISSIONS, ROLE_TITLES, ROLE_TITLES_ZH
from central.api.state import api_state
from central.form_input import FormInput, read_input
from central.pages.form_view import posted_values
from central.pages.i18n import chosen_locale
from central.pages.page_session import (
    CSRF_FIELD,
    LOCALE_COOKIE,
    check_csrf,
    page_caller,
)
from central.pages.templating import PageContext
from central.refusals import DeskError, FieldError, InvalidInputError
from central.services.context import Actor, Desk

F = TypeVar("F", bound=FormInput)
R = TypeVar("R")

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
        role = ctx.caller.role
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


@dataclass(frozen=True)
class Done(Generic[R]):
    """A posted form its service did: what it returned, and the form as posted."""

    form: FormData
    values: dict[str, Any]
    result: R


@dataclass(frozen=True)
class Refused:
    """A posted form refused (by its declaration's reader or by the service): the values
    as typed, for the page to show again with ``error`` and its problems beside them."""

    form: FormData
    values: dict[str, Any]
    error: DeskError

    @property
    def errors(self) -> list[FieldError]:
        """The refusal's problems by field."""
        return field_errors(self.error)


async def submit(request: Request, ctx: PageContext, cls: type[F],
                 perform: Callable[[Desk, Actor, F], R], *,
                 given: Mapping[str, Any] | None = None) -> Done[R] | Refused:
    """The posted form (``posted_form``) read as ``cls`` by the same reader as the API's
    body, with ``given`` (the path's values) apart, then ``perform(desk, caller, input)``
    — the service — in a worker thread: what it returned, or why it was refused."""
    assert ctx.caller is not None
    form = await posted_form(request, ctx)
    values = posted_values(cls, form, ctx.caller.timezone)
    try:
        inp = read_input(cls, values, given=given)
        result = await run_in_threadpool(perform, api_state(request).desk, ctx.caller.actor,
                                         inp)
    except DeskError as exc:
        return Refused(form, values, exc)
    return Done(form, values, result)


async def press(request: Request, ctx: PageContext,
                perform: Callable[[Desk, Actor], R]) -> Done[R] | Refused:
    """A form that is only its button (approve, the visitor left): the post checked as
    ``posted_form`` does, then ``perform(desk, caller)`` in a worker thread; what it
    returned, or why it was refused."""
    assert ctx.caller is not None
    form = await posted_form(request, ctx)
    try:
        result = await run_in_threadpool(perform, api_state(request).desk, ctx.caller.actor)
    except DeskError as exc:
        return Refused(form, {}, exc)
    return Done(form, {}, result)
