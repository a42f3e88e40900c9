"""Every answer of a page server is private and under the CSP; only a server that asks for it
lets its ``/static/`` assets be kept (the desk), the others answer them no-store (the booth)."""

from __future__ import annotations

import warnings

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pages_shared.private_responses import CSP, STATIC_CACHE, PrivateResponses

with warnings.catch_warnings():
    # Starlette's TestClient warns about httpx on import; the client works as documented.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def _answer(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers={"Cache-Control": "max-age=86400"})


def _app(static_cache: str | None) -> TestClient:
    app = Starlette(routes=[Route("/visitors", _answer), Route("/static/booth.css", _answer)])
    app.add_middleware(PrivateResponses, static_cache=static_cache)
    return TestClient(app)


def test_without_static_cache_every_answer_is_no_store() -> None:
    client = _app(None)
    for path in ("/visitors", "/static/booth.css"):
        answer = client.get(path)
        assert answer.headers["cache-control"] == "no-store", path
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"


def test_static_cache_applies_to_the_assets_only() -> None:
    client = _app(STATIC_CACHE)
    assert client.get("/static/booth.css").headers["cache-control"] == STATIC_CACHE
    page = client.get("/visitors")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["content-security-policy"] == CSP
