"""The site rules pages (issue 12) in a real browser, in Chinese: the director sets the
policy for expired monthly cards, a car park's spaces, the holiday calendar and a timed mode;
a wrong entry comes back with its problem beside the field; every change raises the version
the gates receive; a clerk may look but not change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from playwright.sync_api import Page, expect

from central.services.site_rules import site_rules_payloads
from edge.site_rules import DayKind, ExpiredPolicy, SpaceClass, TimedModeKind

from ..conftest import NOW, SITE
from .conftest import RunningDesk, log_in

HOME = "/settings/rules"


def version(page: Page) -> int:
    return int(page.locator("[data-version]").inner_text())


def test_the_director_sets_the_rules_the_gates_receive(
        page: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    log_in(page, live, "director")
    page.click("nav.menu >> text=小区规则")
    expect(page.locator("h1")).to_have_text("小区规则")
    expect(page.locator("tr[data-lot=main]")).to_contain_text("地面停车场")
    expect(page.locator("tr[data-kind=floating]")).to_contain_text("道闸拒绝入场")
    first = version(page)

    page.locator("tr[data-kind=floating] >> text=修改").click()
    page.select_option("select[name=expired]", "temporary")
    page.fill("input[name=grace_days]", "400")  # too many: refused beside the field
    page.click("button[type=submit].primary")
    expect(page.locator(".has-error")).to_have_count(1)
    expect(page.locator("select[name=expired]")).to_have_value("temporary")  # kept as chosen
    page.fill("input[name=grace_days]", "3")
    page.fill("input[name=remind_days]", "5")
    page.click("button[type=submit].primary")
    expect(page.locator(".done")).to_be_visible()
    expect(page.locator("tr[data-kind=floating]")).to_contain_text("按临时车放行")

    page.locator("tr[data-lot=main] >> text=修改").click()
    page.fill("input[name=temporary]", "0")
    page.click("button[type=submit].primary")
    expect(page.locator("tr[data-lot=main]")).to_contain_text("0")

    page.fill("input[name=day]", "2026-10-01")
    page.select_option("select[name=kind]", "holiday")
    page.fill("input[name=note]", "国庆节")
    page.click("#holidays button[type=submit].primary")
    expect(page.locator("tr[data-day='2026-10-01']")).to_contain_text("国庆节")

    page.click("text=添加定时模式")
    page.select_option("select[name=gate]", "b1-lobby")
    page.fill("input[name=schedule]", "工作日 7点到9点")
    page.select_option("select[name=mode]", "hold_open")
    page.click("button[type=submit].primary")
    expect(page.locator("#e-schedule")).to_contain_text("时段格式有误")
    page.fill("input[name=schedule]", "Mon-Fri 07:00-09:00")
    page.click("button[type=submit].primary")
    expect(page.locator("#timed-modes")).to_contain_text("保持常开")
    shot(page, "site-rules")
    assert version(page) > first

    (rules,) = site_rules_payloads(live.desk, NOW, site=SITE)
    assert rules.version == version(page)
    assert rules.policy("floating").expired is ExpiredPolicy.TEMPORARY
    assert (rules.policy("floating").grace_days, rules.policy("floating").remind_days) == (3, 5)
    assert rules.lots[0].spaces[SpaceClass.TEMPORARY] == 0
    assert rules.holidays == {date(2026, 10, 1): DayKind.HOLIDAY}
    assert [(m.gate, m.mode) for m in rules.timed_modes] == [("b1-lobby",
                                                              TimedModeKind.HOLD_OPEN)]

    before = version(page)
    page.locator("tr[data-day='2026-10-01'] >> text=删除").click()
    expect(page.locator("tr[data-day='2026-10-01']")).to_have_count(0)
    page.locator("#timed-modes >> text=删除").click()
    expect(page.locator("#timed-modes")).to_contain_text("暂无定时模式")
    assert version(page) > before


def test_a_clerk_looks_but_does_not_change(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    expect(page.locator("nav.menu")).not_to_contain_text("小区规则")
    answer = page.goto(live.url + HOME)
    assert answer is not None and answer.status == 200
    expect(page.locator("tr[data-lot=main]")).to_be_visible()
    expect(page.locator("#holidays form")).to_have_count(0)
    expect(page.locator("a[href^='/settings/rules/']")).to_have_count(0)
    csrf = page.locator("header input[name=csrf]").first.get_attribute("value")
    posted = page.request.post(f"{live.url}{HOME}/holidays", form={
        "csrf": csrf or "", "day": "2026-10-01", "kind": "holiday"})
    assert posted.status == 403
    answer = page.goto(live.url + HOME + "/lots/main")
    assert answer is not None and answer.status == 403
