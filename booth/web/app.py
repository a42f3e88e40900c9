"""The booth page's application: ``create_app(service)``, served by ``menwei-booth run``.

Each part's pages are one router module beside this one (listed in ``ROUTERS``). A refusal
is answered as a page in the guard's language; no sign-in sends the browser to the sign-in
page and back. Every answer is private (no cache), carries a Content-Security-Policy with
no inline script, and the page needs nothing from outside the booth (htmx is vendored)."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from booth.refusals import BoothRefusal, NotSignedIn
from booth.service import BoothService
from booth.web import (
    goods_pages,
    language,
    parking_pages,
    post_pages,
    shift_pages,
    sign_in_pages,
    visitor_pages,
)
from booth.web.guard_session import LOCALE_COOKIE
from booth.web.i18n import chosen_locale
from booth.web.rendering import BoothContext, render
from pages_shared.private_responses import PrivateResponses

log = logging.getLogger("menwei.booth.pages")
STATIC_DIR = Path(__file__).parent / "static"

ROUTERS = (
    language.router,
    visitor_pages.router,
    goods_pages.router,
    sign_in_pages.router,
    shift_pages.router,
    parking_pages.router,
    post_pages.router,
)

def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _context(request: Request) -> BoothContext:
    service: BoothService = request.app.state.booth
    return BoothContext(request, None, chosen_locale(request.cookies.get(LOCALE_COOKIE)),
                        service.booth.post)


async def page_error(request: Request, exc: Exception) -> Response:
    """The answer to anything a handler raised and did not answer itself: the sign-in page
    when nobody is signed in, else the refusal in the guard's language."""
    if isinstance(exc, NotSignedIn):
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = f"/sign-in?next={quote(back, safe='')}" + (
            f"&why={exc.reason}" if exc.reason else "")
        if _is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if isinstance(exc, BoothRefusal):
        refusal = exc
    elif isinstance(exc, StarletteHTTPException):
        refusal = BoothRefusal("没有这个页面", "no such page") if exc.status_code == 404 \
            else BoothRefusal("请求有误", str(exc.detail))
        refusal.http_status = exc.status_code
    else:
        log.error("unexpected error answering %s %s", request.method, request.url.path,
                  exc_info=exc)
        refusal = BoothRefusal("系统内部错误，已记录", "internal error; it has been logged")
        refusal.http_status = 500
    return render(_context(request), "error.html", {"error": refusal},
                  status_code=refusal.http_status)


def create_app(service: BoothService) -> FastAPI:
    """The booth page over ``service``."""
    app = FastAPI(title="Menwei booth", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.booth = service
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(BoothRefusal, page_error)
    app.add_exception_handler(StarletteHTTPException, page_error)
    app.add_exception_handler(Exception, page_error)
    # No static_cache: the booth's own assets are answered no-store like its pages.
    app.add_middleware(PrivateResponses)
    return app
