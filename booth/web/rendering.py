"""Rendering a booth page: one Jinja2 environment over ``templates/``, autoescaped, and the
context every page gets — the guard, the post, the language's ``_``, the CSRF token, the
gates' names (``gate_name``), and the filters that show money and times as a Chinese booth
reads them (yuan with two decimals, the site's local time)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from booth.refusals import BoothRefusal
from booth.web.guard_session import SignedIn
from booth.web.i18n import LOCALE_NAMES, LOCALES, gettext_for

TEMPLATE_DIR = Path(__file__).parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(),
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
DEFAULT_TIMEZONE = "Asia/Shanghai"


def money(fen: int | None) -> str:
    """Fen as yuan with two decimals and the yuan sign: ``¥1,234.50``."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100:,}.{abs(fen) % 100:02d}"


def local_time(wall: float | None, tz: str, seconds: bool = False) -> str:
    """Seconds since the epoch in the site's time zone, ``2026-12-03 08:15``."""
    if wall is None:
        return ""
    return datetime.fromtimestamp(wall, ZoneInfo(tz)).strftime(
        "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


class BoothContext:
    """What a template needs besides its own data; ``guard`` is None on the sign-in page.
    ``gate_name`` is the booth's BoothService.gate_name: a template shows every gate as
    ``gate_name(device)`` (小区大门, not ``main-gate``)."""

    def __init__(self, request: Request, guard: SignedIn | None, locale: str,
                 post: str, timezone: str = DEFAULT_TIMEZONE, *,
                 gate_name: Callable[[str], str] = str) -> None:
        self.request = request
        self.guard = guard
        self.locale = locale
        self.post = post
        self.timezone = timezone
        self.gate_name = gate_name
        self.gettext = gettext_for(locale)

    def say(self, refusal: BoothRefusal) -> str:
        """A refusal in the guard's language."""
        return refusal.message_zh if self.locale == "zh_CN" else refusal.message_en

    def values(self) -> dict[str, Any]:
        """The template variables every page has."""
        tz = self.timezone
        return {
            "error": None,
            "request": self.request, "guard": self.guard, "locale": self.locale,
            "locales": [(code, LOCALE_NAMES[code]) for code in LOCALES],
            "post": self.post, "_": self.gettext, "say": self.say,
            "gate_name": self.gate_name,
            "csrf": self.guard.csrf if self.guard is not None else "",
            "money": money,
            "local_time": lambda wall, seconds=False: local_time(wall, tz, seconds),
        }


def render(context: BoothContext, template: str, data: Mapping[str, Any] | None = None, *,
           status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page ``template`` filled with ``data`` and the page context."""
    html = ENV.get_template(template).render({**context.values(), **(data or {})})
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
