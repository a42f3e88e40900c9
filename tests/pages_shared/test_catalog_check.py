"""The shared catalog check over a locale folder of its own: two parts' catalogs merged into
one translation, a string no catalog translates reported missing, a string two catalogs
translate differently reported as a conflict, and the report's exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from pages_shared import catalog_check
from pages_shared.catalogs import merged_translations


def _catalog(locale_dir: Path, part: str, entries: dict[str, str]) -> None:
    folder = locale_dir / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f'msgid "{k}"\nmsgstr "{v}"\n\n' for k, v in entries.items())
    (folder / f"{part}.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n' + body, "utf-8")


def test_catalogs_are_merged_and_english_is_the_source(tmp_path: Path) -> None:
    _catalog(tmp_path, "gates", {"Open": "放行"})
    _catalog(tmp_path, "shift", {"Handover": "交接班"})
    chinese = merged_translations(tmp_path, "zh_CN")
    assert chinese.gettext("Open") == "放行"
    assert chinese.gettext("Handover") == "交接班"
    assert merged_translations(tmp_path, "en").gettext("Open") == "Open"
    assert merged_translations(tmp_path / "none", "zh_CN").gettext("Open") == "Open"


def test_missing_and_conflicting_strings_are_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _catalog(tmp_path, "gates", {"Open": "放行"})
    _catalog(tmp_path, "visitors", {"Open": "打开"})
    wanted = {"Open": "web/gates.py:1", "Leave": 'web/visitors.py:2'}
    gaps = catalog_check.missing(wanted, tmp_path, "zh_CN")
    assert gaps == {"Leave": "web/visitors.py:2"}
    clashes = catalog_check.conflicts(tmp_path, "zh_CN")
    assert clashes == {"Open": {"放行", "打开"}}
    assert catalog_check.report(gaps, clashes) == 1
    printed = capsys.readouterr()
    assert '#: web/visitors.py:2\nmsgid "Leave"\nmsgstr ""' in printed.out
    assert "translated differently: 'Open'" in printed.err
    assert catalog_check.report({}, {}) == 0


def test_marked_strings_come_from_code_and_templates(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "page.html").write_text("<p>{{ _('Sign in') }}</p>\n", "utf-8")
    (tmp_path / "pages.py").write_text("TITLE = N_('Gates')\n", "utf-8")
    found = catalog_check.marked_strings(tmp_path, "templates/**.html", "booth/web/")
    assert found == {"Sign in": "booth/web/templates/page.html:1",
                     "Gates": "booth/web/pages.py:1"}
