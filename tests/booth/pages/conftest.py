"""Fixtures for the booth page: the real booth application served by uvicorn on 127.0.0.1
over the rig's files (tests/booth/booth_rig.py), and a browser at a booth screen's size.
The browser itself is tests/browser.py's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
import uvicorn
from playwright.sync_api import BrowserContext, Page

from booth.service import BoothService
from booth.web.app import create_app
from booth.web.guard_session import GUARD_COOKIE, cookie_value
from hardware_sim.local_ports import free_tcp_port
from tests.booth.booth_rig import GUARDS, BoothRig, booth_list


@dataclass
class RunningBooth:
    """A booth page served on 127.0.0.1."""

    url: str
    service: BoothService
    rig: BoothRig


@pytest.fixture
def booth(rig: BoothRig) -> Iterator[RunningBooth]:
    """The booth page over the rig (gates started, the desk's list kept)."""
    rig.start_gates()
    rig.publish(booth_list(1))
    service = rig.service()
    port = free_tcp_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1", port=port,
                                          log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the booth did not start"
        time.sleep(0.02)
    try:
        yield RunningBooth(f"http://127.0.0.1:{port}", service, rig)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        service.close()


@pytest.fixture
def booth_context(context: BrowserContext) -> BrowserContext:
    """The browser at a booth's 1366x768 touch screen."""
    context.pages  # noqa: B018 - the context fixture's pages are closed with it
    return context


def sign_in_directly(page: Page, booth: RunningBooth, username: str = GUARDS[0].username) -> None:
    """Put a guard's sign-in cookie in the browser without the sign-in page (for tests of
    other pages; the sign-in page has its own tests)."""
    guard = next(g for g in GUARDS if g.username == username)
    value = cookie_value(booth.service.secret, guard.username, guard.name,
                         booth.service.clock.wall())
    host = urlparse(booth.url).hostname or "127.0.0.1"
    page.context.add_cookies([{"name": GUARD_COOKIE, "value": value, "domain": host,
                               "path": "/", "httpOnly": True, "sameSite": "Strict"}])
