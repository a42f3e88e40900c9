"""Which page strings need a translation, and which have none.

The strings are those Babel's extractors find in the pages' code and templates (marked
``_("...")`` or ``N_("...")``) and the label of every field of every desk input
(central/form_fields.py ``label``), which the pages draw. ``missing(locale)`` lists those
the locale's catalogs do not translate; ``python -m central.pages.catalog`` prints them as
catalog entries to paste into the part's ``.po`` file (and exits 1 when there are any).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
import typing
from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import central
from central.form_input import FormInput, form_fields
from central.pages.field_labels import FIELD_LABELS, field_label
from central.pages.i18n import catalog_files

PAGES_DIR = Path(__file__).parent
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"trim_blocks": "1", "lstrip_blocks": "1"}}


def marked_strings() -> dict[str, str]:
    """Every string marked in the pages' code and templates, with where it first is."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            PAGES_DIR, method_map=METHODS, options_map=OPTIONS):
        text = message if isinstance(message, str) else message[0]
        found.setdefault(text, f"central/pages/{filename}:{lineno}")
    return found


def desk_inputs() -> list[type[FormInput]]:
    """Every declared desk input (every module of ``central`` imported to find them)."""
    for info in pkgutil.walk_packages(central.__path__, "central."):
        if ".migrations" not in info.name:
            importlib.import_module(info.name)
    seen: list[type[FormInput]] = []
    stack: list[type[FormInput]] = [FormInput]
    while stack:
        for sub in stack.pop().__subclasses__():
            # A base class shared by inputs (not a dataclass itself) declares no fields.
            if sub not in seen and dataclasses.is_dataclass(typing.cast(Any, sub)):
                seen.append(sub)
                stack.append(sub)
    return sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


def unlabelled_fields() -> list[str]:
    """The fields of desk inputs that declare no label (``Input.field``)."""
    return [f"{cls.__module__}.{cls.__qualname__}.{f.key}" for cls in desk_inputs()
            for f in form_fields(cls) if not f.spec.label and f.key not in FIELD_LABELS]


def label_strings() -> dict[str, str]:
    """Every field label of every desk input, with the input that declares it."""
    found: dict[str, str] = {}
    for cls in desk_inputs():
        for f in form_fields(cls):
            found.setdefault(field_label(f), f"{cls.__module__}.{cls.__qualname__}")
    return found


def translated(locale: str) -> dict[str, str]:
    """The locale's translations from all its catalogs (empty ones left out)."""
    out: dict[str, str] = {}
    for path in catalog_files(locale):
        with path.open("rb") as fp:
            for message in read_po(fp, locale=locale):
                if message.id and isinstance(message.id, str) and message.string:
                    out[message.id] = str(message.string)
    return out


def conflicts(locale: str) -> dict[str, set[str]]:
    """Strings that two of the locale's catalogs translate differently (gettext has one
    translation per string: one of them would silently lose)."""
    seen: dict[str, set[str]] = {}
    for path in catalog_files(locale):
        with path.open("rb") as fp:
            for message in read_po(fp, locale=locale):
                if message.id and isinstance(message.id, str) and message.string:
                    seen.setdefault(message.id, set()).add(str(message.string))
    return {text: found for text, found in seen.items() if len(found) > 1}


def missing(locale: str) -> dict[str, str]:
    """The strings the pages show that ``locale``'s catalogs do not translate."""
    done = translated(locale)
    wanted = {**label_strings(), **marked_strings()}
    return {text: where for text, where in wanted.items() if text not in done}


def _po_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def main() -> int:
    """Print the untranslated strings of zh_CN as catalog entries."""
    gaps = missing("zh_CN")
    for text, where in gaps.items():
        print(f'#: {where}\nmsgid "{_po_text(text)}"\nmsgstr ""\n')
    for text, found in conflicts("zh_CN").items():
        print(f"# translated differently: {text!r}: {sorted(found)}", file=sys.stderr)
    unlabelled = unlabelled_fields()
    for name in unlabelled:
        print(f"# no label: {name}", file=sys.stderr)
    return 1 if gaps or unlabelled or conflicts("zh_CN") else 0


if __name__ == "__main__":
    sys.exit(main())
