"""A locale folder's gettext catalogs: ``<locale_dir>/<locale>/LC_MESSAGES/*.po``, one per part
of a page server so that parts are translated side by side, read from their ``.po`` text and
merged into the one translation the pages use. The pages' strings are written in English:
English is the source text itself, never a catalog."""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

SOURCE_LOCALE = "en"


def catalog_files(locale_dir: Path, locale: str) -> list[Path]:
    """The catalogs of ``locale`` under ``locale_dir``, in a stable order."""
    return sorted((locale_dir / locale / "LC_MESSAGES").glob("*.po"))


@cache
def merged_translations(locale_dir: Path, locale: str) -> gettext.NullTranslations:
    """Every catalog of ``locale`` under ``locale_dir`` merged into one translation (English,
    or a locale without catalogs: the source text itself). Compiled in memory, so no ``.mo``
    file is kept beside the ``.po``; once per folder and locale."""
    if locale == SOURCE_LOCALE:
        return gettext.NullTranslations()
    merged: Translations | None = None
    for path in catalog_files(locale_dir, locale):
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
    return merged if merged is not None else gettext.NullTranslations()
