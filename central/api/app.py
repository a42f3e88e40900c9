"""The JSON API's factory: ``create_app(database_url, gate_events=...)``.

One FastAPI application per desk database; the routers, one per concept, live beside this
module. The OpenAPI document is served at ``/api/v1/openapi.json`` with every request
body's schema (the bodies are the desk inputs' declarations, read by their own reader, so
FastAPI does not know them by itself: central/api/body_schema.py derives them) and the error
shape on every operation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from central.api import (
    auth,
    card_changes,
    cards,
    directory,
    gate_commands,
    gates,
    goods,
    id_checks,
    loss,
    money,
    ownership,
    parking,
    register,
    renovation,
    reports,
    search,
    site_rules,
    staff,
    visitors,
)
from central.api.body_schema import BODIES
from central.api.errors import PREFIX, install_handlers
from central.api.ports import GateEventSource
from central.api.state import ApiState
from central.pages.app import install_pages, page_error
from central.services.booth_records import (
    INTERVAL_S,
    BoothEventSource,
    BoothRecordProjection,
)
from central.services.context import Desk
from central.services.gate_sources import GateLink, GateSyncSource
from edge.ports import Clock
from pages_shared.private_responses import STATIC_CACHE, PrivateResponses

# A desk shift, with some slack; the desk logs in again the next morning.
DEFAULT_SESSION_TTL = timedelta(hours=10)
# An unattended counter: a page session ends after this long without a click.
DEFAULT_PAGE_IDLE = timedelta(minutes=30)
VERSION = "1.0.0"
DESCRIPTION = """Menwei's central issuing service: cards, fees and receipts, the register,
monthly parking and its report, renovations, visitors, goods release, and what the gates
report. Log in with `POST /api/v1/login`, then send
`Authorization: Bearer <token>`. Every refusal is a JSON object with `error`, `field`,
`message_zh`, `message_en` (and `rule` for a business rule, `errors` for invalid input).
See docs/api.md for the permission matrix."""

ROUTERS = (auth.public, auth.router, staff.router, directory.router, cards.router,
           card_changes.router, loss.router, money.router, ownership.router, register.router,
           gates.router, gate_commands.router, parking.router, reports.router,
           renovation.router, visitors.router, goods.router, id_checks.router, search.router,
           site_rules.router)


def _by_site(sources: Any, kind: type) -> dict[str, Any]:
    """One source, or several, keyed by the site each serves."""
    if sources is None:
        return {}
    items: list[Any] = [sources] if isinstance(sources, kind) else list(sources)
    return {source.site: source for source in items}


def _tidy_parameters(schema: dict[str, Any]) -> None:
    """Optional query and header parameters are declared ``str | None`` (read as text by
    central.forms); in the document an absent parameter is simply absent, so drop the
    ``anyOf [string, null]`` and keep what the declaration says the value is (integer,
    date, one of an enum), defaulting to text."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                declared = parameter.get("schema", {})
                options = declared.pop("anyOf", None)
                if options is not None and "type" not in declared:
                    declared["type"] = "string"


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for body in BODIES.values():
                components.update(body.schemas())
            _tidy_parameters(schema)
            app.openapi_schema = schema
        return app.openapi_schema
    return build


def create_app(database_url: str, *,
               gate_events: GateEventSource | Sequence[GateEventSource] | None = None,
               devices: GateSyncSource | Sequence[GateSyncSource] | None = None,
               gate_links: GateLink | Sequence[GateLink] | None = None,
               clock: Clock | None = None, hasher: PasswordHasher | None = None,
               session_ttl: timedelta = DEFAULT_SESSION_TTL,
               page_idle_timeout: timedelta = DEFAULT_PAGE_IDLE,
               login_refusal_delay_s: float = 1.0,
               booth_records_interval_s: float | None = INTERVAL_S) -> FastAPI:
    """The API over the desk database at ``database_url`` (already migrated: ``serve``
    runs ``db.upgrade()`` first).

    ``gate_events`` and ``devices`` are the sync side's stores, one per site (each names
    its ``site``); a ``sync.hub.store.CentralStore`` is both, and when ``devices`` is
    omitted the event sources that also report device status are used. ``gate_links`` are
    the desk's live links to the sites' brokers (``sync.hub.bridge.CentralSync``): with one,
    the gates view knows when the desk itself has lost the broker, and remote commands can
    be sent. ``clock`` and
    ``hasher`` are for tests (a clock they can move, cheap argon2 parameters), and so is
    ``login_refusal_delay_s`` (how long a refused login waits before it is answered).
    ``page_idle_timeout`` ends a desk page's session after that long without a request.
    While the application runs, the guards' booth records in the event stores are projected
    into the desk's database every ``booth_records_interval_s`` (None: never; tests that
    project on demand) by a thread of its own (central/services/booth_records.py).

    The desk pages (central/pages) are mounted at ``/`` over the same state; the API's
    documentation page at ``/api/v1/docs`` is served from the package's own copy of
    Swagger UI (a site LAN has no internet).
    """
    desk = Desk.open(database_url, clock=clock, hasher=hasher)
    events = _by_site(gate_events, GateEventSource)
    if devices is None:
        statuses = {site: s for site, s in events.items() if isinstance(s, GateSyncSource)}
    else:
        statuses = _by_site(devices, GateSyncSource)
    links = _by_site(gate_links, GateLink)

    booths = [s for s in events.values() if isinstance(s, BoothEventSource)]
    projection = BoothRecordProjection(desk, booths, booth_records_interval_s or INTERVAL_S,
                                       projects=published_here(links))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if booths and booth_records_interval_s is not None:
            projection.start()
        try:
            yield
        finally:
            projection.stop()
            desk.close()

    app = FastAPI(title="Menwei desk API", version=VERSION, description=DESCRIPTION,
                  openapi_url=f"{PREFIX}/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)
    app.state.menwei = ApiState(desk, session_ttl, login_refusal_delay_s, events, statuses,
                                links, page_idle_timeout)
    for router in ROUTERS:
        app.include_router(router)
    install_handlers(app, pages=page_error)
    app.add_middleware(PrivateResponses, static_cache=STATIC_CACHE)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    install_pages(app)
    return app


def published_here(links: Mapping[str, object]) -> Callable[[str], bool]:
    """Whether this desk process publishes a site now: its link says so where it has a lease
    (sync.hub.bridge.CentralSync.publishing; a company's workers share the sites), and a
    site with no link of this process is its own."""
    def publishes(site: str) -> bool:
        return bool(getattr(links.get(site), "publishing", True))
    return publishes

