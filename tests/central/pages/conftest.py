"""Fixtures for the desk pages: the real desk application (API and pages) served by uvicorn
on 127.0.0.1 over a real SQLite file (example site, one account per role), and Debian's
Chromium driven by Playwright — launched by its executable path, since no browser can be
downloaded on these machines.

``shot(page, name)`` saves a screenshot: into the test's tmp folder, or into
docs/screenshots/ when MENWEI_SCREENSHOTS=docs (how the README's pictures are made).
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from openpyxl import load_workbook
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from central.api import create_app
from central.clock import FixedClock
from central.services.context import Desk
from sync.hub.bridge import CentralSync
from sync.hub.store import CentralStore

from ..api.live_desk import every_role_desk, free_port
from ..conftest import FAST_HASHER, NOW, PASSWORD, SITE

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def chromium_path() -> str:
    """Debian's chromium (installed by ./scripts/run-tests)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("chromium is not installed: ./scripts/run-tests installs it")


@dataclass
class RunningDesk:
    """A desk served on 127.0.0.1: its base URL, database and clock."""

    url: str
    db_url: str
    desk: Desk
    clock: FixedClock
    store: CentralStore


@contextmanager
def running_desk(root: Path, *, page_idle_timeout: timedelta = timedelta(minutes=30),
                 gate_link: CentralSync | None = None) -> Iterator[RunningDesk]:
    """The desk application (API and pages) over a fresh database under ``root``, served
    by uvicorn in a thread on a free port of 127.0.0.1. With ``gate_link`` (the desk's
    live link to a site broker, owned by the caller) the desk reads that link's store and
    sends through it, as ``serve --sync-config`` does; else a store nothing feeds."""
    db_url, desk = every_role_desk(root)
    clock = FixedClock(NOW)
    store = gate_link.store if gate_link is not None else \
        CentralStore(root / "central-sync.db", SITE, clock=clock.wall)
    app = create_app(db_url, gate_events=store, gate_links=gate_link, clock=clock,
                     hasher=FAST_HASHER, login_refusal_delay_s=0,
                     page_idle_timeout=page_idle_timeout)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                          log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the desk did not start"
        time.sleep(0.02)
    try:
        yield RunningDesk(f"http://127.0.0.1:{port}", db_url, desk, clock, store)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        if gate_link is None:
            store.close()
        desk.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    """One desk for a test module."""
    with running_desk(tmp_path_factory.mktemp("desk")) as running:
        yield running


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver."""
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Headless Chromium from Debian."""
    b = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
    yield b
    b.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies), at a counter's screen size, in Chinese."""
    c = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN",
                            timezone_id="Asia/Shanghai")
    c.set_default_timeout(15_000)
    yield c
    c.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab whose script errors, console errors (a script or style the policy refused)
    and missing assets fail the test. A page answered with a refusal's status (a form
    refused with 422) is not a problem: the browser merely logs it."""
    p = context.new_page()
    problems: list[str] = []
    p.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
    p.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
         if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    p.on("response", lambda r: problems.append(f"{r.status} {r.url}")
         if (r.status >= 500 or (r.status >= 400 and r.request.resource_type != "document"
                                 and r.request.resource_type not in ("fetch", "xhr")))
         else None)
    yield p
    assert not problems, problems


def log_in(page: Page, live: RunningDesk, username: str, password: str = PASSWORD) -> None:
    """Log in through the login page, as a clerk would."""
    page.goto(f"{live.url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()


def log_in_as(page: Page, live: RunningDesk, username: str) -> None:
    """Another staff member at the same browser: the session before is dropped."""
    page.context.clear_cookies()
    log_in(page, live, username)


def downloaded_book(page: Page, selector: str) -> tuple[str, Any]:
    """Click ``selector``, wait for the download and open it as a workbook: its file name
    and the workbook."""
    with page.expect_download() as download:
        page.click(selector)
    content = Path(download.value.path()).read_bytes()
    return download.value.suggested_filename, load_workbook(io.BytesIO(content))


def downloaded_sheet(page: Page, selector: str) -> Any:
    """The first sheet of the workbook ``selector`` downloads."""
    _name, book = downloaded_book(page, selector)
    sheet = book.active
    assert sheet is not None
    return sheet


@pytest.fixture
def shot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save a screenshot of the whole page under ``name``."""
    def take(p: Page, name: str) -> Path:
        folder = SCREENSHOTS if os.environ.get("MENWEI_SCREENSHOTS") == "docs" else tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        p.screenshot(path=str(path), full_page=True)
        return path
    return take
