"""Logging in and out of the desk pages in a real browser: Chinese first, English per
account, the session cookie out of scripts' reach, forms refused without their CSRF token,
an unattended counter logged out, every asset served by the desk itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from ..conftest import PASSWORD
from .conftest import RunningDesk, log_in, running_desk


def test_login_in_chinese_and_a_wrong_password_is_told_plainly(
        page: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    page.goto(live.url + "/")
    expect(page).to_have_url(f"{live.url}/login?next=%2F")
    expect(page.locator("h1")).to_have_text("门卫 · 前台")
    shot(page, "login")
    page.fill("input[name=username]", "clerk")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit].primary")
    expect(page.locator(".refusal")).to_contain_text("用户名或密码")
    # What was typed stays, the password does not.
    expect(page.locator("input[name=username]")).to_have_value("clerk")
    expect(page.locator("input[name=password]")).to_have_value("")


def test_a_clerk_logs_in_and_sees_the_desk_menu_of_their_role(
        page: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    log_in(page, live, "clerk")
    expect(page).to_have_url(live.url + "/")
    menu = page.locator("nav.menu")
    expect(menu).to_contain_text("办卡")
    expect(menu).not_to_contain_text("员工账户")  # accounts are the admin's
    expect(page.locator(".who")).to_contain_text("客服人员")
    shot(page, "home")


def test_the_admin_sees_accounts_and_not_the_desk_work(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "admin")
    menu = page.locator("nav.menu")
    expect(menu).to_contain_text("员工账户")
    expect(menu).not_to_contain_text("办卡")


def test_the_session_cookie_is_out_of_scripts_reach(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    cookie = next(c for c in page.context.cookies() if c["name"] == "menwei_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("menwei_session") == -1


def test_pages_carry_a_content_security_policy(live: RunningDesk) -> None:
    answer = httpx.get(live.url + "/login")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert answer.headers["x-frame-options"] == "DENY"
    assert "no-store" in answer.headers["cache-control"]


def test_a_form_without_its_csrf_token_is_refused(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    # The browser's own cookies, a form with no token: as a forged form would arrive.
    answer = page.request.post(live.url + "/logout", form={"csrf": "forged"})
    assert answer.status == 403
    assert "页面已过期" in answer.text()
    page.goto(live.url + "/account")
    expect(page.locator("h1")).to_have_text("我的账户")  # still logged in


def test_logging_out_ends_the_session(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "menwei_session")
    page.click("text=退出")
    expect(page.locator(".notice")).to_have_text("您已退出登录。")
    # The old cookie, replayed, opens nothing.
    answer = httpx.get(live.url + "/account", cookies={"menwei_session": token},
                       follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


@pytest.fixture
def idle_desk(tmp_path: Path, desk_db_url: str) -> Iterator[RunningDesk]:
    with running_desk(tmp_path, desk_db_url, page_idle_timeout=timedelta(minutes=15)) \
            as running:
        yield running


def test_an_unattended_counter_is_logged_out(page: Page, idle_desk: RunningDesk) -> None:
    log_in(page, idle_desk, "clerk")
    idle_desk.clock.advance(timedelta(minutes=10))
    page.goto(idle_desk.url + "/account")
    expect(page.locator("h1")).to_have_text("我的账户")  # a click keeps it alive
    idle_desk.clock.advance(timedelta(minutes=14))
    page.goto(idle_desk.url + "/account")
    expect(page.locator("h1")).to_have_text("我的账户")
    idle_desk.clock.advance(timedelta(minutes=16))
    page.goto(idle_desk.url + "/account")
    expect(page).to_have_url(f"{idle_desk.url}/login?next=%2Faccount&why=idle")
    expect(page.locator(".notice")).to_contain_text("长时间未操作")


def test_english_is_chosen_per_account(browser: Browser, live: RunningDesk,
                                       shot: Callable[[Page, str], Path]) -> None:
    first = browser.new_context()
    page = first.new_page()
    log_in(page, live, "director")
    page.click("button[name=locale][value=en]")
    expect(page.locator("nav.menu")).to_contain_text("Issue cards")
    shot(page, "home-english")
    first.close()
    # Another computer, no cookie of this browser's: the account's choice is kept.
    second = browser.new_context()
    page = second.new_page()
    page.goto(live.url + "/login")
    expect(page.locator("h1")).to_have_text("门卫 · 前台")
    page.fill("input[name=username]", "director")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    expect(page.locator("nav.menu")).to_contain_text("Issue cards")
    page.click("button[name=locale][value=zh_CN]")
    expect(page.locator("nav.menu")).to_contain_text("办卡")
    second.close()


def test_the_api_documentation_works_without_internet(page: Page, live: RunningDesk) -> None:
    outside: list[str] = []

    def only_the_desk(route: Route) -> None:
        if route.request.url.startswith(live.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()
    page.route("**/*", only_the_desk)
    page.goto(live.url + "/api/v1/docs")
    expect(page.locator(".swagger-ui .title")).to_contain_text("Menwei desk API")
    expect(page.get_by_text("/api/v1/cards/resident", exact=True).first).to_be_visible()
    assert not outside


def test_a_clerk_changes_their_own_password(browser: Browser, tmp_path: Path,
                                            desk_db_url: str) -> None:
    with running_desk(tmp_path, desk_db_url) as desk:
        other = browser.new_context()
        elsewhere = other.new_page()
        log_in(elsewhere, desk, "clerk")  # logged in on another computer too
        context = browser.new_context()
        page = context.new_page()
        log_in(page, desk, "clerk")
        page.goto(desk.url + "/account/password")
        page.fill("input[name=current_password]", "not it at all")
        page.fill("input[name=new_password]", "a new long password")
        page.fill("input[name=new_password_again]", "a new long passwrod")
        page.click("button[type=submit].primary")
        expect(page.locator(".field-error")).to_contain_text("两次输入的新密码不一致")
        expect(page.locator("input[name=current_password]")).to_have_value("")
        page.fill("input[name=current_password]", "not it at all")
        page.fill("input[name=new_password]", "a new long password")
        page.fill("input[name=new_password_again]", "a new long password")
        page.click("button[type=submit].primary")
        expect(page.locator(".field-error")).to_contain_text("当前密码不正确")
        page.fill("input[name=current_password]", PASSWORD)
        page.fill("input[name=new_password]", "a new long password")
        page.fill("input[name=new_password_again]", "a new long password")
        page.click("button[type=submit].primary")
        expect(page.locator(".done")).to_have_text("密码已修改。")
        # The other computer's session ended; this one goes on; the new password works.
        elsewhere.goto(desk.url + "/account")
        expect(elsewhere).to_have_url(f"{desk.url}/login?next=%2Faccount&why=ended")
        log_in(elsewhere, desk, "clerk", "a new long password")
        expect(elsewhere.locator("nav.menu")).to_contain_text("办卡")
        other.close()
        context.close()
