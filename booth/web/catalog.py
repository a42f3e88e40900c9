"""Which booth page strings need a translation, and which have none.

The strings are those Babel's extractors find in the booth's code and templates (marked
``_("...")`` or ``N_("...")``), every part's. ``missing(locale)`` lists those no catalog of
the locale translates, ``conflicts(locale)`` those two catalogs translate differently;
``python -m booth.web.catalog`` prints the missing ones as catalog entries to paste into the
part's ``.po`` file (and exits 1 when there are any). The desk's pages have the same check
(central/pages/catalog.py); the booth keeps its own since it never imports the desk."""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from booth.web.i18n import catalog_files

BOOTH_DIR = Path(__file__).resolve().parents[1]
METHODS = [("web/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"web/templates/**.html": {"trim_blocks": "1", "lstrip_blocks": "1"}}


def marked_strings() -> dict[str, str]:
    """Every string marked in the booth's code and templates, with where it first is."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            BOOTH_DIR, method_map=METHODS, options_map=OPTIONS):
        text = message if isinstance(message, str) else message[0]
        found.setdefault(text, f"booth/{filename}:{lineno}")
    return found


def _translations(locale: str) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for path in catalog_files(locale):
        with path.open("rb") as fp:
            for message in read_po(fp, locale=locale):
                if message.id and isinstance(message.id, str) and message.string:
                    seen.setdefault(message.id, set()).add(str(message.string))
    return seen


def conflicts(locale: str) -> dict[str, set[str]]:
    """Strings that two of the locale's catalogs translate differently (gettext keeps one
    translation per string: one of them would silently lose)."""
    return {text: found for text, found in _translations(locale).items() if len(found) > 1}


def missing(locale: str) -> dict[str, str]:
    """The strings the booth's pages show that ``locale``'s catalogs do not translate."""
    done = _translations(locale)
    return {text: where for text, where in marked_strings().items() if text not in done}


def _po_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def main() -> int:
    """Print the untranslated strings of zh_CN as catalog entries."""
    gaps = missing("zh_CN")
    for text, where in gaps.items():
        print(f'#: {where}\nmsgid "{_po_text(text)}"\nmsgstr ""\n')
    clashes = conflicts("zh_CN")
    for text, found in clashes.items():
        print(f"# translated differently: {text!r}: {sorted(found)}", file=sys.stderr)
    return 1 if gaps or clashes else 0


if __name__ == "__main__":
    sys.exit(main())
