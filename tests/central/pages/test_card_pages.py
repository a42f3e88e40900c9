"""Issuing cards and acting on them through the desk pages in a real browser: an owner's
card with the quota (I4) and fee (I2) shown before the clerk commits, then its receipt; a
staff card refused to a clerk in rule H4's words and issued by the front-desk lead; a lost
card (L1, its balance shown first) reviewed by the director and replaced (L2, I3); renew,
access groups, withdraw and format (I6)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from central.models import CardState, LossReport, Staff
from central.services.context import Actor
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.stored_value import TopUpCard, top_up_card

from ..conftest import SITE, application, card, groups_of, household_of, owner_line
from .conftest import RunningDesk, log_in, log_in_as

Shot = Callable[[Page, str], Path]


def _actor(live: RunningDesk, username: str) -> Actor:
    with live.desk.sessions() as s:
        staff_id = s.scalars(select(Staff.id).where(Staff.username == username)).one()
    return Actor(staff_id, SITE)


def _issue(live: RunningDesk, uid: str, name: str, applicant: str | None = None,
           relationship: str = "self") -> None:
    """A resident card issued at the desk beforehand (the journeys start from it)."""
    form = application(live.desk, applicant or name,
                       [owner_line(live.desk, uid, name, relationship)])
    issue_resident_cards(live.desk, _actor(live, "clerk"), IssueResidentCards.from_form(form))


def test_an_owner_card_shows_quota_and_fee_before_issue_then_its_receipt(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.click("nav.menu >> text=办卡")
    expect(page.locator("h1")).to_have_text("办卡")
    page.click(".tile >> text=住户")
    page.select_option("select[name=household]", str(household_of(live.desk, "王建国")))
    page.click("button[type=submit].primary")
    expect(page.locator("h1")).to_contain_text("1-1201")
    preview = page.locator("#issue-preview")
    # Before anything is typed: the quota (128.5 m² is under 130: 4) and the fee per card.
    expect(preview.locator(".quota-in-use")).to_have_text("0")
    expect(preview.locator(".quota")).to_contain_text("4")
    expect(preview.locator(".fee")).to_contain_text("¥20.00")

    page.select_option("select[name=applicant_person_id]", label="王建国")
    page.check("input[name=applicant_in_person]")
    page.fill("input[name='lines[0].uid']", "04 a1 b2 c3")
    page.select_option("select[name='lines[0].relationship']", "self")
    page.select_option("select[name='lines[0].holder_person_id']", label="王建国")
    page.fill("input[name='lines[0].id_number_presented']", "440301197503033456")
    page.fill("input[name='lines[0].holder_signoff.signer_name']", "王建国")
    page.fill("input[name='lines[0].holder_signoff.reference']", "登记表 p.3")
    # The preview follows the form: one card, its fee, what the household would hold.
    expect(preview.locator(".fee")).to_contain_text("1 × ¥20.00 = ¥20.00")
    expect(preview.locator(".quota-after")).to_contain_text("1")
    shot(page, "cards-issue-resident")

    page.click("button[name=step][value=issue]")
    # Money was taken: the desk goes to the receipt to print (the receipts' pages).
    expect(page).to_have_url(re.compile(r"/receipts/\d+\?done=issued$"))
    expect(page.locator(".done")).to_contain_text("请为缴款人打印收据")
    issued = card(live.desk, "04A1B2C3")
    assert issued.state is CardState.ACTIVE
    # The receipt printed from the browser, on A5: the card fee and the payer on it.
    page.click("a.button >> text=A5")
    expect(page.locator(".receipt-sheet")).to_contain_text("工本费")
    expect(page.locator(".receipt-sheet")).to_contain_text("¥20.00")
    pdf = page.pdf(prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")


def test_the_quota_is_shown_over_before_the_clerk_commits(
        page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    household = household_of(live.desk, "李明")
    page.goto(f"{live.url}/cards/issue/resident?household={household}&lines=5")
    for i in range(5):
        page.select_option(f"select[name='lines[{i}].relationship']", "friend")
    # 89.5 m² with a holder who is not a direct relative: at most 4 cards (I4).
    preview = page.locator("#issue-preview")
    expect(preview.locator(".quota-refusal")).to_contain_text("最多 4 张")
    expect(preview.locator(".quota")).to_contain_text("4")
    # Sent anyway, the issue refuses the same way and keeps what was typed.
    page.select_option("select[name=applicant_person_id]", label="李明")
    page.check("input[name=applicant_in_person]")
    for i in range(5):
        page.fill(f"input[name='lines[{i}].uid']", f"0A0B0C0{i}")
        page.fill(f"input[name='lines[{i}].new_holder.name']", f"朋友{i}")
        page.fill(f"input[name='lines[{i}].holder_signoff.signer_name']", f"朋友{i}")
    page.select_option("select[name='owner_confirmation.owner_person_id']", label="李明")
    page.select_option("select[name='owner_confirmation.method']", "phone")
    page.fill("input[name='owner_confirmation.confirmed_at']", "2026-06-09T09:50")
    page.click("button[name=step][value=issue]")
    expect(page.locator(".refusal").first).to_contain_text("I4")
    expect(page.locator("input[name='lines[4].uid']")).to_have_value("0A0B0C04")


def test_a_clerk_is_refused_a_staff_card_in_rule_h4s_words_and_the_lead_issues_it(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    log_in(page, live, "clerk")
    page.goto(live.url + "/cards/issue")
    staff_tile = page.locator(".tile.disabled")
    expect(staff_tile).to_contain_text("前台负责人或客服负责人")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.goto(live.url + "/cards/issue/staff")
    assert answer is not None and answer.status == 422
    expect(page.locator(".refusal")).to_contain_text(
        "内部员工IC卡的授权办理必须由前台负责人或客服负责人办理")
    expect(page.locator(".refusal .rule")).to_contain_text("H4")
    # The form posted anyway (its token from another page) is refused the same way.
    posted = page.request.post(live.url + "/cards/issue/staff",
                               form={"csrf": token or "", "uid": "04C0FFEE"})
    assert posted.status == 422 and "H4" in posted.text()

    log_in_as(page, live, "front-desk-lead")
    page.goto(live.url + "/cards/issue")
    page.click(".tile >> text=内部员工")
    expect(page.locator(".fee")).to_contain_text("免费")
    page.fill("input[name=uid]", "04C0FFEE")
    page.fill("input[name='new_holder.name']", "刘保安")
    page.fill("input[name='new_holder.organisation']", "安管部")
    page.fill("input[name=written_application_ref]", "员工申请 2026-07")
    page.fill("input[name='department_head.name']", "周经理")
    page.fill("input[name='holder_signoff.signer_name']", "刘保安")
    shot(page, "cards-issue-staff")
    page.click("button[type=submit].primary")
    # No money taken: the new card's page.
    expect(page).to_have_url(re.compile(r"/cards/04C0FFEE\?done=issued$"))
    assert card(live.desk, "04C0FFEE").state is CardState.ACTIVE


def test_lost_then_the_directors_review_then_the_replacement(
        page: Page, live: RunningDesk, shot: Shot) -> None:
    _issue(live, "04D00001", "李明")
    top_up_card(live.desk, _actor(live, "clerk"),
                TopUpCard.from_form({"uid": "04D00001", "amount_yuan": "35.50",
                                     "payer_name": "李明"}))
    log_in(page, live, "clerk")
    page.goto(live.url + "/cards/04d00001/report-lost")
    # L1: the balance comes first, before the form.
    balance = page.locator(".balance-first .balance-amount")
    expect(balance).to_have_text("¥35.50")
    assert page.evaluate(
        "document.querySelector('.balance-first').compareDocumentPosition("
        "document.querySelector('main form.stack')) & Node.DOCUMENT_POSITION_FOLLOWING")
    expect(page.locator("input[name=balance_shown_yuan]")).to_have_value("35.50")
    page.select_option("select[name=reporter_person_id]", label="李明")
    page.check("input[name=in_person]")
    page.fill("input[name='signoff.signer_name']", "李明")
    # Without the holder's agreement the card is not stopped (L1).
    page.click("button[type=submit].danger")
    expect(page.locator(".refusal")).to_contain_text("L1")
    expect(page.locator("input[name='signoff.signer_name']")).to_have_value("李明")
    shot(page, "cards-report-lost")
    page.check("input[name=holder_agrees]")
    page.click("button[type=submit].danger")
    expect(page).to_have_url(re.compile(r"/loss-reports\?done=reported"))
    row = page.locator("tr", has_text="04D00001")
    expect(row).to_contain_text("待审核")
    expect(row.locator("button")).to_have_count(0)  # a clerk does not review (L2)
    assert card(live.desk, "04D00001").state is CardState.LOST

    # Before the review the replacement is refused (L2).
    page.goto(live.url + "/cards/04D00001/replace")
    expect(page.locator(".replacement-preview")).to_contain_text("待审核")
    page.fill("input[name=new_uid]", "04D00002")
    page.fill("input[name=balance_checked_yuan]", "35.50")
    page.fill("input[name='signoff.signer_name']", "李明")
    page.click("button[type=submit].primary")
    expect(page.locator(".refusal")).to_contain_text("L2")

    log_in_as(page, live, "director")
    page.goto(live.url + "/loss-reports")
    row = page.locator("tr", has_text="04D00001")
    row.locator("input[name=note]").fill("申请书及操作记录已核")
    shot(page, "cards-loss-review-queue")
    row.locator("button[name=approved][value=true]").click()
    expect(page).to_have_url(re.compile(r"/loss-reports\?done=approved"))
    expect(page.locator("tr", has_text="04D00001")).to_contain_text("已批准")

    log_in_as(page, live, "clerk")
    page.goto(live.url + "/loss-reports")
    page.locator("tr", has_text="04D00001").locator("text=补办新卡").click()
    preview = page.locator(".replacement-preview")
    expect(preview).to_contain_text("已批准")
    expect(preview.locator(".fee")).to_contain_text("¥20.00")  # lost: never free (I3)
    page.fill("input[name=new_uid]", "04D00002")
    page.fill("input[name=balance_checked_yuan]", "35.50")
    page.fill("input[name='signoff.signer_name']", "李明")
    shot(page, "cards-replace")
    page.click("button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/receipts/\d+\?done=replaced$"))
    new = card(live.desk, "04D00002")
    assert new.state is CardState.ACTIVE and new.balance_fen == 3550
    with live.desk.sessions() as s:
        report = s.scalars(select(LossReport)).one()
        assert report.replacement_card_id == new.id


def test_renew_access_groups_withdraw_and_format(page: Page, live: RunningDesk) -> None:
    _issue(live, "04E00001", "王芳", applicant="李明", relationship="spouse")
    before = card(live.desk, "04E00001").valid_until
    assert before is not None
    page.on("dialog", lambda d: d.accept())
    log_in(page, live, "clerk")

    page.goto(live.url + "/cards/04E00001/renew")
    page.fill("input[name='signoff.signer_name']", "王芳")
    page.click("button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/cards/04E00001\?done=renewed$"))
    after = card(live.desk, "04E00001").valid_until
    assert after is not None and after > before

    page.goto(live.url + "/cards/04E00001/access-groups")
    expect(page.locator("input[name=access_groups][value=b1]")).to_be_checked()
    page.check("input[name=access_groups][value=carpark]")
    page.uncheck("input[name=access_groups][value=b1]")
    page.click("button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/cards/04E00001\?done=grants$"))
    assert groups_of(live.desk, "04E00001") == ["carpark", "common"]

    # Formatting an active card is fine by I6, but a withdrawn one is the usual path.
    page.goto(live.url + "/cards/04E00001/revoke")
    page.fill("input[name=reason]", "搬离")
    page.fill("input[name='signoff.signer_name']", "王芳")
    page.click("button[type=submit].danger")
    expect(page).to_have_url(re.compile(r"/cards/04E00001\?done=revoked$"))
    assert card(live.desk, "04E00001").state is CardState.REVOKED

    # The register is signed for every action (I1): without it the format is refused.
    page.goto(live.url + "/cards/04E00001/format")
    expect(page.locator(".card-facts")).to_contain_text("已收回")
    page.click("button[type=submit].danger")
    expect(page.locator(".refusal")).to_contain_text("I1")
    page.fill("input[name='signoff.signer_name']", "前台 张")
    page.click("button[type=submit].danger")
    expect(page).to_have_url(re.compile(r"/cards/04E00001\?done=formatted$"))
    formatted = card(live.desk, "04E00001")
    assert formatted.state is CardState.FORMATTED and formatted.holder_person_id is None
    assert groups_of(live.desk, "04E00001") == []


@pytest.mark.parametrize("username", ["guard", "admin"])
def test_the_loss_queue_is_refused_outside_the_desk(page: Page, live: RunningDesk,
                                                    username: str) -> None:
    log_in(page, live, username)
    answer = page.goto(live.url + "/loss-reports")
    assert answer is not None and answer.status == 403
    expect(page.locator(".refusal")).to_contain_text("无权")


def test_only_the_director_reviews(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "front-desk-lead")
    page.goto(live.url + "/loss-reports")
    expect(page.locator("main")).to_contain_text("只有管理处主任")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(live.url + "/loss-reports/1/review",
                               form={"csrf": token or "", "approved": "true"})
    assert answer.status == 403




def test_a_merchant_card_is_issued_against_its_fee(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    page.goto(live.url + "/cards/issue")
    page.click(".tile >> text=商户")
    expect(page.locator(".fee")).to_contain_text("¥20.00")
    page.fill("input[name=uid]", "04F00001")
    page.select_option("select[name=holder_person_id]", label="周静（好邻居便利店）")
    page.fill("input[name=seal_application_ref]", "盖章申请 2026-31")
    page.fill("input[name='shop_manager.name']", "周静")
    # The department head has not signed off: refused (H3), what was typed kept.
    page.fill("input[name='holder_signoff.signer_name']", "周静")
    page.click("button[type=submit].primary")
    expect(page.locator(".refusal")).to_contain_text("H3")
    expect(page.locator("input[name=seal_application_ref]")).to_have_value("盖章申请 2026-31")
    page.fill("input[name='department_head.name']", "吴部长")
    page.click("button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/receipts/\d+\?done=issued$"))
    assert card(live.desk, "04F00001").state is CardState.ACTIVE
