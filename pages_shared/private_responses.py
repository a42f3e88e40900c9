"""Every answer of a page server is private: ``Cache-Control: no-store`` (no browser, proxy or
disk cache keeps a household's record, a visitor's ID number or a receipt after the page is
closed) and ``X-Content-Type-Options: nosniff`` (a browser never guesses a JSON answer, or an
exported report, to be a page or a script). A server may let its own assets (``/static/``:
the stylesheet, htmx), which hold nothing of anyone's, be kept a while (``static_cache``).

Every answer also carries the pages' Content-Security-Policy: only the server's own scripts
and styles (no inline script, no eval: htmx runs with ``allowEval`` off), no framing, no
referrer leaving the server. One ASGI middleware, so no route can forget; the desk and the
booth both add it."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                   "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
                   "Referrer-Policy": "no-referrer"}
STATIC_PREFIX = "/static/"
# The desk's assets: kept an hour by the clerk's browser, never by a shared cache.
STATIC_CACHE = "private, max-age=3600"


class PrivateResponses:
    """Adds PRIVATE_HEADERS to every HTTP response; ``static_cache``, when given, is the
    ``Cache-Control`` of the answers under STATIC_PREFIX instead of ``no-store``."""

    def __init__(self, app: ASGIApp, static_cache: str | None = None) -> None:
        self.app = app
        self.static_cache = static_cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; mark the response's start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PRIVATE_HEADERS.items():
                    headers[name] = value
                if self.static_cache and scope.get("path", "").startswith(STATIC_PREFIX):
                    headers["Cache-Control"] = self.static_cache
            await send(message)

        await self.app(scope, receive, marked)
