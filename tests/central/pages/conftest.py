"""Fixtures for the desk pages: the real desk application (API and pages) served by uvicorn
on 127.0.0.1 (example site, one account per role). The browser (Debian's Chromium driven by
Playwright) and ``shot`` are tests/browser.py's.

Each page module runs once per database: its desks on a SQLite file, then on PostgreSQL
(``page_db_kind``, module-scoped, so a module's shared desk is built once per database)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from openpyxl import load_workbook
from playwright.sync_api import Page

from central.api import create_app
from central.clock import FixedClock
from central.services.context import Desk
from hardware_sim.local_ports import free_tcp_port
from sync.hub.bridge import CentralSync
from sync.hub.store import CentralStore
from tests.desk_databases import DATABASES, fresh_desk_database

from ...browser import ROOT
from ..api.live_desk import every_role_desk
from ..conftest import FAST_HASHER, NOW, PASSWORD, SITE

__all__ = ["ROOT"]


@dataclass
class RunningDesk:
    """A desk served on 127.0.0.1: its base URL, database and clock."""

    url: str
    db_url: str
    desk: Desk
    clock: FixedClock
    store: CentralStore


@pytest.fixture(scope="module", params=DATABASES)
def page_db_kind(request: pytest.FixtureRequest) -> str:
    """The database this page module's desks run on."""
    return str(request.param)


@pytest.fixture
def desk_db_url(request: pytest.FixtureRequest, page_db_kind: str,
                tmp_path: Path) -> Iterator[str]:
    """A fresh database of this module's kind, for a desk of the test's own."""
    with fresh_desk_database(request, page_db_kind, tmp_path) as url:
        yield url


@contextmanager
def running_desk(root: Path, db_url: str, *,
                 page_idle_timeout: timedelta = timedelta(minutes=30),
                 gate_link: CentralSync | None = None) -> Iterator[RunningDesk]:
    """The desk application (API and pages) over the fresh database ``db_url`` (its other
    files under ``root``), served by uvicorn in a thread on a free port of 127.0.0.1. With
    ``gate_link`` (the desk's live link to a site broker, owned by the caller) the desk
    reads that link's store and sends through it, as ``serve --sync-config`` does; else a
    store nothing feeds."""
    db_url, desk = every_role_desk(root, db_url)
    clock = FixedClock(NOW)
    store = gate_link.store if gate_link is not None else \
        CentralStore(root / "central-sync.db", SITE, clock=clock.wall)
    app = create_app(db_url, gate_events=store, gate_links=gate_link, clock=clock,
                     hasher=FAST_HASHER, login_refusal_delay_s=0,
                     page_idle_timeout=page_idle_timeout)
    port = free_tcp_port()
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
def live(request: pytest.FixtureRequest, page_db_kind: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDesk]:
    """One desk for a test module (per database)."""
    root = tmp_path_factory.mktemp("desk")
    with fresh_desk_database(request, page_db_kind, root) as db_url, \
            running_desk(root, db_url) as running:
        yield running


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


