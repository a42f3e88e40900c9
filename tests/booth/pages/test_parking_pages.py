"""The booth's parking page in a real browser: a car enters by plate, exits paying the
tariff's fee, and the receipt shows (and prints on an 80 mm roll); a refused exit keeps
what was typed; a form posted twice is one charge."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from booth.parking_tariff import fee
from booth.web.guard_session import CSRF_FIELD, GUARD_COOKIE, cookie_value
from tests.booth.booth_rig import GUARDS, TARIFF, EarlierClock
from tests.booth.pages.conftest import RunningBooth, sign_in_directly

Shot = Callable[[Page, str], Path]
TZ = "Asia/Shanghai"


def enter_earlier(booth: RunningBooth, plate: str, seconds: float) -> str:
    """A car that entered ``seconds`` ago (through the service, its barrier opened)."""
    store = booth.service.store
    real = store.clock
    store.clock = EarlierClock(seconds)
    try:
        return booth.service.parking.enter(guard="wang.guard", gate="lane-barrier_entry",
                                           plate=plate, with_card=False,
                                           forced_reason="").stay.ticket_id
    finally:
        store.clock = real


def start_shift(booth: RunningBooth) -> None:
    """Wang takes over the post with 100 yuan."""
    booth.service.shifts.start("wang.guard", "王保安", 10000)


def test_a_car_enters_by_plate_and_exits_paying_the_tariffs_fee(
        booth: RunningBooth, page: Page, shot: Shot) -> None:
    start_shift(booth)
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/parking")
    expect(page.get_by_role("heading", name="入场")).to_be_visible()
    expect(page.get_by_role("heading", name="出场收费")).to_be_visible()
    page.get_by_label("车牌号", exact=True).fill("粤b 12345")
    page.get_by_role("button", name="放行入场").click()
    expect(page.locator("#entered")).to_contain_text("粤B12345")
    expect(page.locator("#entered")).to_contain_text("道闸已抬起")
    expect(page.locator("table.cars-in")).to_contain_text("粤B12345")
    shot(page, "booth-parking-entered")

    # The car we let in just now stays a few seconds; another came in 2 h 10 min ago.
    ticket = enter_earlier(booth, "粤B67890", 2 * 3600 + 10 * 60 + 30)
    page.goto(f"{booth.url}/parking")
    shot(page, "booth-parking-cars-in")
    page.get_by_label("车牌或临时卡号").fill("粤B67890")
    page.get_by_role("button", name="查询并收费").click()
    expect(page).to_have_url(re.compile(f"/parking/exit/{ticket}$"))
    stay = booth.service.parking.stay(ticket)
    assert stay is not None
    due = fee(stay.entered_at, time.time(), TARIFF, TZ).fen
    assert due > 0
    expect(page.locator("#fee-due")).to_have_text(f"¥{due // 100}.{due % 100:02d}")
    shot(page, "booth-parking-exit")

    page.get_by_label("实收现金（元）").fill("50")
    page.get_by_role("button", name="已收费：打印并放行").click()
    expect(page).to_have_url(re.compile(r"/parking/receipt/booth-east-000001\?opened=1$"))
    expect(page.locator("#receipt-no")).to_have_text("booth-east-000001")
    charge = booth.service.parking.receipt("booth-east-000001")
    assert charge is not None and charge.fee_fen == fee(stay.entered_at, charge.exited_at,
                                                        TARIFF, TZ).fen
    expect(page.locator("#receipt-fee")).to_have_text(
        f"¥{charge.fee_fen // 100}.{charge.fee_fen % 100:02d}")
    change = 5000 - charge.fee_fen
    expect(page.locator(".change-due")).to_contain_text(f"¥{change // 100}.{change % 100:02d}")
    expect(page.locator(".receipt")).to_contain_text("粤B67890")
    expect(page.locator(".receipt")).to_contain_text("王保安")
    expect(page.locator(".receipt")).to_contain_text("东门岗")
    expect(page.locator("#receipt-lane")).to_have_text("停车场出口")
    expect(page.get_by_role("button", name="打印收据")).to_be_visible()
    shot(page, "booth-parking-receipt")
    page.emulate_media(media="print")
    # Printed, only the receipt is left, at the roll's width (80 mm is about 302 px).
    expect(page.locator(".receipt-status")).to_be_hidden()
    expect(page.locator("header.top")).to_be_hidden()
    width = page.locator(".receipt").bounding_box()
    assert width is not None and width["width"] < 300
    shot(page, "booth-parking-receipt-print")
    shift = booth.service.shifts.require_current()
    assert booth.service.parking.cash_in_shift(shift.shift_id) == (1, charge.fee_fen)


def test_a_refused_exit_shows_the_reason_and_keeps_what_was_typed(
        booth: RunningBooth, page: Page, shot: Shot) -> None:
    start_shift(booth)
    ticket = enter_earlier(booth, "粤B55555", 3600 + 60)
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/parking/exit/{ticket}")
    page.get_by_label("实收现金（元）").fill("1")
    page.get_by_role("button", name="已收费：打印并放行").click()
    expect(page.locator(".field-error")).to_contain_text("实收金额不足")
    expect(page.get_by_label("实收现金（元）")).to_have_value("1")
    shot(page, "booth-parking-exit-refused")
    assert booth.service.parking.cars_in()[0].ticket_id == ticket


def test_a_forced_entry_without_a_reason_is_refused_on_the_form(
        booth: RunningBooth, page: Page) -> None:
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/parking")
    page.get_by_role("button", name="放行入场").click()
    expect(page.locator(".field-error")).to_contain_text("强制入场须填写原因")
    page.get_by_label("原因（强制入场：无车牌、不发卡时必填）").fill("车牌无法识别")
    page.get_by_role("button", name="放行入场").click()
    expect(page.locator("#entered")).to_contain_text("无牌车")


def test_a_pool_card_is_added_and_handed_out(booth: RunningBooth, page: Page,
                                             shot: Shot) -> None:
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/parking")
    page.get_by_label("卡号", exact=True).fill("t 001")
    page.get_by_role("button", name="加入卡池").click()
    expect(page.locator(".pool")).to_contain_text("T001")
    page.get_by_label("发临时卡").check()
    page.get_by_role("button", name="放行入场").click()
    expect(page.locator("#entered")).to_contain_text("请发卡 T001")
    expect(page.locator(".pool")).to_contain_text("在用")
    shot(page, "booth-parking-card-out")


def test_an_exit_form_posted_twice_is_one_charge_with_the_same_receipt(
        booth: RunningBooth) -> None:
    import httpx

    start_shift(booth)
    ticket = enter_earlier(booth, "粤B77777", 3600 + 60)
    guard = GUARDS[0]
    cookie = cookie_value(booth.service.secret, guard.username, guard.name, time.time())
    with httpx.Client(base_url=booth.url, cookies={GUARD_COOKIE: cookie}) as client:
        screen = client.get(f"/parking/exit/{ticket}").text
        fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', screen))
        form = {k: fields[k] for k in ("token", "ticket_id", "exited_at", "quoted_fen", "gate",
                                       CSRF_FIELD)}
        form["paid"] = "20"
        answers = [client.post("/parking/exit", data=form) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"].endswith("?opened=1")
    assert answers[1].headers["location"] == "/parking/receipt/booth-east-000001?opened=repeat"
    shift = booth.service.shifts.require_current()
    assert booth.service.parking.cash_in_shift(shift.shift_id)[0] == 1


def test_a_lost_ticket_pays_the_daily_cap_with_its_reason(booth: RunningBooth, page: Page,
                                                          shot: Shot) -> None:
    start_shift(booth)
    sign_in_directly(page, booth)
    page.goto(f"{booth.url}/parking")
    page.get_by_role("link", name="补票/遗失票（无入场记录）").click()
    page.get_by_label("车牌").fill("粤A99999")
    page.get_by_role("button", name="计算费用").click()
    expect(page.locator("#fee-due")).to_have_text("¥40.00")
    page.get_by_label("实收现金（元）").fill("40")
    page.get_by_role("button", name="已收费：打印并放行").click()
    expect(page.locator(".field-error")).to_contain_text("遗失票（无入场记录）须填写原因")
    page.get_by_label("补票原因").fill("临时卡丢失")
    page.get_by_role("button", name="已收费：打印并放行").click()
    expect(page.locator(".receipt")).to_contain_text("遗失票: 临时卡丢失")
    expect(page.locator(".receipt")).to_contain_text("粤A99999")
    expect(page.locator("#receipt-fee")).to_have_text("¥40.00")
    shot(page, "booth-parking-lost-ticket-receipt")
