"""The post page in a real browser over real gate processes: a denied tap appears in the
feed with its reason in Chinese without a reload; a manual open from the page, refused
without a reason, journalled by the gate with the guard and the reason; a post-wide lockdown
after a confirmation, then an open told truthfully as not done; a stopped gate shown as not
answering; an alarm acknowledged with a comment."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Dialog, Page, expect

from tests.booth.pages.conftest import RunningBooth, sign_in_directly
from tests.edge.gate_process import stop_gate

DOOR, ENTRY, EXIT = "door-1", "lane-barrier_entry", "lane-barrier_exit"
Shot = Callable[[Page, str], Path]


def at_post(page: Page, booth: RunningBooth) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    sign_in_directly(page, booth)
    page.goto(booth.url + "/")


def test_a_denied_tap_appears_with_its_reason_in_chinese(page: Page, booth: RunningBooth,
                                                         shot: Shot) -> None:
    at_post(page, booth)
    expect(page.locator("#gate-door-1")).to_contain_text("已锁")
    expect(page.locator("#gate-lane-barrier_entry")).to_contain_text("车场入口")
    # Each gate by the name the desk gives it, never by its device id.
    expect(page.locator("#gate-door-1 h2")).to_contain_text("1栋大堂门")
    expect(page.locator("#gate-door-1 h2")).not_to_contain_text("door-1")
    expect(page.locator("#gate-lane-barrier_exit h2")).to_contain_text("停车场出口")
    page.evaluate("window.__marker = 1")  # gone if the page were reloaded
    seq = booth.rig.gate_call(DOOR, "sim.read_card", uid="DEADBEEF")["seq"]
    row = page.locator(f'table.feed tr[data-gate="{DOOR}"][data-seq="{seq}"]')
    expect(row).to_contain_text("拒绝", timeout=5000)
    expect(row).to_contain_text("未登记的卡")
    expect(row).to_contain_text("****BEEF")
    expect(row).to_contain_text("1栋大堂门")
    expect(row).not_to_contain_text(DOOR)
    expect(row).not_to_contain_text("DEADBEEF")
    assert page.evaluate("window.__marker") == 1
    shot(page, "booth-post")


def test_a_manual_open_from_the_page_needs_a_reason_and_is_journalled(
        page: Page, booth: RunningBooth, shot: Shot) -> None:
    at_post(page, booth)
    page.locator("#gate-door-1").get_by_role("link", name="开门").click()
    expect(page.locator("h1")).to_contain_text("手动开门 · 1栋大堂门")
    page.get_by_role("button", name="立即开门").click()
    expect(page.locator(".field-error")).to_contain_text("请选择原因")
    page.get_by_label("送货/快递").check()
    page.locator("#note").fill("顺丰 5栋")
    shot(page, "booth-post-open")
    page.get_by_role("button", name="立即开门").click()
    expect(page.locator('[data-outcome="done"]')).to_have_text("1栋大堂门 已开启")
    assert page.url.startswith(booth.url + "/?batch=")
    opened = [e for e in booth.rig.gate_call(DOOR, "events", n=50) if e["kind"] == "manual_open"]
    assert [(e["data"]["guard"], e["data"]["reason"]) for e in opened] == [
        ("wang.guard", "送货/快递：顺丰 5栋")]
    # The feed shows the open with the guard who did it.
    expect(page.locator('table.feed tr[data-kind="manual_open"]').first).to_contain_text(
        "wang.guard", timeout=5000)


def test_lockdown_after_a_confirmation_then_an_open_is_told_as_not_done(
        page: Page, booth: RunningBooth, shot: Shot) -> None:
    at_post(page, booth)
    questions: list[str] = []

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator("#lockdown-note").fill("消防演练")
    page.get_by_role("button", name="全部封锁").click()
    expect(page.locator('[data-outcome="done"]')).to_have_count(3)
    assert questions and "封锁" in questions[0]
    expect(page.locator('#gate-door-1 [data-mode="lockdown"]')).to_have_text("已封锁")
    page.locator("#gate-door-1").get_by_role("link", name="开门").click()
    page.get_by_label("救护/消防").check()
    page.get_by_role("button", name="立即开门").click()
    expect(page.locator('[data-outcome="not-done"]')).to_have_text(
        "1栋大堂门 未开启：处于封锁状态")
    shot(page, "booth-post-lockdown")
    page.get_by_role("button", name="全部解除").click()
    expect(page.locator('[data-outcome="done"]')).to_have_count(3)
    expect(page.locator('#gate-door-1 [data-mode="normal"]')).to_have_text("正常")


def test_a_stopped_gate_shows_as_not_answering(page: Page, booth: RunningBooth,
                                               shot: Shot) -> None:
    stop_gate(booth.rig.procs.pop(EXIT))
    at_post(page, booth)
    card = page.locator("#gate-lane-barrier_exit")
    expect(card).to_have_attribute("data-reachable", "no")
    expect(card).to_contain_text("无应答")
    expect(card.get_by_role("link", name="开门")).to_have_count(0)
    # Its form, reached anyway, is refused truthfully.
    page.goto(f"{booth.url}/post/gates/{EXIT}/reset")
    page.get_by_label("已检查道闸，确认无车辆/行人").check()
    page.get_by_role("button", name="道闸复位").click()
    expect(page.locator(".refusal")).to_contain_text("门 停车场出口 的控制程序未运行")
    shot(page, "booth-post-unreachable")


def test_an_alarm_is_acknowledged_from_the_page(page: Page, booth: RunningBooth,
                                                shot: Shot) -> None:
    booth.rig.gate_call(DOOR, "sim.force")
    at_post(page, booth)
    row = page.locator(f'table.alarms tr[data-gate="{DOOR}"]').filter(has_text="门被强行打开")
    expect(row).to_have_count(1, timeout=5000)
    expect(row).to_contain_text("1栋大堂门")
    expect(page.locator("#unacked .count")).to_have_text(re.compile(r"[1-9]\d*"))
    before = int(page.locator("#unacked .count").inner_text())
    row.get_by_role("link", name="确认处理").click()
    expect(page.locator("h1")).to_have_text("报警 · 1栋大堂门")
    page.get_by_role("button", name="确认处理").click()
    expect(page.locator(".field-error")).to_contain_text("请填写处理情况")
    page.locator("#comment").fill("已到现场，门已关好")
    page.get_by_role("button", name="确认处理").click()
    expect(row).to_contain_text("wang.guard：已到现场，门已关好")
    if before > 1:
        expect(page.locator("#unacked .count")).to_have_text(str(before - 1))
    else:
        expect(page.locator("#unacked")).to_have_count(0)
    shot(page, "booth-post-alarm")


def test_the_post_page_answers_fast(page: Page, booth: RunningBooth) -> None:
    at_post(page, booth)
    took = []
    for _ in range(10):
        started = time.perf_counter()
        response = page.request.get(booth.url + "/post/live")
        took.append(time.perf_counter() - started)
        assert response.ok
    assert sorted(took)[len(took) // 2] < 0.1, took
