"""The post page's car park and the exit booth's camera entries in a real browser over real
lanes counting a real car park: the free spaces per class and a silent lane's warning, the
count following a car without a reload; a guard's count from the page, refused without a
reason and above the spaces, then journalled by the lane with the guard; a temporary car
the entry camera let in shown at the exit with where its entry time came from."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from edge.lot_counts import LaneCounters, LotCounts
from tests.booth.booth_rig import BoothRig, journal_data, let_in_by_camera
from tests.booth.pages.conftest import RunningBooth, sign_in_directly

ENTRY, EXIT = "lane-barrier_entry", "lane-barrier_exit"
Shot = Callable[[Page, str], Path]


@pytest.fixture
def rig(rig: BoothRig) -> BoothRig:
    """The rig's lane pair as a car park's lanes (before the booth fixture starts them)."""
    rig.car_park()
    return rig


def exit_lane_heard_ago(rig: BoothRig, seconds: float) -> None:
    """What the entry lane's sync agent keeps when it last heard the exit lane."""
    lane = rig.gate_configs[ENTRY].lane
    assert lane is not None
    counts = LotCounts(lane.lot_db, ENTRY)
    try:
        counts.heard(EXIT, LaneCounters(), None, time.time() - seconds)
    finally:
        counts.close()


def at_post(page: Page, booth: RunningBooth) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in_directly(page, booth)
    page.goto(booth.url + "/")


def test_the_post_page_shows_the_car_park_and_takes_a_guard_count(
        page: Page, booth: RunningBooth, shot: Shot) -> None:
    rig = booth.rig
    let_in_by_camera(rig, "粤A88888")
    exit_lane_heard_ago(rig, 200)
    at_post(page, booth)
    block = page.locator("#car-park")
    expect(block.locator(".lot-line")).to_contain_text("地下车库")
    expect(block.locator('[data-class="temporary"]')).to_have_text("临时车位 余29/共30")
    expect(block.locator('[data-class="monthly"]')).to_have_text("月租 余60/共60")
    expect(block.locator('[data-class="fixed"]')).to_have_text("固定 余20/共20")
    expect(block.locator(".lot-line")).to_contain_text(
        "临时车位 余29/共30 · 月租 余60/共60 · 固定 余20/共20")
    expect(block.locator(".lot-stale")).to_have_text(
        "⚠ 停车场出口 3分钟未上报，车位数可能不准")
    expect(block.locator(".lot-source")).to_contain_text("以上为停车场入口的计数")
    shot(page, "booth-post-car-park")

    # Another temporary car: the count follows with the live feed, no reload.
    page.evaluate("window.__marker = 1")
    let_in_by_camera(rig, "粤A77777")
    expect(block.locator('[data-class="temporary"]')).to_have_text("临时车位 余28/共30",
                                                                   timeout=6000)
    assert page.evaluate("window.__marker") == 1

    # The guard counted the car park on foot.
    block.get_by_role("link", name="校正车位数").click()
    expect(page.locator("h1")).to_have_text("校正停车场车位数 · 地下车库")
    page.get_by_label("临时车位").fill("12")
    page.get_by_role("button", name="校正车位数").click()
    expect(page.locator(".field-error")).to_have_text("请填写校正原因（如：夜间清点）")
    expect(page.get_by_label("临时车位")).to_have_value("12")
    page.get_by_label("临时车位").fill("300")
    page.get_by_label("原因").fill("夜间清点")
    page.get_by_role("button", name="校正车位数").click()
    expect(page.locator(".field-error")).to_have_text("临时车位共 30 个，已停车数不能超过 30")
    assert journal_data(rig.gate_configs[ENTRY].events_db, "lot_corrected") == []
    page.get_by_label("临时车位").fill("12")
    page.get_by_role("button", name="校正车位数").click()
    expect(page.locator('[data-outcome="done"]')).to_have_text(
        "地下车库 车位数已校正：临时车位 余18/共30 · 月租 余60/共60 · 固定 余20/共20")
    expect(block.locator('[data-class="temporary"]')).to_have_text("临时车位 余18/共30")
    expect(block.locator(".lot-source")).to_contain_text("上次人工清点: wang.guard（夜间清点）")
    [corrected] = journal_data(rig.gate_configs[ENTRY].events_db, "lot_corrected")
    assert (corrected["guard"], corrected["reason"]) == ("wang.guard", "夜间清点")
    # The lane's own journal entry shows in the feed with the guard.
    expect(page.locator('table.feed tr[data-kind="lot_corrected"]').first).to_contain_text(
        "wang.guard", timeout=5000)


def test_a_camera_entry_is_charged_from_the_camera_and_says_so(
        page: Page, booth: RunningBooth, shot: Shot) -> None:
    let_in_by_camera(booth.rig, "粤A88888")
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in_directly(page, booth)
    page.goto(booth.url + "/parking")
    page.locator("#find").fill("粤A 88888")
    page.get_by_role("button", name="查询并收费").click()
    expect(page.locator("#car-h")).to_contain_text("粤A88888")
    expect(page.locator("#entry-source")).to_have_text("入场时间来自入口车牌识别（停车场入口）")
    shot(page, "booth-parking-camera-entry")
