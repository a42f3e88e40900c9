"""Rendering a desk page: one Jinja2 environment over ``templates/``, autoescaped, and the
context every page gets — the caller, their language's ``_``, what their role may do
(``can``), the CSRF token for forms, and the filters that show money, times and enums the
way a Chinese front desk reads them (yuan with two decimals, the site's local time).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from central.amounts import yuan
from central.api.permissions import PERMISSIONS, ROLE_TITLES, ROLE_TITLES_ZH
from central.clock import zone
from central.pages.enum_labels import enum_label
from central.pages.i18n import LOCALE_NAMES, LOCALES, gettext_for
from central.pages.navigation import MENU
from central.pages.page_session import PageCaller
from central.refusals import DeskError, FieldError
from central.services.context import Actor

TEMPLATE_DIR = Path(__file__).parent / "templates"

ENV = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def money(fen: int | None) -> str:
    """Fen as yuan with two decimals and the yuan sign: ``¥1,234.50``."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = yuan(abs(fen)).split(".")
    return f"{sign}¥{int(whole):,}.{cents}"


def local_time(at: datetime | None, tz: str, seconds: bool = False) -> str:
    """An instant in the site's time zone, ``2026-12-03 08:15``."""
    if at is None:
        return ""
    return at.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S" if seconds else
                                            "%Y-%m-%d %H:%M")


def day(value: date | None) -> str:
    """A calendar date, ``2026-12-03``."""
    return "" if value is None else value.isoformat()


class PageContext:
    """What a template needs besides its own data; ``caller`` is None on the login page."""

    def __init__(self, request: Request, caller: PageCaller | None, locale: str) -> None:
        self.request = request
        self.caller = caller
        self.locale = locale
        self.gettext = gettext_for(locale)

    @property
    def actor(self) -> Actor:
        """The logged-in caller as the services know them (only the login page has none)."""
        assert self.caller is not None
        return self.caller.actor

    def can(self, operation: str) -> bool:
        """Whether the caller's role may perform ``operation`` (the API's permission
        matrix, central/api/permissions.py): buttons are shown by it, and every action is
        checked again on the server."""
        if self.caller is None:
            return False
        return self.caller.role in PERMISSIONS[operation].roles

    def role_title(self) -> str:
        """The caller's role in their language."""
        if self.caller is None:
            return ""
        role = self.caller.role
        return ROLE_TITLES_ZH[role] if self.locale == "zh_CN" else ROLE_TITLES[role]

    def message(self, error: DeskError | FieldError) -> str:
        """A refusal's (or one field's) message in the caller's language."""
        return error.message_zh if self.locale == "zh_CN" else error.message_en

    def values(self) -> dict[str, Any]:
        """The template variables every page has."""
        tz = self.caller.timezone if self.caller is not None else "Asia/Shanghai"
        return {
            # A page's refusal, when it has one (templates test ``if error``).
            "error": None,
            "request": self.request, "caller": self.caller, "locale": self.locale,
            "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
            "_": self.gettext, "can": self.can, "role_title": self.role_title(),
            "say": self.message,
            "menu": [entry for entry in MENU if self.can(entry.operation)],
            "csrf": self.caller.csrf if self.caller is not None else "",
            "money": money, "day": day,
            "local_time": lambda at, seconds=False: local_time(at, tz, seconds),
            "label": lambda value: self.gettext(enum_label(value))
            if isinstance(value, enum.Enum) else str(value),
        }


def render(context: PageContext, template: str, data: Mapping[str, Any] | None = None, *,
           status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page ``template`` filled with ``data`` and the page context."""
    html = ENV.get_template(template).render({**context.values(), **(data or {})})
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
