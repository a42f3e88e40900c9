"""Fixtures every test folder may use: the browser for page tests (tests/browser.py)."""

from tests.browser import browser, context, page, playwright, shot

__all__ = ["browser", "context", "page", "playwright", "shot"]
