"""The administrator's staff account pages in a real browser: creating an account that then
logs in, changing a role (the user's menu follows on their next page), setting a new
password (the user's sessions end), deactivating, the admin's own account protected, other
roles refused, and a company-wide account's site chooser."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect

from central.models import Role
from central.services.booth_list import booth_list
from central.services.staff import NewStaff, create_staff

from ..conftest import PASSWORD, load_second_site
from .conftest import RunningDesk, log_in

NEW_PASSWORD = "a fresh one at the desk"


@pytest.fixture
def other(browser: Browser) -> Iterator[Page]:
    """A second counter computer: another browser profile, for the account being managed."""
    c: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 860},
                                            locale="zh-CN", timezone_id="Asia/Shanghai")
    c.set_default_timeout(15_000)
    yield c.new_page()
    c.close()


def create_account(page: Page, live: RunningDesk, username: str, role: str = "clerk",
                   display_name: str = "") -> None:
    """The admin (logged in on ``page``) creates an account through the form."""
    page.goto(live.url + "/staff")
    page.click("text=新建账户")
    page.fill("input[name=username]", username)
    page.fill("input[name=display_name]", display_name or username)
    page.select_option("select[name=role]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    expect(page.locator(".done")).to_contain_text(f"账户 {username} 已创建")


def manage(page: Page, live: RunningDesk, username: str) -> None:
    """Open the account's page from the list."""
    page.goto(live.url + "/staff")
    page.locator(f"tr[data-username='{username}'] a[href^='/staff/']").click()
    expect(page.locator("h1")).to_contain_text(username)


def test_the_admin_creates_a_clerk_who_then_logs_in(
        page: Page, other: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    log_in(page, live, "admin")
    page.click("nav.menu >> text=员工账户")
    for each in Role:
        username = each.value.replace("_", "-")
        expect(page.locator(f"tr[data-username='{username}']")).to_have_count(1)
    clerk = page.locator("tr[data-username='clerk']")
    expect(clerk).to_contain_text("客服人员")
    expect(clerk).to_contain_text("阳光花园")
    expect(clerk).to_contain_text("从未登录")
    expect(page.locator("tr[data-username='admin']")).to_contain_text("本人")
    expect(page.locator("tr[data-username='admin']")).to_contain_text("2026-06-09 10:00")
    shot(page, "staff-list")

    page.click("text=新建账户")
    # The role select names the roles in Chinese; the site is the admin's own.
    role = page.locator("select[name=role]")
    expect(role.locator("option[value=clerk]")).to_have_text("客服人员")
    expect(role.locator("option[value=front_desk_lead]")).to_have_text("前台负责人")
    expect(page.locator("main select[name=site] option")).to_have_text(["阳光花园"])
    # Refused: a taken user name and a short password, each beside its field, as typed.
    page.fill("input[name=username]", "Li Na")
    page.fill("input[name=display_name]", "李娜")
    role.select_option("clerk")
    page.fill("input[name=password]", "short")
    page.click("button[type=submit].primary")
    expect(page.locator(".field.has-error")).to_have_count(2)
    expect(page.locator(".field:has(input[name=username]) .field-error")).to_contain_text(
        "小写字母")
    expect(page.locator(".field:has(input[name=password]) .field-error")).to_be_visible()
    # The first refused field has the cursor, marked invalid and tied to its message.
    expect(page.locator("input[name=username]")).to_be_focused()
    expect(page.locator("input[name=username]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("input[name=display_name]")).not_to_have_attribute("aria-invalid",
                                                                            "true")
    expect(page.locator("input[name=display_name]")).to_have_value("李娜")
    expect(role).to_have_value("clerk")
    shot(page, "staff-new")
    page.fill("input[name=username]", "clerk")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    expect(page.locator(".field:has(input[name=username]) .field-error")).to_contain_text(
        "已存在")

    page.fill("input[name=username]", "li.na")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    expect(page).to_have_url(re.compile(r"/staff\?done=created&who=\d+$"))
    expect(page.locator(".done")).to_contain_text("账户 li.na 已创建")
    expect(page.locator("tr[data-username='li.na']")).to_contain_text("李娜")

    log_in(other, live, "li.na")
    expect(other.locator(".who")).to_contain_text("李娜 · 客服人员")
    expect(other.locator("nav.menu")).to_contain_text("办卡")
    page.reload()
    expect(page.locator("tr[data-username='li.na']")).not_to_contain_text("从未登录")


def test_a_role_change_shows_in_the_users_menu_on_their_next_page(
        page: Page, other: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    log_in(page, live, "admin")
    create_account(page, live, "wang.fang")
    log_in(other, live, "wang.fang")
    expect(other.locator("nav.menu")).to_contain_text("办卡")
    expect(other.locator("nav.menu")).not_to_contain_text("门岗与道闸")

    manage(page, live, "wang.fang")
    expect(page.locator("select[name=role]")).to_have_value("clerk")
    shot(page, "staff-account")
    page.select_option("select[name=role]", "guard")
    page.click("form[action$='/role'] button[type=submit]")
    expect(page.locator(".done")).to_contain_text("wang.fang 的角色已改为安管员")
    expect(page.locator("tr[data-username='wang.fang']")).to_contain_text("安管员")

    other.reload()  # the same session, its next page
    expect(other.locator(".who")).to_contain_text("安管员")
    expect(other.locator("nav.menu")).to_contain_text("门岗与道闸")
    expect(other.locator("nav.menu")).not_to_contain_text("办卡")


def test_a_new_password_ends_the_users_sessions(
        page: Page, other: Page, live: RunningDesk) -> None:
    log_in(page, live, "admin")
    create_account(page, live, "zhao.lei")
    log_in(other, live, "zhao.lei")
    expect(other.locator(".who")).to_contain_text("zhao.lei")

    manage(page, live, "zhao.lei")
    page.fill("input[name=password]", "short")
    page.click("text=设置新密码")
    expect(page.locator(".field:has(input[name=password]) .field-error")).to_be_visible()
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("text=设置新密码")
    expect(page.locator(".done")).to_contain_text("已为 zhao.lei 设置新密码")

    other.reload()
    expect(other).to_have_url(f"{live.url}/login?next=%2F&why=ended")
    other.fill("input[name=username]", "zhao.lei")
    other.fill("input[name=password]", PASSWORD)
    other.click("button[type=submit].primary")
    expect(other.locator(".refusal")).to_contain_text("用户名或密码")
    log_in(other, live, "zhao.lei", NEW_PASSWORD)
    expect(other.locator(".who")).to_contain_text("zhao.lei")


def test_a_deactivated_account_is_logged_out_and_cannot_log_in(
        page: Page, other: Page, live: RunningDesk) -> None:
    log_in(page, live, "admin")
    create_account(page, live, "chen.jie")
    log_in(other, live, "chen.jie")

    manage(page, live, "chen.jie")
    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        if len(questions) == 1:
            dialog.dismiss()
        else:
            dialog.accept()
    page.on("dialog", answer)
    page.click("button.danger")  # asked, and the admin thinks again
    expect(page.locator("button.danger")).to_be_visible()
    other.reload()
    expect(other.locator(".who")).to_contain_text("chen.jie")

    page.click("button.danger")
    expect(page.locator(".done")).to_contain_text("chen.jie 已停用")
    assert questions == ["确定停用 chen.jie？该账户将立即退出登录，且不能再登录。"] * 2
    expect(page.locator("tr[data-username='chen.jie']")).to_contain_text("已停用")

    other.reload()
    expect(other).to_have_url(f"{live.url}/login?next=%2F&why=ended")
    other.fill("input[name=username]", "chen.jie")
    other.fill("input[name=password]", PASSWORD)
    other.click("button[type=submit].primary")
    expect(other.locator(".refusal")).to_contain_text("用户名或密码")
    manage(page, live, "chen.jie")
    expect(page.locator(".notice")).to_contain_text("此账户已停用")
    expect(page.locator("button.danger")).to_have_count(0)


def test_the_admin_cannot_demote_or_deactivate_themselves(
        page: Page, live: RunningDesk) -> None:
    log_in(page, live, "admin")
    manage(page, live, "admin")
    expect(page.locator(".notice")).to_contain_text("不能更改自己的角色")
    expect(page.locator("select[name=role]")).to_have_count(0)
    expect(page.locator("button.danger")).to_have_count(0)
    # Posted anyway (a page left open from before, another tab): the service refuses, said
    # plainly on the account's page.
    csrf = page.locator("header input[name=csrf]").first.get_attribute("value")
    admin_id = page.url.rsplit("/", 1)[1]
    for action, form, said in (
            ("role", {"role": "clerk"}, "不能更改自己的角色"),
            ("deactivate", {}, "不能停用自己的账户")):
        answer = page.request.post(f"{live.url}/staff/{admin_id}/{action}",
                                   form={"csrf": csrf or "", **form})
        assert answer.status == 409
        assert '<div class="refusal" role="alert">' in answer.text() and said in answer.text()
    page.goto(live.url + "/account")
    expect(page.locator(".who")).to_contain_text("系统管理员")


def test_other_roles_are_refused_the_staff_pages(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "director")
    expect(page.locator("nav.menu")).not_to_contain_text("员工账户")
    csrf = page.locator("header input[name=csrf]").first.get_attribute("value")
    answer = page.goto(live.url + "/staff")
    assert answer is not None and answer.status == 403
    expect(page.locator("h1")).to_have_text("无权办理")
    expect(page.locator(".refusal")).to_contain_text("管理处主任无权办理此业务；须由系统管理员办理")
    answer = page.goto(live.url + "/staff/1")
    assert answer is not None and answer.status == 403
    posted = page.request.post(f"{live.url}/staff/new", form={
        "csrf": csrf or "", "username": "sneaky", "role": "admin", "password": PASSWORD})
    assert posted.status == 403


def test_a_company_wide_admin_chooses_the_site_in_the_header(
        page: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    load_second_site(live.desk)
    create_staff(live.desk, NewStaff("head-office", "总部管理员", Role.ADMIN, PASSWORD))
    create_staff(live.desk, NewStaff("moon-clerk", "月光苑客服", Role.CLERK, PASSWORD,
                                     "moonlight-court"))
    # A site's own admin has nothing to choose, and does not see the other site's accounts.
    log_in(page, live, "admin")
    expect(page.locator("header select[name=site]")).to_have_count(0)
    page.goto(live.url + "/staff")
    expect(page.locator("tr[data-username='moon-clerk']")).to_have_count(0)
    page.click("text=退出")

    log_in(page, live, "head-office")
    chooser = page.locator("header select[name=site]")
    expect(chooser.locator("option")).to_have_text(["月光苑", "阳光花园"])
    expect(page.locator(".brand")).to_contain_text("月光苑")
    page.goto(live.url + "/staff")
    expect(page.locator("tr[data-username='moon-clerk']")).to_contain_text("月光苑")
    expect(page.locator("tr[data-username='head-office']")).to_contain_text("所有小区")
    chooser.select_option("sunrise-garden")
    page.click("header .site-choice button")
    expect(page).to_have_url(live.url + "/staff")  # back where it was
    expect(page.locator(".brand")).to_contain_text("阳光花园")
    expect(chooser).to_have_value("sunrise-garden")
    shot(page, "staff-company-wide")
    # A new account defaults to the chosen site; "every site" is offered to this admin.
    page.click("text=新建账户")
    expect(page.locator("main select[name=site]")).to_have_value("sunrise-garden")
    expect(page.locator("main select[name=site] option")).to_have_text(
        ["月光苑", "阳光花园", "所有小区（全公司）"])
    # A site it does not serve is refused.
    csrf = page.locator("header input[name=csrf]").first.get_attribute("value")
    refused = page.request.post(f"{live.url}/site", form={"csrf": csrf or "",
                                                          "site": "nowhere", "back": "/"})
    assert refused.status == 404


def test_the_admin_chooses_the_booths_a_guard_signs_in_at(
        page: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    def guards_at_east() -> list[str]:
        made = booth_list(live.desk, "sunrise-garden", "east-booth")
        assert made is not None
        return [g.username for g in made.guards]

    log_in(page, live, "admin")
    page.goto(live.url + "/staff/new")
    # The form says what a new guard gets.
    expect(page.locator(".booth-default")).to_contain_text("所有岗亭")
    create_account(page, live, "wang.bao", role="guard", display_name="王保安")
    assert "wang.bao" in guards_at_east()

    manage(page, live, "wang.bao")
    east = page.locator("input[name=booths][value='sunrise-garden/east-booth']")
    expect(page.locator(".booths h2")).to_have_text("岗亭")
    expect(page.locator(".booths label")).to_contain_text("东门岗")
    expect(page.locator(".booths label")).to_contain_text("小区大门")
    expect(east).to_be_checked()
    shot(page, "staff-guard-booths")
    east.uncheck()
    page.click(".booths button[type=submit]")
    expect(page.locator(".done")).to_contain_text("wang.bao 的岗亭已保存")
    assert "wang.bao" not in guards_at_east()
    manage(page, live, "wang.bao")
    expect(east).not_to_be_checked()
    east.check()
    page.click(".booths button[type=submit]")
    expect(page.locator(".done")).to_contain_text("wang.bao 的岗亭已保存")
    assert "wang.bao" in guards_at_east()

    # A clerk signs in at no booth: their page has no booth form.
    manage(page, live, "clerk")
    expect(page.locator(".booths")).to_have_count(0)


def test_a_company_admin_lends_a_clerk_to_another_site_as_its_director(
        page: Page, other: Page, live: RunningDesk,
        shot: Callable[[Page, str], Path]) -> None:
    load_second_site(live.desk)
    create_staff(live.desk, NewStaff("hq-lender", "总部人事", Role.ADMIN, PASSWORD))
    create_staff(live.desk, NewStaff("li.kefu", "李客服", Role.CLERK, PASSWORD,
                                     "sunrise-garden"))
    # A clerk of one site: no chooser, no gates in the menu.
    log_in(other, live, "li.kefu")
    expect(other.locator("header select[name=site]")).to_have_count(0)
    expect(other.locator("nav.menu a[href='/gates']")).to_have_count(0)

    log_in(page, live, "hq-lender")
    manage(page, live, "li.kefu")
    panel = page.locator(".site-roles")
    expect(panel.locator("h2")).to_have_text("在其他小区的角色")
    expect(panel.locator("select[name=site] option")).to_have_text(["月光苑"])
    panel.locator("select[name=role]").select_option("director")
    panel.locator("button[type=submit].primary").click()
    expect(page.locator(".done")).to_contain_text("已保存 li.kefu 在其他小区的角色")
    expect(page.locator("tr[data-username='li.kefu']")).to_contain_text("月光苑：管理处主任")
    manage(page, live, "li.kefu")
    expect(page.locator("dd.site-roles")).to_have_text("月光苑：管理处主任")
    shot(page, "staff-site-roles")

    # Their next page: their own site first, as a clerk; at the other site, its director.
    other.reload()
    chooser = other.locator("header select[name=site]")
    expect(chooser.locator("option")).to_have_text(["月光苑", "阳光花园"])
    expect(other.locator(".brand")).to_contain_text("阳光花园")
    expect(other.locator("header a[href='/account']")).to_contain_text("客服人员")
    expect(other.locator("nav.menu a[href='/gates']")).to_have_count(0)
    chooser.select_option("moonlight-court")
    other.click("header .site-choice button")
    expect(other.locator(".brand")).to_contain_text("月光苑")
    expect(other.locator("header a[href='/account']")).to_contain_text("管理处主任")
    expect(other.locator("nav.menu a[href='/gates']")).to_have_count(1)
    shot(other, "staff-site-roles-lent")

    # Taken back: the other site is no longer theirs, their own is as before.
    manage(page, live, "li.kefu")
    page.locator(".site-roles tr[data-site='moonlight-court'] button").click()
    expect(page.locator(".done")).to_contain_text("li.kefu")
    other.goto(live.url + "/")
    expect(other.locator(".brand")).to_contain_text("阳光花园")
    expect(other.locator("header select[name=site]")).to_have_count(0)
    expect(other.locator("nav.menu a[href='/gates']")).to_have_count(0)
