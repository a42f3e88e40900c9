"""Visitors (H7, G5), renovations (H6, G6) and goods release slips (G4) through the desk
pages in a real browser: each journey a test, every step a click or a typed value."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import segno
from playwright.sync_api import Locator, Page, expect

from central.pages.goods_slips import slip_qr_svg

from .conftest import RunningDesk, log_in_as

Shot = Callable[[Page, str], Path]


def choose(select: Locator, text: str) -> None:
    """Pick the option of ``select`` whose text contains ``text``, as a clerk would."""
    value = select.locator("option", has_text=text).first.get_attribute("value")
    assert value is not None
    select.select_option(value)


def done_number(page: Page) -> int:
    """The slip number in the success note."""
    text = page.locator(".done").inner_text()
    found = re.search(r"(\d+)", text)
    assert found, text
    return int(found.group(1))


def test_goods_slip_issued_approved_printed_with_a_qr_and_let_out_by_a_guard(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    log_in_as(page, live, "clerk")
    page.goto(live.url + "/goods-slips")
    page.click("text=开具放行条")
    page.fill("#unit", "1-1201")
    page.click("text=查找房屋")
    choose(page.locator("select[name=applicant_person_id]"), "王建国")
    page.fill("input[name=carrier_name]", "搬家公司 李师傅")
    page.fill("input[name=items]", "沙发一套，冰箱一台")
    page.click("button.primary")
    expect(page.locator(".done")).to_contain_text("已开具")
    number = done_number(page)
    row = page.locator(f"#slip-{number}")
    expect(row).to_contain_text("待审批")
    # A clerk sees no approval button: that is the customer-service lead's (G4).
    expect(row.locator("button")).to_have_count(0)

    log_in_as(page, live, "customer-service-lead")
    page.goto(live.url + "/goods-slips")
    page.locator(f"#slip-{number}").get_by_role("button", name="批准").click()
    expect(page.locator(".done")).to_contain_text("已审批")
    expect(page.locator(f"#slip-{number}")).to_contain_text("已审批")

    page.goto(f"{live.url}/goods-slips/{number}")  # where a household's page links
    expect(page.locator("h1")).to_contain_text("物品放行条")
    svg = page.locator("svg.slip-qr")
    expect(svg).to_be_visible()
    # The QR drawn on the page is the one of the slip's number: segno draws the same code
    # for the same text, and a different number would draw another.
    drawn = svg.evaluate("e => e.outerHTML")
    assert _modules(drawn) == _modules(slip_qr_svg(number))
    assert _modules(drawn) == _qr_path(str(number))
    assert _modules(drawn) != _qr_path(str(number + 1))
    shot(page, "goods-slip-print")

    log_in_as(page, live, "guard")
    page.goto(live.url + "/goods-slips")
    page.locator(f"#slip-{number}").get_by_role("link", name="放行").click()
    # Unchecked goods are refused and the form comes back with the rule.
    page.click("button.primary")
    expect(page.locator(".refusal")).to_contain_text("G4")
    page.check("input[name=items_match]")
    page.check("input[name=carrier_matches]")
    page.click("button.primary")
    expect(page.locator(".done")).to_contain_text("已放行")
    expect(page.locator(f"#slip-{number}")).to_contain_text("已出门")


def _modules(svg: str) -> str:
    """The QR's drawing (its path), whatever the SVG's attributes."""
    found = re.search(r' d="([^"]+)"', svg)
    assert found, svg
    return found.group(1)


def _qr_path(text: str) -> str:
    code = segno.make_qr(text, error="m")
    assert not code.is_micro
    return _modules(code.svg_inline(scale=6, border=4))


def test_goods_slip_for_a_tenant_without_the_owners_consent_is_refused(
        page: Page, live: RunningDesk) -> None:
    log_in_as(page, live, "clerk")
    page.goto(live.url + "/goods-slips/new?unit=1-1202")
    choose(page.locator("select[name=household_id]"), "赵磊")
    tenancy = page.locator("select[name=household_id]").input_value()
    page.goto(f"{live.url}/goods-slips/new?household={tenancy}")  # from the household page
    expect(page.locator("#unit")).to_have_value("1-1202")
    choose(page.locator("select[name=applicant_person_id]"), "赵磊")
    page.fill("input[name=carrier_name]", "赵磊")
    page.fill("input[name=items]", "书桌")
    page.click("button.primary")
    expect(page.locator(".refusal")).to_contain_text("G4")
    # What was typed stays.
    expect(page.locator("input[name=items]")).to_have_value("书桌")


def test_a_visitor_registered_shows_in_the_register_with_the_id_masked(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    log_in_as(page, live, "guard")
    page.goto(live.url + "/visitors")
    page.fill("input[name=name]", "周访客")
    page.click("button.primary")
    expect(page.locator(".refusal")).to_contain_text("G5")  # no ID shown: refused
    page.fill("input[name=name]", "周访客")
    page.fill("input[name=id_number]", "110101199003071234")
    page.fill("input[name=plate]", "粤B·12345")
    page.fill("input[name=items]", "水果一箱")
    page.select_option("select[name=gate_code]", "main-gate")
    page.click("button.primary")
    expect(page.locator(".done")).to_contain_text("已登记")
    row = page.locator("table.visitor-register tr", has_text="周访客")
    expect(row.locator(".id-number")).to_have_text("110***********1234")
    expect(page.locator("body")).not_to_contain_text("110101199003071234")
    expect(row).to_contain_text("小区大门")
    shot(page, "visitor-register")
    row.get_by_role("button", name="登记离开").click()
    expect(page.locator(".done")).to_contain_text("离开")
    expect(page.locator("table.visitor-register tr", has_text="周访客")
           .get_by_role("button")).to_have_count(0)


def test_a_visitor_pass_needs_the_inviting_residents_confirmation_and_a_permit_returns(
        page: Page, live: RunningDesk) -> None:
    log_in_as(page, live, "clerk")
    page.goto(live.url + "/visitors/pass?unit=1-101")
    page.fill("input[name='visitor.name']", "钱来宾")
    page.fill("input[name='visitor.id_number']", "440301199101011111")
    choose(page.locator("select[name=invited_by_person_id]"), "李明")
    page.click("button.primary")
    expect(page.locator(".refusal")).to_contain_text("H7")
    choose(page.locator("select[name='confirmation.person_id']"), "李明")
    page.select_option("select[name='confirmation.method']", "phone")
    page.fill("input[name='confirmation.confirmed_at']", "2026-06-09T09:55")
    page.click("button.primary")
    expect(page.locator(".done")).to_contain_text("临时通行证")
    expect(page.locator("body")).to_contain_text("440***********1111")

    page.goto(live.url + "/visitors/permit?unit=1-101")
    page.fill("input[name=plate]", "粤B·54321")
    choose(page.locator("select[name=host_person_id]"), "李明")
    page.fill("input[name=valid_until]", "2026-06-20")  # 12 days: more than seven (H7)
    page.click("button.primary")
    expect(page.locator(".refusal")).to_contain_text("H7")
    page.fill("input[name=valid_until]", "2026-06-12")
    page.click("button.primary")
    expect(page.locator(".done")).to_contain_text("停车证")
    permit = page.locator("table.parking-permits tr", has_text="粤B54321")
    permit.get_by_role("button").click()
    expect(page.locator(".done")).to_contain_text("归还")
    expect(page.locator("table.parking-permits tr", has_text="粤B54321")).to_have_count(0)


def test_renovation_filed_approved_extended_cards_lent_and_returned_deposit_refunded(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    log_in_as(page, live, "clerk")
    page.goto(live.url + "/renovations")
    page.get_by_role("link", name="装修登记").click()
    page.fill("#unit", "2-301")
    page.click("text=查找房屋")
    choose(page.locator("select[name=applicant_person_id]"), "刘洋")
    page.fill("input[name='contractor.name']", "美家装饰公司")
    page.fill("input[name='contractor.lead_name']", "黄工")
    page.fill("input[name='contractor.lead_phone']", "13900000009")
    page.click("button.primary")
    expect(page.locator(".done")).to_contain_text("备案")
    expect(page.locator("table.deposits")).to_contain_text("¥1,000.00")
    expect(page.locator("body")).to_contain_text("待管理处主任审批")
    filing_url = page.url.split("?")[0]
    # Not approved: no workers' cards yet, and no approval button for a clerk.
    expect(page.locator("#form-cards")).to_have_count(0)
    expect(page.get_by_role("button", name="审批通过")).to_have_count(0)

    log_in_as(page, live, "director")
    page.goto(filing_url)
    page.get_by_role("button", name="审批通过").click()
    expect(page.locator(".done")).to_contain_text("已审批")

    log_in_as(page, live, "clerk")
    page.goto(filing_url)
    old_end = page.locator(".facts").inner_text()
    page.locator("#form-extend button.primary").click()
    expect(page.locator(".done")).to_contain_text("延期至")
    assert page.locator(".facts").inner_text() != old_end

    cards = page.locator("#form-cards")
    cards.locator("input[name='lines[0].uid']").fill("04AA0001")
    cards.locator("input[name='lines[0].worker.name']").fill("施工甲")
    cards.locator("input[name='lines[0].worker.id_number']").fill("440301198801012222")
    cards.locator("input[name='lines[0].signoff.signer_name']").fill("施工甲")
    cards.locator("input[name='lines[1].uid']").fill("04AA0002")
    cards.locator("input[name='lines[1].worker.name']").fill("施工乙")
    cards.locator("input[name='lines[1].worker.id_number']").fill("440301198901013333")
    cards.locator("input[name='lines[1].signoff.signer_name']").fill("施工乙")
    cards.locator("button.primary").click()
    expect(page.locator(".done")).to_contain_text("已借出")
    workers = page.locator("table.workers")
    expect(workers).to_contain_text("04AA0001")
    expect(workers).to_contain_text("440***********2222")
    expect(page.locator("body")).not_to_contain_text("440301198801012222")
    shot(page, "renovation-filing")

    # A deposit is not refunded while a card is out (G6).
    refund = page.locator("#form-refund")
    choose(refund.locator("select[name=receipt_number]"), "刘洋")
    refund.locator("input[name='signoff.signer_name']").fill("刘洋")
    refund.locator("button.primary").click()
    expect(page.locator("#form-refund .refusal")).to_contain_text("G6")

    back = page.locator("#form-return")
    back.locator("input[name='signoff.signer_name']").fill("黄工")
    back.locator("button.primary").click()
    expect(page.locator(".done")).to_contain_text("收回")
    expect(page.locator("table.workers")).not_to_contain_text("未交还")

    refund = page.locator("#form-refund")
    choose(refund.locator("select[name=receipt_number]"), "刘洋")
    refund.locator("input[name='signoff.signer_name']").fill("刘洋")
    refund.locator("button.primary").click()
    expect(page.locator(".done")).to_contain_text("已退还")
    expect(page.locator("table.deposits")).to_contain_text("已退")
