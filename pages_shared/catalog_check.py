"""Which of a page server's strings need a translation, and which have none.

The strings are those Babel's extractors find in a folder's Python code and Jinja templates
(marked ``_("...")`` or ``N_("...")``), plus whatever else the caller knows its pages draw
(the desk's field labels). ``missing`` lists those no catalog of the locale translates,
``conflicts`` those two catalogs translate differently, and ``report`` prints them as a
``python -m <server>.catalog`` command does: missing ones as catalog entries to paste into
a part's ``.po`` file."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from pages_shared.catalogs import catalog_files

# The templates are rendered with these, so their strings are extracted with them too.
TEMPLATE_OPTIONS = {"trim_blocks": "1", "lstrip_blocks": "1"}


def marked_strings(root: Path, templates: str, shown_as: str) -> dict[str, str]:
    """Every string marked in the ``.py`` files under ``root`` and its templates (the glob
    ``templates``, relative to ``root``), with where it first is (``shown_as`` + the path
    under ``root`` + the line)."""
    methods = [(templates, "jinja2.ext:babel_extract"), ("**.py", "python")]
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            root, method_map=methods, options_map={templates: TEMPLATE_OPTIONS}):
        text = message if isinstance(message, str) else message[0]
        found.setdefault(text, f"{shown_as}{filename}:{lineno}")
    return found


def translations_found(locale_dir: Path, locale: str) -> dict[str, set[str]]:
    """Each string the locale's catalogs translate, with every translation they give it
    (empty ones left out)."""
    seen: dict[str, set[str]] = {}
    for path in catalog_files(locale_dir, locale):
        with path.open("rb") as fp:
            for message in read_po(fp, locale=locale):
                if message.id and isinstance(message.id, str) and message.string:
                    seen.setdefault(message.id, set()).add(str(message.string))
    return seen


def conflicts(locale_dir: Path, locale: str) -> dict[str, set[str]]:
    """Strings that two of the locale's catalogs translate differently (gettext keeps one
    translation per string: one of them would silently lose)."""
    return {text: found for text, found in translations_found(locale_dir, locale).items()
            if len(found) > 1}


def missing(wanted: Mapping[str, str], locale_dir: Path, locale: str) -> dict[str, str]:
    """The strings of ``wanted`` (text -> where it is) that the locale's catalogs do not
    translate."""
    done = translations_found(locale_dir, locale)
    return {text: where for text, where in wanted.items() if text not in done}


def _po_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def report(gaps: Mapping[str, str], clashes: Mapping[str, set[str]]) -> int:
    """Print ``gaps`` as catalog entries (stdout) and ``clashes`` (stderr); the exit status:
    1 when there is any, else 0."""
    for text, where in gaps.items():
        print(f'#: {where}\nmsgid "{_po_text(text)}"\nmsgstr ""\n')
    for text, found in clashes.items():
        print(f"# translated differently: {text!r}: {sorted(found)}", file=sys.stderr)
    return 1 if gaps or clashes else 0
