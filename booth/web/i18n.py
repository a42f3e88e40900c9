"""The booth page's languages: Chinese (zh_CN) first, English selectable (a cookie).

Strings are written in English in the code and templates, marked ``_("...")`` (``N_`` where
only declared), and their Chinese is in ``locale/zh_CN/LC_MESSAGES/*.po``, one catalog per
part of the booth. ``tests/booth/test_translations.py`` fails when a marked string has no
Chinese. The same scheme as the desk pages (central/pages/i18n.py); the booth keeps its own
catalogs because it runs on a Pi at the gate, without the desk."""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

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


def catalog_files(locale: str) -> list[Path]:
    """The catalogs of ``locale``, in a stable order."""
    return sorted((LOCALE_DIR / locale / "LC_MESSAGES").glob("*.po"))


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The merged catalogs of ``locale`` (English: the source text itself)."""
    files = catalog_files(locale)
    if locale == "en" or not files:
        return gettext.NullTranslations()
    merged: Translations | None = None
    for path in files:
        with path.open("rb") as fp:
            catalog = read_po(fp, locale=locale)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        compiled.seek(0)
        part = Translations(compiled)
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    assert merged is not None
    return merged


def gettext_for(locale: str) -> Callable[[str], str]:
    """The ``_`` of ``locale``."""
    return translations(chosen_locale(locale)).gettext
