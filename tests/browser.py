"""Debian's Chromium driven by Playwright, for every page test (the desk's and the booth's):
launched by its executable path, since no browser can be downloaded on these machines.
The fixtures are made visible to every test folder by tests/conftest.py.

``shot(page, name)`` saves a screenshot: into the test's tmp folder, or into
docs/screenshots/ when MENWEI_SCREENSHOTS=docs (how the README's pictures are made).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def chromium_path() -> str:
    """Debian's chromium (installed by ./scripts/run-tests)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("chromium is not installed: ./scripts/run-tests installs it")


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
