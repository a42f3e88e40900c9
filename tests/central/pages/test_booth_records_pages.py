"""The booths page in a real browser over the real desk (issue 11): a booth's records,
stored in the desk's central store as the hub stores them, are projected by the desk
service itself and show on /booths — the shift's handover with the float over the limit,
the day's parking total, the visitor with the ID masked (in full for the director), the
slip let out, the manual open and the alarm acknowledged; a missing record shows as a gap
until it arrives; the float alarm shows on the gates page; the event feed never shows the
visitor's name or ID number; a clerk does not see the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from central.models import BoothRecordApplied, Staff
from central.services.context import Actor
from central.services.goods import IssueGoodsSlip, approve_goods_slip, issue_goods_slip

from ..booth_events import BOOTH, JOURNAL, VISITOR_ID, a_shift, event
from ..conftest import NOW, SITE, household_of, person
from .conftest import RunningDesk, log_in, log_in_as

START = NOW.timestamp() - 3600  # 09:00 at the site


def actor(live: RunningDesk, username: str) -> Actor:
    with live.desk.sessions() as s:
        return Actor(s.scalars(select(Staff.id).where(Staff.username == username)).one(), SITE)


def a_slip(live: RunningDesk) -> int:
    """A goods slip issued and approved at the desk before the booth let it out."""
    desk = live.desk
    number = issue_goods_slip(desk, actor(live, "clerk"), IssueGoodsSlip.from_form({
        "household_id": household_of(desk, "王建国"),
        "applicant_person_id": person(desk, "王建国").id, "carrier_name": "搬家公司 李师傅",
        "items": "沙发一套", "valid_on": "2026-06-09"}))
    approve_goods_slip(desk, actor(live, "customer-service-lead"), number)
    return number


def projected(live: RunningDesk, count: int) -> None:
    """Wait for the desk service's own projection (every 2 s) to have taken ``count``."""
    deadline = time.monotonic() + 20
    while True:
        with live.desk.sessions() as s:
            done = s.scalar(select(func.count()).select_from(BoothRecordApplied))
        if done == count:
            return
        assert time.monotonic() < deadline, f"projected {done} of {count}"
        time.sleep(0.1)


def test_a_booths_records_reach_the_desk_and_show_on_its_pages(
        page: Page, live: RunningDesk, shot: Callable[[Page, str], Path]) -> None:
    records = a_shift(START, a_slip(live))
    # The booth's agent ships seqs 1..8 and 10 (the float over the limit); the handover,
    # seq 9, is lost on the way and sent again later.
    live.store.store_events(BOOTH, records[:8] + records[9:10], journal_id=JOURNAL)
    projected(live, 6)

    log_in(page, live, "guard")
    page.click("nav >> text=岗亭记录")
    booth = page.locator(f"section.booth[data-booth='{BOOTH}']")
    expect(booth.locator(".booth-gap")).to_contain_text("第 8 条之后的记录还没有全部传到")
    expect(booth.locator("table.booth-shifts tr[data-shift=s1]")).to_contain_text("当班中")
    expect(booth.locator(".booth-parking-total")).to_have_text("¥15.00")
    expect(booth.locator("table.booth-parking")).to_contain_text("沪A12345")
    visitors = booth.locator("table.booth-visitors")
    expect(visitors).to_contain_text("赵访客")
    expect(visitors.locator(".id-number")).to_have_text("110***********1234")
    expect(page.locator("body")).not_to_contain_text(VISITOR_ID)
    expect(booth.locator("table.booth-slips")).to_contain_text("物品相符")
    controls = booth.locator("table.booth-controls")
    expect(controls.locator("tr", has_text="快递车辆")).to_contain_text("人工开门")
    expect(controls.locator("tr", has_text="风吹开门")).to_contain_text("报警已确认")
    shot(page, "booth-records-waiting")

    # The alarm is on the gates page as soon as it is stored, gap or not.
    page.click("nav >> text=门岗与道闸")
    row = page.locator(f"tr[data-gate='{BOOTH}']")
    expect(row.locator(".gate-alarms")).to_contain_text("备用金超限，请交存服务中心")
    shot(page, "booth-records-gates-alarm")

    # The handover arrives: the gap goes, the report shows with the float over the limit.
    live.store.store_events(BOOTH, records[8:9], journal_id=JOURNAL)
    projected(live, 8)
    page.click("nav >> text=岗亭记录")
    expect(booth.locator(".booth-gap")).to_have_count(0)
    shifts = booth.locator("table.booth-shifts")
    expect(shifts.locator("tr[data-shift=s1]")).to_contain_text("¥615.00")
    expect(shifts.locator("tr[data-shift=s1] .float-over-limit")).to_contain_text("备用金超限")
    expect(shifts.locator("tr[data-shift=s1]")).to_contain_text("尚未交存")
    expect(shifts.locator("tr[data-shift=s1]")).to_contain_text("2号岗道闸有异响")
    shot(page, "booth-records")

    # The next shift starts and the float is paid in: the alarm ends.
    live.store.store_events(BOOTH, records[10:], journal_id=JOURNAL)
    projected(live, 10)
    page.reload()
    expect(shifts.locator("tr[data-shift=s1]")).to_contain_text("¥415.00")
    expect(shifts.locator("tr[data-shift=s2]")).to_contain_text("当班中")
    page.click("nav >> text=门岗与道闸")
    expect(row.locator(".gate-alarms")).to_have_count(0)

    # A record the desk cannot read is kept in the store and shown, not lost in silence.
    live.store.store_events(BOOTH, [event(13, "booth_wizardry", {}, START + 13)],
                            journal_id=JOURNAL)
    projected(live, 11)
    page.click("nav >> text=岗亭记录")
    expect(booth.locator("table.booth-problems")).to_contain_text("已跳过")

    # The event feed lists the booth's records without the visitor's name or ID number.
    page.goto(f"{live.url}/gates/events?gate={BOOTH}")
    expect(page.locator("table")).to_contain_text("visitor_in")
    expect(page.locator("body")).not_to_contain_text(VISITOR_ID)
    expect(page.locator("body")).not_to_contain_text("赵访客")

    # The director sees the ID number in full, on the booths page only.
    log_in_as(page, live, "director")
    page.goto(f"{live.url}/booths")
    expect(booth.locator("table.booth-visitors .id-number")).to_have_text(VISITOR_ID)

    # Another day shows none of it.
    page.fill("#day", "2026-06-10")
    page.click("form.filters button")
    expect(booth.locator("table.booth-shifts")).to_contain_text("当天没有当班记录")


def test_a_clerk_has_no_booths_page(page: Page, live: RunningDesk) -> None:
    log_in(page, live, "clerk")
    expect(page.locator("nav")).not_to_contain_text("岗亭记录")
    answer = page.goto(f"{live.url}/booths")
    assert answer is not None and answer.status == 403
