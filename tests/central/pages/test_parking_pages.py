"""The car park through the desk pages in a real browser: a monthly parking application
with its documents (P1, refused plainly when one is missing), the owner unit's and the
director's approvals (P3, a clerk cannot approve), months paid with the new paid-until date
shown before the money is taken (P2), the emergency reserve spaces (P5), ending a
subscription, and the monthly report stamped by the desk, security and the director (P4)
and downloaded as an XLSX workbook that openpyxl opens."""

# Tests are named after the rule they pin (test_P1_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from central.models import Role, Staff
from central.services.context import Actor
from central.services.parking import ApplyParking, apply_parking

from ..conftest import SITE, Staffs, person
from ..helpers import documents, issue_wang
from .conftest import RunningDesk, downloaded_book, log_in, log_in_as

Shot = Callable[[Page, str], Path]
NEW_CARD = "04C0FFEE010203"


def fill_documents(page: Page, **leave_out: bool) -> None:
    """Rule P1's documents for 王建国, less those named."""
    docs = {"id_number_presented": "440301197503033456",
            "driving_licence_ref": "驾驶证 4403xx", "vehicle_licence_ref": "行驶证 粤B12345",
            "parking_agreement_ref": "车位使用协议 2026-061"}
    for key, value in docs.items():
        page.fill(f'[name="documents.{key}"]', "" if leave_out.get(key) else value)


def test_P5_a_named_vehicle_is_admitted_to_the_reserve_spaces_and_another_refused(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.goto(live.url + "/parking")
    page.click("text=地面紧急备用车位")
    page.fill('[name="plate"]', "粤B·888 88")
    page.select_option('[name="named_by"]', "owner_unit")
    page.fill('[name="named_by_name"]', "业主单位 行政部 林")
    page.click("text=登记指定车辆")
    expect(page.locator(".done")).to_contain_text("已登记")
    expect(page.locator("table.reserve-list")).to_contain_text("粤B88888")
    page.fill("#check-plate", "粤b88888")
    page.click("button:has-text('查询')")
    expect(page.locator("#reserve-verdict")).to_contain_text("可以停放")
    page.fill("#check-plate", "粤A00000")
    page.click("button:has-text('查询')")
    verdict = page.locator("#reserve-verdict .refusal")
    expect(verdict).to_contain_text("未经业主单位或管理处事先指定")
    expect(verdict.locator(".rule")).to_contain_text("P5")
    shot(page, "parking-reserve")


def test_ending_a_monthly_parking_card_keeps_its_doors(page: Page, live: RunningDesk) -> None:
    issue_wang(live.desk, _staff(live), uid="04E0D0E0")
    applied = apply_parking(live.desk, _staff(live).clerk, ApplyParking.from_form({
        "holder_person_id": person(live.desk, "王建国").id, "plate": "粤B 55555",
        "documents": documents(live.desk, "王建国"), "existing_uid": "04E0D0E0"}))
    log_in(page, live, "clerk")
    page.goto(f"{live.url}/parking/subscriptions/{applied.subscription_id}")
    expect(page.locator("h1")).to_contain_text("粤B55555")
    page.click("a.uid")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('终止停车月卡')")
    expect(page.locator(".done")).to_contain_text("门禁仍可使用")
    expect(page.locator(".notice")).to_contain_text("没有停车月卡")


def test_P1_P3_P2_P4_application_approval_top_up_and_the_signed_monthly_report(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    # The desk: the application, found by the unit, refused while a document is missing.
    log_in(page, live, "clerk")
    page.goto(live.url + "/parking")
    page.click("text=申请停车月卡")
    page.fill("#unit", "1栋1201")
    page.click("text=查找住户")
    page.select_option("#f-holder_person_id", str(person(live.desk, "王建国").id))
    page.fill('[name="plate"]', "粤B·12345")
    fill_documents(page, vehicle_licence_ref=True)
    page.fill('[name="new_uid"]', NEW_CARD.lower())
    page.fill('[name="holder_signoff.signer_name"]', "王建国")
    page.fill('[name="holder_signoff.reference"]', "登记簿 第12页 第3行")
    shot(page, "parking-application")
    page.click("text=提交申请")
    refusal = page.locator(".refusal")
    expect(refusal).to_contain_text("行驶证")
    expect(refusal.locator(".rule")).to_have_text("规则 P1")
    beside = page.locator(".field.has-error", has=page.locator(
        '[name="documents.vehicle_licence_ref"]'))
    expect(beside.locator(".field-error")).to_contain_text("行驶证")
    # What was typed is kept: only the missing document is filled in.
    expect(page.locator('[name="plate"]')).to_have_value("粤B·12345")
    expect(page.locator("#f-holder_person_id")).to_have_value(
        str(person(live.desk, "王建国").id))
    shot(page, "parking-application-refused")
    page.fill('[name="documents.vehicle_licence_ref"]', "行驶证 粤B12345")
    page.click("text=提交申请")
    expect(page.locator(".done")).to_contain_text("申请已登记")
    expect(page.locator(".done a")).to_contain_text("收据")  # the new card's fee
    subscription_url = page.url.split("?")[0]

    # No month can be paid before the approvals (P3): the preview says so, no pay button.
    page.goto(f"{live.url}/cards/{NEW_CARD}/parking/top-up")
    expect(page.locator("#preview .refusal")).to_contain_text("尚未经管理处主任审批")
    expect(page.locator("button:has-text('收款并开具收据')")).to_be_disabled()

    # The clerk records the owner unit's signature, and cannot approve.
    page.goto(subscription_url)
    page.fill('[name="signer_name"]', "业主单位 行政部 林")
    page.fill('[name="signed_at"]', "2026-06-09T09:30")
    page.fill('[name="reference"]', "车位使用申请表 2026-061")
    page.click("text=登记业主单位审批")
    expect(page.locator(".done")).to_contain_text("业主单位审批已登记")
    expect(page.locator(".notice")).to_contain_text("只有管理处主任")
    expect(page.locator('[name="fee_per_month_yuan"]')).to_have_count(0)

    # The director's queue.
    log_in_as(page, live, "director")
    page.goto(live.url + "/parking")
    page.click("text=审批队列")
    row = page.locator("table.parking-queue tr", has_text="粤B12345")
    expect(row).to_contain_text("王建国")
    shot(page, "parking-approval-queue")
    row.get_by_role("link", name="审批").click()
    page.fill('[name="fee_per_month_yuan"]', "300")
    page.select_option('[name="space_kind"]', "fixed")
    page.click("button:has-text('批准')")
    # A fixed space without its number: refused beside the field (P3).
    expect(page.locator(".refusal .rule")).to_have_text("规则 P3")
    page.select_option('[name="space_kind"]', "floating")
    page.click("button:has-text('批准')")
    expect(page.locator(".done")).to_contain_text("已审批")

    # Three months paid: the new paid-until date is shown before the money is taken.
    log_in_as(page, live, "clerk")
    page.goto(f"{live.url}/cards/{NEW_CARD}/parking/top-up")
    expect(page.locator("#new-paid-until")).to_have_text("2026-07-08")
    page.fill('[name="months"]', "3")
    expect(page.locator("#new-paid-until")).to_have_text("2026-09-08")
    expect(page.locator("#amount-due")).to_have_text("¥900.00")
    shot(page, "parking-top-up-preview")
    page.click("button:has-text('收款并开具收据')")
    expect(page.locator(".done")).to_contain_text("已收款")
    receipt = page.locator(".done a")
    expect(receipt).to_have_attribute("href", re.compile(r"^/receipts/\d+$"))
    expect(page.locator(".facts")).to_contain_text("2026-09-08")

    # The month is over: the desk totals, security adds the use, the director signs (P4).
    live.clock.advance(timedelta(days=23))  # 2 July
    log_in_as(page, live, "clerk")
    page.goto(live.url + "/parking")
    expect(page.locator("table.list")).to_contain_text("2026-09-08")
    shot(page, "parking-overview")
    page.click("text=停车费月统计表")
    expect(page).to_have_url(live.url + "/parking/reports/2026-06")
    page.click("button:has-text('统计收费')")
    expect(page.locator(".done")).to_contain_text("已统计")
    expect(page.locator("table.report-fees")).to_contain_text("¥900.00")
    log_in_as(page, live, "guard")
    page.click("nav.menu >> text=停车")
    page.click("text=停车费月统计表")
    page.click("button:has-text('从道闸记录填写使用情况')")
    expect(page.locator(".done")).to_contain_text("已从道闸记录填写")
    log_in_as(page, live, "director")
    page.goto(live.url + "/parking/reports/2026-06")
    page.fill('[name="note"]', "核对无误")
    page.click("button:has-text('签字确认')")
    expect(page.locator(".done")).to_contain_text("已签字")
    expect(page.locator(".report-steps")).to_contain_text("核对无误")
    shot(page, "parking-report")

    name, book = downloaded_book(page, "text=下载 XLSX")
    assert name == "parking-report-sunrise-garden-2026-06.xlsx"
    fees = [list(r) for r in book["Fees 停车费"].iter_rows(values_only=True)]
    paid = next(r for r in fees if r[2] == NEW_CARD)
    assert paid[4] == "粤B12345" and paid[6] == 3 and float(paid[9]) == 900.0
    signed = [list(r) for r in book["Sign-off 签字"].iter_rows(values_only=True)]
    assert any(r[0] == "管理处主任签字 director" and r[3] == "核对无误" for r in signed)


def _staff(live: RunningDesk) -> Staffs:
    """The accounts of the live desk as the service tests name them."""
    with live.desk.sessions() as session:
        ids = {role: staff_id for role, staff_id in session.execute(select(Staff.role, Staff.id))}
    return Staffs(**{role.value: Actor(ids[role], SITE) for role in Role})
