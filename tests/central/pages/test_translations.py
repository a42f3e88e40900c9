"""Every string a desk page shows has its Chinese: the marked strings of the pages' code and
templates, every enum value's name and every field label of every desk input."""

from __future__ import annotations

import enum

from central import models
from central.pages import catalog
from central.pages.enum_labels import LABELS
from central.pages.i18n import gettext_for


def test_every_page_string_has_chinese() -> None:
    gaps = catalog.missing("zh_CN")
    assert not gaps, ("strings without Chinese (python -m central.pages.catalog prints them "
                      f"as catalog entries): {gaps}")


def test_every_desk_input_field_has_a_label() -> None:
    assert not catalog.unlabelled_fields()


def test_no_string_is_translated_two_ways() -> None:
    assert not catalog.conflicts("zh_CN")


def test_the_check_sees_a_new_string() -> None:
    # The extraction really reads the templates: a string only they hold is found.
    assert "Find a unit, person, phone, card or plate" in catalog.marked_strings()
    assert "Holder's signature" in catalog.label_strings()


def test_every_enum_value_is_named() -> None:
    enums = [v for v in vars(models).values()
             if isinstance(v, type) and issubclass(v, enum.Enum)]
    unnamed = [f"{e.__name__}.{m.name}" for e in enums for m in e if m not in LABELS]
    assert not unnamed


def test_chinese_is_served_and_english_is_the_source() -> None:
    assert gettext_for("zh_CN")("Log in") == "登录"
    assert gettext_for("en")("Log in") == "Log in"
    assert gettext_for("fr")("Log in") == "登录"  # an unknown choice: the default
