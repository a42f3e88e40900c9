"""The visitors tab in the real browser: a visitor is registered (the ID shown masked once
saved, never in a URL) and signed out; a desk's pass pre-fills the form; a refused form
keeps what was typed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from booth.id_numbers import mask_id_number, resident_id_check_character
from sync.wire.booth_list import BoothVisitorPass
from tests.booth.booth_rig import booth_list
from tests.booth.pages.conftest import RunningBooth, sign_in_directly

BODY = "44030519850612003"
ID = BODY + resident_id_check_character(BODY)
SCREEN: ViewportSize = {"width": 1366, "height": 768}


def test_a_visitor_is_registered_masked_and_signed_out(
        booth: RunningBooth, page: Page, shot: Callable[[Page, str], Path],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # Everything the booth's process logs, the server's access log (every URL) included.
    access = logging.getLogger("uvicorn.access")
    monkeypatch.setattr(access, "propagate", True)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="uvicorn.access")
    page.set_viewport_size(SCREEN)
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/visitors")
    page.click("#register-visitor")
    page.fill("#name", "张三")
    page.fill("#id_number", ID[:17] + ("1" if ID[17] != "1" else "2"))
    page.fill("#host_unit", "1-1201")
    page.fill("#plate", "粤b·a1234")
    page.fill("#items", "水果一箱")
    page.check("input[name=host_confirm_method][value=phone]")
    page.fill("#host_confirmed_by", "李四")
    shot(page, "booth-visitor-form")
    page.click("button[type=submit].big")
    # Refused with the reason beside the field, nothing typed lost.
    expect(page.locator(".field-error")).to_contain_text("校验位不正确")
    expect(page.locator("#host_confirmed_by")).to_have_value("李四")
    expect(page.locator("#plate")).to_have_value("粤b·a1234")
    expect(page.locator("#items")).to_have_value("水果一箱")
    shot(page, "booth-visitor-form-refused")
    page.fill("#id_number", ID)
    page.click("button[type=submit].big")
    expect(page.locator(".notice")).to_contain_text(mask_id_number(ID))
    assert ID not in page.content() and ID not in page.url
    row = page.locator("#inside tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("粤BA1234")
    expect(row).to_contain_text("水果一箱")
    expect(row.locator(".id-masked")).to_have_text(mask_id_number(ID))
    shot(page, "booth-visitors-in")

    row.get_by_role("button", name="登记 张三 离开").click()
    expect(page.locator(".notice")).to_contain_text("已登记离开：张三")
    expect(page.locator("#inside")).to_have_count(0)
    expect(page.locator("#left tbody tr")).to_have_count(1)
    assert ID not in page.content()
    shot(page, "booth-visitors-left")
    (kind_in, data_in), (kind_out, _) = [(e.kind, e.data)
                                         for e in booth.service.store.journal.read()]
    assert (kind_in, kind_out) == ("visitor_in", "visitor_out")
    assert data_in["id_number"] == ID and data_in["guard"] == "wang.guard"
    assert "POST /visitors/new" in caplog.text  # the log was captured ...
    assert ID not in caplog.text and ID[:17] not in caplog.text  # ... and holds no ID


def test_a_desk_pass_prefills_the_form_and_a_pass_not_valid_today_is_refused(
        booth: RunningBooth, page: Page, shot: Callable[[Page, str], Path]) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    booth.rig.publish(booth_list(2, visitor_passes=(
        BoothVisitorPass(31, "赵访客", "3-0901", today, today + timedelta(days=2), False,
                         "粤B88888"),
        BoothVisitorPass(32, "钱访客", "3-0902", today + timedelta(days=1),
                         today + timedelta(days=2), True, None))))
    page.set_viewport_size(SCREEN)
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/visitors")
    expected = page.locator("#expected tbody tr")
    expect(expected).to_have_count(1)
    expect(expected).to_contain_text("住户未确认")
    shot(page, "booth-visitors-expected")
    page.fill("#visitor_pass", "32")
    page.click("#pass-lookup button")
    expect(page.locator(".refusal")).to_contain_text(
        f"此访客通行证自 {(today + timedelta(days=1)).isoformat()} 起才有效")
    expected.get_by_role("link", name="登记入园").click()
    expect(page.locator("#name")).to_have_value("赵访客")
    expect(page.locator("#host_unit")).to_have_value("3-0901")
    expect(page.locator("#plate")).to_have_value("粤B88888")
    expect(page.locator("#pass-info")).to_contain_text("住户尚未确认")
    # An unconfirmed pass cannot stand for the host's word: no such choice is offered.
    expect(page.locator("input[value=pass]")).to_have_count(0)
    shot(page, "booth-visitor-form-pass")
    page.fill("#id_number", ID)
    page.check("input[name=host_confirm_method][value=not_reached]")
    page.click("button[type=submit].big")
    expect(page.locator("#inside tbody tr")).to_contain_text("未联系上")
    assert booth.service.store.journal.read()[0].data["visitor_pass_id"] == 31
