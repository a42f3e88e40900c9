"""Every answer that is not a success has one shape: the refusal's ``as_dict()`` (central/
rules.py) and its HTTP status. This module adds the refusals only the API can meet (no
session, a body too large, an event store not configured), the error body's schema for the
OpenAPI document, and the exception handlers that turn all of them into responses.

Nothing a client sends may become a 500: a 500 here means a defect, and its answer says
nothing about the internals (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.refusals import (
    DeskError,
    FieldError,
    InvalidInputError,
    LoginThrottledError,
    NotFoundError,
    PermissionDeniedError,
)

log = logging.getLogger("menwei.desk.api")
# The API's paths: every router is made under it (central/api/routing.py).
PREFIX = "/api/v1"


class NotAuthenticatedError(DeskError):
    """No session token, or one that is unknown, expired or logged out."""

    http_status = 401
    kind = "unauthenticated"


class RoleRefusedError(PermissionDeniedError):
    """The permission matrix does not give the caller's role this operation, and no domain
    rule names who may (where one does, the refusal is that rule's RuleRefused)."""


class PayloadTooLargeError(DeskError):
    """The request body is larger than any form of the desk."""

    http_status = 413
    kind = "too_large"


class UnsupportedMediaTypeError(DeskError):
    """The body is declared as something other than JSON."""

    http_status = 415
    kind = "media_type"


class MethodNotAllowedError(DeskError):
    """The path exists, the method does not."""

    http_status = 405
    kind = "method"


# ---------------------------------------------------------------- the error body's schema


class FieldErrorBody(BaseModel):
    """One problem with one input field."""

    field: str = Field(description="dotted path of the field, e.g. `lines[0].uid`")
    message_zh: str
    message_en: str


class ErrorBody(BaseModel):
    """The body of every 4xx (and of the 5xx that should never happen)."""

    error: str = Field(description="rule, input, not_found, conflict, permission, login, "
                                   "throttled, unauthenticated, too_large, media_type, "
                                   "method, unavailable or internal")
    field: str | None = Field(description="the input field at fault, when one is")
    message_zh: str
    message_en: str
    rule: str | None = Field(None, description="the domain rule's id (`H4`, `I4`); present "
                                               "exactly when `error` is `rule`")
    errors: list[FieldErrorBody] | None = Field(None, description="every field problem "
                                                                   "(error `input`)")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries for these statuses, all with ErrorBody."""
    described = {400: "Bad request", 401: "Not logged in, or the session ended",
                 403: "The role may not do this (no rule names who may)",
                 404: "No such thing at this site",
                 409: "The thing's state forbids it", 413: "Body too large",
                 415: "Body is not JSON", 422: "A rule refused, or the input is invalid "
                 "(every field listed)", 429: "Too many failed logins",
                 503: "The gates' event store is not connected"}
    return {s: {"model": ErrorBody, "description": described.get(s, "Error")}
            for s in statuses}


# ---------------------------------------------------------------- handlers


def _answer(exc: DeskError) -> JSONResponse:
    headers: dict[str, str] = {}
    if isinstance(exc, LoginThrottledError):
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(exc.as_dict(), status_code=exc.http_status, headers=headers)


async def _desk_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeskError)
    return _answer(exc)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    # Parameters are declared as text and read by central.forms, so FastAPI's own
    # validation should only ever see a missing required header or path part; answer it
    # in the same shape all the same.
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header")]
        errors.append(FieldError(".".join(loc) or "(request)", "输入有误",
                                 str(e.get("msg", "invalid"))))
    return _answer(InvalidInputError(errors))


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: DeskError
    if exc.status_code == 404:
        error = NotFoundError("没有这个地址", "no such endpoint")
    elif exc.status_code == 405:
        error = MethodNotAllowedError("此地址不支持该方法", "method not allowed here")
    else:
        error = DeskError("请求有误", str(exc.detail))
        error.http_status = exc.status_code
    response = _answer(error)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error answering %s %s", request.method, request.url.path,
              exc_info=exc)
    return JSONResponse({"error": "internal", "field": None,
                         "message_zh": "系统内部错误，已记录", "message_en":
                         "internal error; it has been logged"}, status_code=500)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _for_api(handler: Handler, pages: Handler | None) -> Handler:
    """``handler`` for the API's paths; ``pages`` (an HTML answer) for every other."""
    if pages is None:
        return handler

    async def answer(request: Request, exc: Exception) -> Response:
        path = request.url.path
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return await handler(request, exc)
        return await pages(request, exc)
    return answer


def install_handlers(app: FastAPI, pages: Handler | None = None) -> None:
    """Answer every refusal of the API in the one error shape; a refusal met by a page (a
    path outside the API) is answered by ``pages``."""
    app.add_exception_handler(DeskError, _for_api(_desk_error, pages))
    app.add_exception_handler(RequestValidationError, _for_api(_validation_error, pages))
    app.add_exception_handler(StarletteHTTPException, _for_api(_http_error, pages))
    app.add_exception_handler(Exception, _for_api(_unexpected, pages))
