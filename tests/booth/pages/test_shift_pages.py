"""The shift page in the real browser: a guard starts a shift with the float typed in yuan
(a bad amount is refused on the form), hands over to the next guard who signs in on the same
form, a float over 600 raises the alarm (in the journal and as a banner on every page) until
cash is paid in to the desk, and the handover report prints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect

from tests.booth.booth_rig import GUARDS, PASSWORD
from tests.booth.pages.conftest import RunningBooth, sign_in_directly
from tests.booth.test_sign_in import events

WANG, LI = GUARDS[0], GUARDS[1]
BOOTH_SCREEN: ViewportSize = {"width": 1366, "height": 768}
BANNER = "备用金超过600元，请交存服务中心"


def start_shift(page: Page, booth: RunningBooth, yuan: str) -> None:
    """Start a shift on the page with ``yuan`` in the drawer."""
    page.goto(f"{booth.url}/shift")
    page.fill("#opening_float", yuan)
    page.get_by_role("button", name="确认接班").click()


def hand_over(page: Page, *, invoices: str, notes: str, to: str, password: str) -> None:
    """Fill the handover form (the next guard types their sign-in) and send it."""
    page.fill("#invoices", invoices)
    page.fill("#notes", notes)
    page.fill("#next_username", to)
    page.fill("#next_password", password)
    page.get_by_role("button", name="确认交接班").click()


def test_a_shift_starts_with_the_float_typed_in_yuan(booth: RunningBooth, page: Page) -> None:
    sign_in_directly(page, booth)
    start_shift(page, booth, "两百")
    expect(page.locator("#opening_float-error")).to_contain_text("不是有效金额")
    expect(page.locator("#opening_float")).to_have_value("两百")  # kept
    assert booth.service.shifts.current() is None
    page.fill("#opening_float", "200.50")
    page.get_by_role("button", name="确认接班").click()
    expect(page.get_by_text("已接班。")).to_be_visible()
    expect(page.locator("#float-now")).to_have_text("¥200.50")
    shift = booth.service.shifts.require_current()
    assert (shift.guard, shift.opening_float_fen) == (WANG.username, 20050)


def test_handover_with_both_guards_and_the_report_prints(
        booth: RunningBooth, page: Page, shot: Callable[[Page, str], Path]) -> None:
    page.set_viewport_size(BOOTH_SCREEN)
    sign_in_directly(page, booth)
    start_shift(page, booth, "300")
    expect(page.get_by_text("已接班。")).to_be_visible()
    first = booth.service.shifts.require_current().shift_id
    booth.service.shifts.add_cash_source(lambda sid: (4, 8000) if sid == first else (0, 0))
    page.reload()
    expect(page.locator("#float-now")).to_have_text("¥380.00")
    shot(page, "booth-shift")
    # Handing over to yourself is refused, what was typed is kept.
    hand_over(page, invoices="2", notes="3号岗亭灯不亮", to=WANG.username, password=PASSWORD)
    expect(page.locator("#next_username-error")).to_contain_text("不能交接给自己")
    expect(page.locator("#notes")).to_have_value("3号岗亭灯不亮")
    hand_over(page, invoices="2", notes="3号岗亭灯不亮", to=LI.username, password="wrong")
    expect(page.locator("#password-error")).to_have_text("用户名或密码错误")
    hand_over(page, invoices="2", notes="3号岗亭灯不亮", to=LI.username, password=PASSWORD)
    expect(page).to_have_url(f"{booth.url}/shift/report/{first}")
    # The screen is the next guard's now.
    expect(page.locator(".guard-name")).to_have_text(LI.name)
    report = page.locator("#report")
    for shown in (WANG.name, LI.name, "¥300.00", "4 笔, ¥80.00", "3号岗亭灯不亮", "东门岗",
                  "交班人签字", "接班人签字"):
        expect(report).to_contain_text(shown)
    expect(page.locator("#float-handed")).to_have_text("¥380.00")
    shot(page, "booth-shift-report")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.get_by_role("button", name="打印")).to_be_hidden()
    expect(report).to_be_visible()
    assert page.pdf(format="A4")[:5] == b"%PDF-"
    page.emulate_media(media="screen")
    page.goto(f"{booth.url}/shift")
    expect(page.locator("#current-shift h1")).to_contain_text(LI.name)
    expect(page.locator("#float-now")).to_have_text("¥380.00")
    handover = events(booth.service.config.events_db, "shift_handover")
    assert [(d["guard"], d["to_guard"], d["float_fen"], d["invoices"])
            for _k, d, _a in handover] == [(WANG.username, LI.username, 38000, 2)]
    assert events(booth.service.config.events_db, "float_over_limit") == []


def test_a_float_over_600_raises_the_alarm_until_paid_in(
        booth: RunningBooth, page: Page, shot: Callable[[Page, str], Path]) -> None:
    page.set_viewport_size(BOOTH_SCREEN)
    sign_in_directly(page, booth)
    start_shift(page, booth, "200")
    expect(page.get_by_text("已接班。")).to_be_visible()
    first = booth.service.shifts.require_current().shift_id
    booth.service.shifts.add_cash_source(lambda sid: (12, 50000) if sid == first else (0, 0))
    page.goto(f"{booth.url}/shift")
    hand_over(page, invoices="0", notes="", to=LI.username, password=PASSWORD)
    # The next shift opens with the 700 handed over.
    expect(page.locator("#float-alarm")).to_contain_text(BANNER)
    over = events(booth.service.config.events_db, "float_over_limit")
    assert [(d["float_fen"], d["limit_fen"], d["guard"], alarm) for _k, d, alarm in over] == [
        (70000, 60000, LI.username, 1)]
    page.goto(f"{booth.url}/shift")
    expect(page.locator("#float-alarm")).to_contain_text(BANNER)
    shot(page, "booth-shift-float-alarm")
    page.fill("#amount", "1000")
    page.get_by_role("button", name="记录交存").click()
    expect(page.locator("#amount-error")).to_contain_text("交存金额超过备用金")
    page.fill("#amount", "99.99")
    page.get_by_role("button", name="记录交存").click()
    expect(page.locator("#float-now")).to_have_text("¥600.01")
    expect(page.locator("#float-alarm")).to_be_visible()
    page.fill("#amount", "0.01")
    page.get_by_role("button", name="记录交存").click()
    expect(page.locator("#float-now")).to_have_text("¥600.00")
    expect(page.locator("#float-alarm")).to_have_count(0)
    assert [(d["guard"], d["amount_fen"]) for _k, d, _a in events(
        booth.service.config.events_db, "float_paid_in")] == [(LI.username, 9999),
                                                               (LI.username, 1)]


def test_another_guard_sees_the_shift_but_cannot_hand_it_over(booth: RunningBooth,
                                                              page: Page) -> None:
    booth.service.shifts.start(WANG.username, WANG.name, 10000)
    sign_in_directly(page, booth, LI.username)
    page.goto(f"{booth.url}/shift")
    expect(page.locator("#handover")).to_contain_text(f"当前是{WANG.name}的班次")
    expect(page.locator("#next_password")).to_have_count(0)
