"""The sign-in page in the real browser: a guard signs in offline with the desk's
password, a wrong password, an unlisted guard and the sixth try after five failures are
refused on the form (and journalled), the page says so when the desk's list has not arrived,
and signing out ends the screen's sign-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize, expect

from booth.list_file import FILE_NAME
from booth.web.guard_session import GUARD_COOKIE
from tests.booth.booth_rig import GUARDS, PASSWORD
from tests.booth.pages.conftest import RunningBooth
from tests.booth.test_sign_in import events

WANG = GUARDS[0]
BOOTH_SCREEN: ViewportSize = {"width": 1366, "height": 768}


def sign_in(page: Page, booth: RunningBooth, username: str, password: str,
            next_url: str = "/shift") -> None:
    """Type a sign-in on the page and send it."""
    page.goto(f"{booth.url}/sign-in?next={next_url}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="登录").click()


def test_a_guard_signs_in_and_out(booth: RunningBooth, page: Page,
                                  shot: Callable[[Page, str], Path]) -> None:
    page.set_viewport_size(BOOTH_SCREEN)
    page.goto(f"{booth.url}/shift")  # not signed in: the sign-in page, and back after
    expect(page).to_have_url(f"{booth.url}/sign-in?next=%2Fshift")
    expect(page.get_by_role("heading", name="保安登录")).to_be_visible()
    shot(page, "booth-sign-in")
    page.fill("#username", WANG.username)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{booth.url}/shift")
    expect(page.locator(".guard-name")).to_have_text(WANG.name)
    assert any(c["name"] == GUARD_COOKIE for c in page.context.cookies())
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(f"{booth.url}/sign-in?why=out")
    expect(page.get_by_text("您已退出登录。")).to_be_visible()
    assert not any(c["name"] == GUARD_COOKIE for c in page.context.cookies())
    page.goto(f"{booth.url}/shift")
    expect(page).to_have_url(f"{booth.url}/sign-in?next=%2Fshift")
    assert [(k, d) for k, d, _a in events(booth.service.config.events_db, "booth_sign_in",
                                          "booth_sign_out")] == [
        ("booth_sign_in", {"guard": WANG.username}),
        ("booth_sign_out", {"guard": WANG.username})]


def test_a_wrong_password_and_an_unlisted_guard_are_refused(booth: RunningBooth,
                                                            page: Page) -> None:
    sign_in(page, booth, WANG.username, "wrong")
    expect(page.locator("#sign-in-error")).to_have_text("用户名或密码错误")
    expect(page.locator("#username")).to_have_value(WANG.username)  # kept
    expect(page.locator("#password")).to_have_value("")  # never sent back
    sign_in(page, booth, "zhao.guard", PASSWORD)
    expect(page.locator("#sign-in-error")).to_have_text("此账号不能在本岗登录")
    assert not any(c["name"] == GUARD_COOKIE for c in page.context.cookies())
    assert [d["reason"] for _k, d, _a in events(booth.service.config.events_db,
                                               "booth_sign_in_refused")] == [
        "password", "not_listed"]


def test_five_failures_lock_the_guard_out_and_raise_an_alarm(booth: RunningBooth,
                                                             page: Page) -> None:
    for i in range(5):
        sign_in(page, booth, WANG.username, f"guess-{i}")
        expect(page.locator("#sign-in-error")).to_have_text("用户名或密码错误")
    sign_in(page, booth, WANG.username, PASSWORD)
    expect(page.locator("#sign-in-error")).to_have_text("密码错误次数过多，请10分钟后再试")
    assert not any(c["name"] == GUARD_COOKIE for c in page.context.cookies())
    refused = events(booth.service.config.events_db, "booth_sign_in_refused")
    assert [(d["reason"], alarm) for _k, d, alarm in refused][-2:] == [
        ("password", 1), ("throttled", 1)]


def test_the_page_says_when_the_desk_list_has_not_arrived(booth: RunningBooth,
                                                          page: Page) -> None:
    assert booth.rig.config is not None
    (booth.rig.config.device.data_dir / FILE_NAME).unlink()
    page.goto(f"{booth.url}/sign-in")
    expect(page.locator("#no-list")).to_contain_text("尚未收到服务中心下发的岗亭名单")
    expect(page.locator("#password")).to_have_count(0)


def test_the_form_needs_its_own_token_and_goes_only_to_local_paths(
        booth: RunningBooth) -> None:
    with httpx.Client(base_url=booth.url) as client:
        form = {"username": WANG.username, "password": PASSWORD, "csrf": "forged",
                "next": "/shift"}
        refused = client.post("/sign-in", data=form)
        assert refused.status_code == 400 and GUARD_COOKIE not in refused.cookies
        page = client.get("/sign-in")
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        answer = client.post("/sign-in", data={**form, "csrf": token,
                                               "next": "//evil.example/x"})
        assert answer.status_code == 303
        # Not another site; between shifts a guard goes to the shift page first.
        assert answer.headers["location"] == "/shift"
        assert GUARD_COOKIE in answer.cookies
