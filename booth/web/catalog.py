"""Which booth page strings need a translation, and which have none.

The strings are those Babel's extractors find in the booth's code and templates (marked
``_("...")`` or ``N_("...")``), every part's. ``missing(locale)`` lists those no catalog of
the locale translates, ``conflicts(locale)`` those two catalogs translate differently;
``python -m booth.web.catalog`` prints the missing ones as catalog entries to paste into the
part's ``.po`` file (and exits 1 when there are any). The check itself is the desk's too
(pages_shared/catalog_check.py); the booth keeps its own strings and catalogs."""

from __future__ import annotations

import sys
from pathlib import Path

from booth.web.i18n import LOCALE_DIR
from pages_shared import catalog_check

BOOTH_DIR = Path(__file__).resolve().parents[1]


def marked_strings() -> dict[str, str]:
    """Every string marked in the booth's code and templates, with where it first is."""
    return catalog_check.marked_strings(BOOTH_DIR, "web/templates/**.html", "booth/")


def conflicts(locale: str) -> dict[str, set[str]]:
    """Strings that two of the locale's booth catalogs translate differently."""
    return catalog_check.conflicts(LOCALE_DIR, locale)


def missing(locale: str) -> dict[str, str]:
    """The strings the booth's pages show that ``locale``'s catalogs do not translate."""
    return catalog_check.missing(marked_strings(), LOCALE_DIR, locale)


def main() -> int:
    """Print the untranslated strings of zh_CN as catalog entries."""
    return catalog_check.report(missing("zh_CN"), conflicts("zh_CN"))


if __name__ == "__main__":
    sys.exit(main())
