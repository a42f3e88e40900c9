"""The goods tab in the real browser: a slip scanned (typed with Enter, as a scanner does)
is checked and let out; a second use is refused with the reason; a long-term pass is used
with the items typed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, ViewportSize, expect

from sync.wire.booth_list import BoothGoodsPass, BoothSlip
from tests.booth.booth_rig import booth_list
from tests.booth.pages.conftest import RunningBooth, sign_in_directly

SCREEN: ViewportSize = {"width": 1366, "height": 768}


def test_a_slip_is_let_out_and_a_second_use_is_refused(
        booth: RunningBooth, page: Page, shot: Callable[[Page, str], Path]) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    booth.rig.publish(booth_list(2, slips=(
        BoothSlip(5001, "1-1201", "张三", "旧沙发一张、纸箱三个", today, True, "open"),
        BoothSlip(5002, "1-1202", "李四", "冰箱", today, False, "open"))))
    page.set_viewport_size(SCREEN)
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/goods")
    expect(page.locator("#number")).to_be_focused()
    shot(page, "booth-goods-scan")
    page.keyboard.type("5001\n")  # what a scanner does in the focused field
    expect(page.locator("#slip-items")).to_have_text("旧沙发一张、纸箱三个")
    expect(page.locator("#slip-unit")).to_have_text("1-1201")
    # The exits by the names the desk gives them; the form still posts the device id.
    expect(page.locator("#gate option")).to_have_text(["1栋大堂门", "停车场入口", "停车场出口"])
    expect(page.locator("#gate option").first).to_have_attribute("value", "door-1")
    page.check("input[name=items_match]")
    page.click("#let-out button[type=submit]")
    expect(page.locator(".field-error")).to_contain_text("搬出人")
    expect(page.locator("input[name=items_match]")).to_be_checked()
    page.check("input[name=carrier_matches]")
    shot(page, "booth-goods-slip")
    page.click("#let-out button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("放行条 5001 已于")
    expect(page.locator("#out-today tbody tr")).to_have_count(1)
    expect(page.locator("#out-today tbody tr")).to_contain_text("王保安")
    expect(page.locator("#out-today tbody tr")).to_contain_text("1栋大堂门")
    expect(page.locator(".notice")).to_contain_text("1栋大堂门")
    shot(page, "booth-goods-let-out")

    page.fill("#number", "5001")
    page.keyboard.press("Enter")
    expect(page.locator("#goods-refusal")).to_contain_text("此放行条已使用")
    expect(page.locator("#goods-refusal")).to_contain_text("从 1栋大堂门 放行")
    page.fill("#number", "5002")
    page.keyboard.press("Enter")
    expect(page.locator("#goods-refusal")).to_contain_text("放行条未经审批")
    expect(page.locator("#refused-today tbody tr")).to_have_count(2)
    shot(page, "booth-goods-refused")
    kinds = [(e.kind, e.data.get("reason")) for e in booth.service.store.journal.read()]
    assert kinds == [("goods_slip_out", None), ("goods_slip_refused", "used"),
                     ("goods_slip_refused", "not_approved")]


def test_a_long_term_pass_is_used_with_its_items(
        booth: RunningBooth, page: Page, shot: Callable[[Page, str], Path]) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    booth.rig.publish(booth_list(2, goods_passes=(
        BoothGoodsPass(12, "周**", "2-0101", today - timedelta(days=30),
                       today + timedelta(days=300), False),
        BoothGoodsPass(13, "吴**", "2-0102", today - timedelta(days=400),
                       today - timedelta(days=35), False))))
    page.set_viewport_size(SCREEN)
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/goods?tab=passes")
    expect(page.locator("#passes tbody tr")).to_have_count(2)
    shot(page, "booth-goods-passes")
    page.locator("#passes tbody tr").first.get_by_role("button", name="放行").click()
    expect(page.locator("#pass-unit")).to_have_text("2-0101")
    page.fill("#items", "纸箱三个")
    page.click("#use-pass button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("纸箱三个")
    page.goto(f"{booth.url}/goods")
    expect(page.locator("#number")).to_be_focused()
    page.keyboard.type("L13\n")
    expect(page.locator("#goods-refusal")).to_contain_text("已于")
    expect(page.locator("#goods-refusal")).to_contain_text("到期")
