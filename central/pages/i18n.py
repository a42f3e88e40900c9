"""The desk pages' languages: Chinese (zh_CN) first, English selectable per account.

Page strings are written in English in the code and templates, marked ``_("...")`` (or
``N_("...")`` where the text is only declared, such as a form field's label), and found by
Babel's extractors; their Chinese is in the gettext catalogs under ``locale/zh_CN/
LC_MESSAGES/*.po``, one catalog per part of the desk so that parts are translated side by
side. English is the source text itself. ``tests/central/pages/test_translations.py`` fails
when a marked string has no Chinese.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pages_shared.catalogs import merged_translations

DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
# How each language names itself on the switch.
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for "mark only"
    """Mark ``message`` for translation without translating it here (it is translated where
    it is shown)."""
    return message


def chosen_locale(value: str | None) -> str:
    """A supported locale: ``value`` if it is one, else the default."""
    return value if value in LOCALES else DEFAULT_LOCALE


def gettext_for(locale: str) -> Callable[[str], str]:
    """The ``_`` of ``locale``."""
    return merged_translations(LOCALE_DIR, chosen_locale(locale)).gettext
