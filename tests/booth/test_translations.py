"""Every string a booth page shows has its Chinese, in whichever part's catalog, and no
string is translated two ways by two parts' catalogs."""

from __future__ import annotations

from booth.web import catalog
from booth.web.i18n import gettext_for


def test_every_booth_string_has_chinese() -> None:
    gaps = catalog.missing("zh_CN")
    assert not gaps, ("strings without Chinese (python -m booth.web.catalog prints them as "
                      f"catalog entries for your part's .po file): {gaps}")


def test_no_string_is_translated_two_ways() -> None:
    assert not catalog.conflicts("zh_CN")


def test_the_check_sees_strings_of_the_code_and_the_templates() -> None:
    found = catalog.marked_strings()
    assert "Guard sign-in" in found  # only a template holds it
    assert found["Guard sign-in"].startswith("booth/web/templates/sign_in/")
    assert "Gates" in found  # the frame's tabs


def test_chinese_is_served_and_english_is_the_source() -> None:
    assert gettext_for("zh_CN")("Sign in") == "登录"
    assert gettext_for("en")("Sign in") == "Sign in"
    assert gettext_for("zh_CN")("The float is over %(limit)s yuan: pay it in to the service "
                                "centre") % {"limit": "600"} == "备用金超过600元，请交存服务中心"
