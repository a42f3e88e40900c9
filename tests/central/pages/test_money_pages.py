"""The money pages in a real browser: a household's fees charged and paid with a receipt,
a card topped up with its new balance shown first, a receipt printed on A5 and on an 80 mm
roll (the PDF's paper size and text checked), a receipt voided with its corrected one by a
lead (not by a clerk), the card register and the receipts filtered and exported to XLSX."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader
from sqlalchemy import select

from central.models import Staff
from central.services.context import Actor
from central.services.fees import ChargeFee, PayFees, charge_fee, pay_fees
from central.services.resident_cards import IssueResidentCards, issue_resident_cards

from ..conftest import SITE, application, household_of, owner_line
from .conftest import RunningDesk, downloaded_sheet, log_in, log_in_as

MM = 72 / 25.4  # PDF points per millimetre
PAPER_MM = {"a5": (148, 210), "roll80": (80, 200)}
Shot = Callable[[Page, str], Path]


@dataclass(frozen=True)
class MoneySite:
    """What the module's desk holds before the journeys: 王建国's card (1-1201), a second
    card of his household, and one paid management fee (its receipt)."""

    household_id: int
    fee_receipt: int


def _actor(live: RunningDesk, username: str) -> Actor:
    with live.desk.sessions() as s:
        staff_id = s.scalars(select(Staff.id).where(Staff.username == username)).one()
    return Actor(staff_id, SITE)


@pytest.fixture(scope="module")
def site(live: RunningDesk) -> MoneySite:
    clerk = _actor(live, "clerk")
    desk = live.desk
    issue_resident_cards(desk, clerk, IssueResidentCards.from_form(application(
        desk, "王建国", [owner_line(desk, "04A1B2C3", "王建国")])))
    household = household_of(desk, "王建国")
    fee = charge_fee(desk, clerk, ChargeFee.from_form({
        "household_id": household, "kind": "management", "amount_yuan": "360.00",
        "due_on": "2026-06-30", "description": "2026 年 6 月物业费"}))
    number = pay_fees(desk, clerk, PayFees.from_form({
        "household_id": household, "fee_ids": [fee], "payer_name": "王建国"}))
    return MoneySite(household, number)


def test_a_fee_is_charged_then_paid_with_a_receipt(page: Page, live: RunningDesk,
                                                   site: MoneySite, shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/households/{site.household_id}/fees")
    expect(page.locator("h1")).to_contain_text("1-1201")
    # A fee with a bad amount comes back as typed, the problem beside it.
    form = page.locator("form.charge-form")
    form.locator("select[name=kind]").select_option("utilities")
    form.locator("input[name=amount_yuan]").fill("0")
    form.locator("input[name=due_on]").fill("2026-07-15")
    form.locator("input[name=description]").fill("6 月水电")
    form.locator("button[type=submit]").click()
    expect(page.locator("form.charge-form .field-error")).to_be_visible()
    expect(page.locator("form.charge-form input[name=description]")).to_have_value("6 月水电")
    page.locator("form.charge-form input[name=amount_yuan]").fill("85.50")
    page.locator("form.charge-form button[type=submit]").click()
    expect(page.locator(".done")).to_have_text("费用已登记。")
    expect(page.locator(".owed")).to_have_text("¥85.50")
    # Ticking fees shows what they come to before the money is taken.
    choice = page.locator("input.fee-choice").first
    choice.uncheck()
    expect(page.locator("#pay-total")).to_contain_text("¥0.00")
    choice.check()
    expect(page.locator("#pay-total")).to_contain_text("¥85.50")
    shot(page, "money-fees")
    page.locator("form.pay-form select[name=method]").select_option("mobile")
    page.locator("form.pay-form button[type=submit]").click()
    expect(page.locator(".done")).to_contain_text("已收款")
    expect(page.locator("h1")).to_contain_text("收据")
    expect(page.locator("main")).to_contain_text("缴费")
    expect(page.locator("main")).to_contain_text("¥85.50")
    expect(page.locator("main")).to_contain_text("捌拾伍元伍角")
    page.goto(f"{live.url}/households/{site.household_id}/fees")
    expect(page.locator("main")).to_contain_text("无欠费")


def test_a_card_top_up_shows_the_new_balance_before_the_money_is_taken(
        page: Page, live: RunningDesk, site: MoneySite, shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/cards/04a1b2c3/top-up")
    expect(page.locator("h1")).to_contain_text("04A1B2C3")
    expect(page.locator(".balance-now")).to_have_text("¥0.00")
    page.fill("input[name=amount_yuan]", "100")
    expect(page.locator(".balance-after")).to_have_text("¥100.00")
    expect(page.locator("input[name=payer_name]")).to_have_value("王建国")
    shot(page, "money-top-up")
    page.click("button[type=submit].primary")
    expect(page.locator(".done")).to_contain_text("充值完成")
    expect(page.locator(".balance-now")).to_have_text("¥100.00")
    page.fill("input[name=amount_yuan]", "50.5")
    expect(page.locator(".balance-after")).to_have_text("¥150.50")
    # The receipt names the card.
    page.click(".done a")
    expect(page.locator("main")).to_contain_text("卡充值")
    expect(page.locator("main")).to_contain_text("04A1B2C3")


def test_an_unknown_card_is_told_plainly(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    answer = page.goto(f"{live.url}/cards/0A0B0C0D/top-up")
    assert answer is not None and answer.status == 404
    expect(page.locator(".refusal")).to_contain_text("没有卡号 0A0B0C0D")


def _pdf(page: Page) -> PdfReader:
    return PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True, print_background=True)))


@pytest.mark.parametrize("paper", ["a5", "roll80"])
def test_a_receipt_prints_on_its_paper(page: Page, live: RunningDesk, site: MoneySite,
                                       shot: Shot, paper: str) -> None:
    width_mm, height_mm = PAPER_MM[paper]
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/receipts/{site.fee_receipt}")
    page.click(f"a[href$='print?paper={paper}']")
    expect(page.locator(".receipt-sheet h1")).to_have_text("收据")
    shot(page, f"money-receipt-print-{paper}")
    pdf = _pdf(page)
    assert len(pdf.pages) == 1
    box = pdf.pages[0].mediabox
    assert float(box.width) == pytest.approx(width_mm * MM, abs=1)
    assert float(box.height) == pytest.approx(height_mm * MM, abs=1)
    # Chromium's PDF maps some characters to their CJK radical look-alikes (⽇ for 日):
    # NFKC folds them back; the sheet spaces the title's letters out.
    text = "".join(unicodedata.normalize("NFKC", pdf.pages[0].extract_text()).split())
    for wanted in ("阳光花园", "收据", f"{site.fee_receipt:08d}", "王建国", "¥360.00",
                   "叁佰陆拾元整", "1-1201"):
        assert wanted in text, (wanted, text)
    # The desk's menu and buttons stay off the paper.
    assert "退出" not in text and "打印" not in text


def test_a_lead_voids_a_receipt_and_writes_the_corrected_one(
        page: Page, live: RunningDesk, site: MoneySite, shot: Shot) -> None:
    clerk = _actor(live, "clerk")
    fee = charge_fee(live.desk, clerk, ChargeFee.from_form({
        "household_id": site.household_id, "kind": "other", "amount_yuan": "50.00",
        "due_on": "2026-06-20", "description": "门禁卡押金"}))
    wrong = pay_fees(live.desk, clerk, PayFees.from_form({
        "household_id": site.household_id, "fee_ids": [fee], "payer_name": "王建国"}))
    # A clerk sees no void button, and the form itself is refused.
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/receipts/{wrong}")
    expect(page.locator("a.danger")).to_have_count(0)
    answer = page.goto(f"{live.url}/receipts/{wrong}/void")
    assert answer is not None and answer.status == 403
    log_in_as(page, live, "front-desk-lead")
    page.goto(f"{live.url}/receipts/{wrong}")
    page.click("a.danger")
    # A refused correction comes back as typed, the problem beside its field (I2: a card's
    # fee names the card).
    page.fill("input[name='corrected[0].amount_yuan']", "45.00")
    page.fill("input[name=reason]", "金额收错")
    page.select_option("select[name='corrected[0].item']", "card_fee")
    page.once("dialog", lambda d: d.accept())
    page.click("button.danger")
    expect(page.locator(".refusal")).to_be_visible()
    expect(page.locator(".field-error")).to_contain_text("I2")
    expect(page.locator("input[name='corrected[0].amount_yuan']")).to_have_value("45.00")
    page.select_option("select[name='corrected[0].item']", "fee_settlement")
    page.once("dialog", lambda d: d.accept())
    page.click("button.danger")
    expect(page.locator(".done")).to_contain_text("已作废")
    corrected = wrong + 1
    expect(page.locator("h1")).to_contain_text(str(corrected))
    expect(page.locator("main")).to_contain_text("¥45.00")
    page.click(f"a[href='/receipts/{wrong}']")
    expect(page.locator("h1")).to_contain_text("作废")
    expect(page.locator(".void-note")).to_contain_text("金额收错")
    expect(page.locator(".void-note")).to_contain_text(str(corrected))
    expect(page.locator("a.danger")).to_have_count(0)  # void once
    # The list shows both; the void filter finds the voided one only.
    page.goto(f"{live.url}/receipts")
    expect(page.locator("table.receipts tbody tr").first).to_contain_text(str(corrected))
    page.select_option("select[name=state]", "void")
    page.click(".filters button.primary")
    rows = page.locator("table.receipts tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(str(wrong))
    shot(page, "money-receipts-void")


def test_receipts_filtered_and_exported(page: Page, live: RunningDesk, site: MoneySite,
                                        shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/receipts")
    expect(page.locator("table.receipts tbody tr").first).to_be_visible()
    shot(page, "money-receipts")
    page.fill("input[name=unit]", "1-1201")
    page.select_option("select[name=item]", "fee_settlement")
    page.fill("input[name=since]", "2026-06-01")
    page.fill("input[name=until]", "2026-06-30")
    page.click(".filters button.primary")
    rows = page.locator("table.receipts tbody tr")
    expect(rows.first).to_contain_text("1-1201")
    shown = rows.count()
    assert shown >= 1
    for i in range(shown):
        expect(rows.nth(i)).to_contain_text("缴费")
    # A range that ends before it starts is told, beside the field.
    page.fill("input[name=until]", "2026-05-01")
    page.click(".filters button.primary")
    expect(page.locator(".field-error")).to_contain_text("结束日期早于开始日期")
    page.fill("input[name=until]", "2026-06-30")
    page.click(".filters button.primary")
    sheet = downloaded_sheet(page, "a[href^='/receipts.xlsx']")
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["收据号", "日期", "时间"]
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(body) == shown
    money_column = header.index("金额（元）") + 1
    cell = sheet.cell(row=2, column=money_column)
    assert isinstance(cell.value, int | float | Decimal) and cell.number_format == "#,##0.00"
    assert {row[header.index("房号")] for row in body} == {"1-1201"}
    assert isinstance(sheet.cell(row=2, column=2).value, date)
    # Site-local time: the desk's clock stands at 10:00 in Shanghai.
    assert sheet.cell(row=2, column=3).value.hour == 10


def test_the_register_filtered_and_exported(page: Page, live: RunningDesk, site: MoneySite,
                                            shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/register")
    first = page.locator("table.register tbody tr").first
    expect(first).to_contain_text("04A1B2C3")
    expect(first).to_contain_text("发卡")
    expect(first).to_contain_text("王建国")
    shot(page, "money-register")
    page.select_option("select[name=action]", "report_lost")
    page.click(".filters button.primary")
    expect(page.locator(".notice")).to_contain_text("没有符合条件的登记")
    page.select_option("select[name=action]", "issue")
    page.fill("input[name=card_uid]", "04:a1:b2:c3")
    page.fill("input[name=unit]", "1-1201")
    page.click(".filters button.primary")
    expect(page.locator("table.register tbody tr")).to_have_count(1)
    page.fill("input[name=card_uid]", "not a card")
    page.click(".filters button.primary")
    expect(page.locator(".field-error")).to_contain_text("不是有效的卡号")
    page.fill("input[name=card_uid]", "04A1B2C3")
    page.click(".filters button.primary")
    sheet = downloaded_sheet(page, "a[href^='/register.xlsx']")
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["日期", "时间", "业务", "卡号"]
    body = list(sheet.iter_rows(min_row=2, values_only=True))
    assert len(body) == 1
    assert body[0][2] == "发卡" and body[0][3] == "04A1B2C3" and body[0][4] == "王建国"
