"""The desk pages: ``install_pages(app)`` adds them to the desk's application beside the
JSON API (central/api/app.py), over the same ``ApiState`` and the same services.

Each concept's pages are one router module beside this one. Refusals are answered as a
page in the caller's language (a form comes back with its fields' problems beside them,
from the page's own handler); no session sends the browser to the login page and back.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.pages import (
    account,
    api_docs,
    booth_records,
    card_actions,
    card_issue,
    directory,
    fees,
    gate_feed,
    gates,
    goods_slips,
    home,
    login,
    loss_reports,
    parking,
    receipts,
    register,
    renovations,
    search,
    site_choice,
    site_rules,
    sites_gates,
    staff,
    stored_value,
    visitors,
)
from central.pages.i18n import chosen_locale
from central.pages.page_session import LOCALE_COOKIE, LoginRequired, login_url
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError

log = logging.getLogger("menwei.desk.pages")
STATIC_DIR = Path(__file__).parent / "static"

ROUTERS = (
    login.router,
    home.router,
    account.router,
    api_docs.router,
    card_issue.router,
    directory.router,
    search.router,
    card_actions.router,
    loss_reports.router,
    receipts.router,
    register.router,
    fees.router,
    stored_value.router,
    gate_feed.router,
    gates.router,
    sites_gates.router,
    booth_records.router,
    parking.router,
    visitors.router,
    renovations.router,
    goods_slips.router,
    staff.router,
    site_choice.router,
    site_rules.router,
)


def _context(request: Request) -> PageContext:
    """The context of an error page: the caller is not known here, only their cookie."""
    return PageContext(request, None, chosen_locale(request.cookies.get(LOCALE_COOKIE)))


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _to_login(request: Request, exc: LoginRequired) -> Response:
    target = login_url(request, exc.reason)
    if _is_htmx(request):
        # htmx would swap the login page into a fragment; have it load the whole page.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def page_error(request: Request, exc: Exception) -> Response:
    """A page's answer to anything a page handler raised and did not answer itself: the
    login page for no session, else the refusal in the caller's language."""
    if isinstance(exc, LoginRequired):
        return _to_login(request, exc)
    error: DeskError
    if isinstance(exc, DeskError):
        error = exc
    elif isinstance(exc, StarletteHTTPException):
        error = (NotFoundError("没有这个页面", "no such page") if exc.status_code == 404
                 else DeskError("请求有误", str(exc.detail)))
        error.http_status = exc.status_code
    else:
        log.error("unexpected error answering %s %s", request.method, request.url.path,
                  exc_info=exc)
        error = DeskError("系统内部错误，已记录", "internal error; it has been logged")
        error.http_status = 500
    return render(_context(request), "error.html", {"error": error},
                  status_code=error.http_status)


def install_pages(app: FastAPI) -> None:
    """Add the pages and their assets to the desk's application (after the API's routes:
    a path is a page unless it is the API's)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.add_exception_handler(LoginRequired, page_error)
