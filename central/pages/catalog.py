"""Which page strings need a translation, and which have none.

The strings are those Babel's extractors find in the pages' code and templates (marked
``_("...")`` or ``N_("...")``) and the label of every field of every desk input
(central/form_fields.py ``label``), which the pages draw. ``missing(locale)`` lists those
the locale's catalogs do not translate; ``python -m central.pages.catalog`` prints them as
catalog entries to paste into the part's ``.po`` file (and exits 1 when there are any).
The extraction and the check are the booth's too (pages_shared/catalog_check.py).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import sys
import typing
from pathlib import Path
from typing import Any

import central
from central.form_input import FormInput, form_fields
from central.pages.field_labels import FIELD_LABELS, field_label
from central.pages.i18n import LOCALE_DIR
from pages_shared import catalog_check

PAGES_DIR = Path(__file__).parent


def marked_strings() -> dict[str, str]:
    """Every string marked in the pages' code and templates, with where it first is."""
    return catalog_check.marked_strings(PAGES_DIR, "templates/**.html", "central/pages/")


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


def conflicts(locale: str) -> dict[str, set[str]]:
    """Strings that two of the locale's catalogs translate differently."""
    return catalog_check.conflicts(LOCALE_DIR, locale)


def missing(locale: str) -> dict[str, str]:
    """The strings the pages show that ``locale``'s catalogs do not translate."""
    return catalog_check.missing({**label_strings(), **marked_strings()}, LOCALE_DIR, locale)


def main() -> int:
    """Print the untranslated strings of zh_CN as catalog entries, and the unlabelled fields."""
    status = catalog_check.report(missing("zh_CN"), conflicts("zh_CN"))
    unlabelled = unlabelled_fields()
    for name in unlabelled:
        print(f"# no label: {name}", file=sys.stderr)
    return 1 if status or unlabelled else 0


if __name__ == "__main__":
    sys.exit(main())
