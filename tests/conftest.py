"""Fixtures every test folder may use: the browser for page tests (tests/browser.py), and the
desk's databases, SQLite and PostgreSQL (tests/desk_databases.py)."""

from tests.browser import browser, context, page, playwright, shot
from tests.desk_databases import desk_db_kind, postgres, postgres_desk_template, store_at

__all__ = ["browser", "context", "desk_db_kind", "page", "playwright", "postgres",
           "postgres_desk_template", "shot", "store_at"]
