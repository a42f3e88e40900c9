"""Every answer of the desk is private: ``Cache-Control: no-store`` (no browser, proxy or
disk cache keeps a household's record, an ID number or a receipt after the page is closed)
and ``X-Content-Type-Options: nosniff`` (a browser never guesses a JSON answer, or an
exported report, to be a page or a script). One ASGI middleware, so no route can forget."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class PrivateResponses:
    """Adds PRIVATE_HEADERS to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            await send(message)

        await self.app(scope, receive, marked)
