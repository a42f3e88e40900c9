"""The booth page's languages: Chinese (zh_CN) first, English selectable (a cookie).

Strings are written in English in the code and templates, marked ``_("...")`` (``N_`` where
only declared), and their Chinese is in ``locale/zh_CN/LC_MESSAGES/*.po``, one catalog per
part of the booth. ``tests/booth/test_translations.py`` fails when a marked string has no
Chinese. The same scheme as the desk pages (central/pages/i18n.py), read by the same code
(pages_shared/catalogs.py); the booth keeps its own catalogs because it runs on a Pi at the
gate, without the desk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pages_shared.catalogs import merged_translations

DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark only"
    """Mark ``message`` for translation where it is declared; translated where shown."""
    return message


def chosen_locale(value: str | None) -> str:
    """A supported locale: ``value`` if it is one, else the default."""
    return value if value in LOCALES else DEFAULT_LOCALE


def gettext_for(locale: str) -> Callable[[str], str]:
    """The ``_`` of ``locale``."""
    return merged_translations(LOCALE_DIR, chosen_locale(locale)).gettext
