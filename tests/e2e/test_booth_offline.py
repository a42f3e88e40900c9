"""Issue 11's acceptance: a guard's whole session at the east booth of the simulated compound
with the site broker stopped from the first sign-in to the last handover, then the broker
back and every booth record at the desk, once, with no gap, on the desk's pages.

Everything is a real process (hardware_sim.compound_processes): Mosquitto, the desk, four
gates with nfcpy's udp reader and simulated pins, the booth and its sync agent; the guard
works in Debian's Chromium."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from booth.parking_tariff import fee as tariff_fee
from central.db import make_engine
from hardware_sim.compound_processes import EXAMPLE_SITE, Compound, wait_for
from sync.hub.store import CentralStore
from sync.wire.booth_list import BoothList

from .conftest import site_today, tap

GUARD, RELIEF, PASSWORD = "guard", "guard2", "menwei-demo"
UNKNOWN_CARD = "0E0E0E0E"
PLATE = "粤B8E888"
# The P6 tariff of the example site, without its free quarter of an hour: a car that stays
# a minute pays its first hour, so the fee taken is the tariff's, not a free exit.
TARIFF = ('parking_tariff = { free_minutes = 0, day_per_hour_yuan = "5", '
          'night_per_hour_yuan = "2", night_start = "22:00", night_end = "07:00", '
          'daily_cap_yuan = "40" }')


@pytest.fixture
def site(tmp_path: Path, desk_db: str) -> Compound:
    """The compound over the example site with the tariff above, prepared (not started);
    the desk on each database in turn (conftest.py's ``desk_db``)."""
    text = EXAMPLE_SITE.read_text(encoding="utf-8")
    text, n = re.subn(r"^parking_tariff = .*$", TARIFF, text, flags=re.M)
    assert n == 1
    site_file = tmp_path / "site.toml"
    site_file.write_text(text, encoding="utf-8")
    compound = Compound(tmp_path / "compound", site_file=site_file, db_url=desk_db)
    compound.prepare()
    return compound


@pytest.fixture
def running(site: Compound) -> Iterator[Compound]:
    """The compound, started; every process stopped after."""
    try:
        site.start()
        yield site
        site.check_alive()
    finally:
        site.stop()


def booth_list(compound: Compound) -> BoothList | None:
    """The list the booth's agent kept (already verified by it)."""
    assert compound.booth is not None
    try:
        raw = json.loads(compound.booth.list_file.read_bytes())
    except FileNotFoundError:
        return None
    return BoothList.parse(raw["payload"])


def desk_prepares(compound: Compound) -> int:
    """Before the outage: a second guard for the handover and an approved goods slip for
    today, issued at the desk; the number of the slip."""
    desk = compound.desk
    admin = desk.login("admin")
    for username, role in ((RELIEF, "guard"), ("cslead", "customer_service_lead")):
        response = httpx.post(f"{compound.api}/staff", headers=admin, timeout=30, json={
            "username": username, "role": role, "password": PASSWORD,
            "site": compound.site})
        assert response.status_code == 201, response.text
    clerk = desk.session("clerk")
    owner = desk.person(clerk, "王建国")
    slip = httpx.post(f"{compound.api}/goods-slips", headers=clerk, timeout=30, json={
        "household_id": owner.household_id, "applicant_person_id": owner.id,
        "carrier_name": "王建国", "items": "旧沙发一张、纸箱三个",
        "valid_on": site_today().isoformat()})
    assert slip.status_code == 201, slip.text
    number = int(slip.json()["number"])
    lead = desk.login("cslead")
    approved = httpx.post(f"{compound.api}/goods-slips/{number}/approve", headers=lead,
                          timeout=30)
    assert approved.status_code == 200, approved.text
    return number


def desk_rows(compound: Compound, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the desk's database (a SQLite file or PostgreSQL), which the desk
    service writes."""
    engine = make_engine(compound.db_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def desk_events(compound: Compound, device: str) -> list[dict[str, Any]]:
    """``device``'s events as the desk stored them, wherever it keeps them."""
    store = CentralStore(compound.sync_store, compound.site)
    try:
        return store.events_for(device, limit=100_000)
    finally:
        store.close()


def desk_event_seqs(compound: Compound, device: str) -> list[int]:
    """The seqs of ``device``'s events the desk stored, repeats included."""
    store = CentralStore(compound.sync_store, compound.site)
    try:
        return store.event_seqs(device)
    finally:
        store.close()


def events(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read-only query on a SQLite file another process writes (the booth's
    journal)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_a_guards_session_with_the_broker_down_reaches_the_desk_once(
        running: Compound, page: Page) -> None:
    compound = running
    booth = compound.booth
    assert booth is not None
    number = desk_prepares(compound)
    wait_for("the booth's list with the slip and both guards", lambda: (
        (kept := booth_list(compound)) is not None
        and any(s.number == number and s.approved for s in kept.slips)
        and {GUARD, RELIEF} <= {g.username for g in kept.guards}), 30, poll=0.2)

    compound.stop_broker()
    page.set_viewport_size({"width": 1366, "height": 768})
    url = compound.booth_url.rstrip("/")

    # The guard signs in offline and starts the shift with a float of 600.
    page.goto(url + "/")
    page.fill("input[name=username]", GUARD)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/shift"))
    page.fill("#opening_float", "600")
    page.get_by_role("button", name="确认接班").click()
    expect(page.get_by_text("已接班。")).to_be_visible()

    # A temporary car enters by plate at the car park's entry lane.
    page.goto(url + "/parking")
    page.get_by_label("车牌号", exact=True).fill(PLATE)
    page.get_by_role("button", name="放行入场").click()
    expect(page.locator("#entered")).to_contain_text(PLATE)
    car_in = time.monotonic()

    # A denied tap at the main gate appears in the post's feed with its reason.
    page.goto(url + "/")
    main = compound.gates["main-gate"]
    tap(main.reader, UNKNOWN_CARD)
    denied = page.locator('table.feed tr[data-gate="main-gate"]').filter(
        has_text="未登记的卡").first
    expect(denied).to_contain_text("拒绝", timeout=10_000)

    # Manual open with a reason: the gate opens, its journal had the guard and the reason
    # before the relay moved.
    page.locator("#gate-main-gate").get_by_role("link", name="开门").click()
    page.get_by_label("住户忘带卡").check()
    page.get_by_role("button", name="立即开门").click()
    # Told with the gate's name from the desk's list (the site's [[gates]] name).
    expect(page.locator('[data-outcome="done"]')).to_have_text("小区大门 已开启")
    (mono, data), = events(main.events_db, "SELECT mono, data FROM events "
                                           "WHERE kind = 'manual_open'")
    opened = json.loads(data)
    assert (opened["guard"], opened["reason"]) == (GUARD, "住户忘带卡")
    strike_on = [float(line.split()[0]) for line in main.outputs_log.read_text().splitlines()
                 if line.split()[2] == "GPIO17" and line.split()[3] == "1"]
    assert strike_on and min(t for t in strike_on if t >= mono) >= mono

    # A visitor is registered and signed out.
    page.goto(url + "/visitors")
    page.click("#register-visitor")
    page.fill("#name", "赵访客")
    page.fill("#id_number", "11010519491231002X")
    page.fill("#host_unit", "1-1201")
    page.fill("#items", "水果一箱")
    page.check("input[name=host_confirm_method][value=phone]")
    page.fill("#host_confirmed_by", "王建国")
    page.click("button[type=submit].big")
    expect(page.locator(".notice")).to_contain_text("赵访客")
    expect(page.locator("body")).not_to_contain_text("11010519491231002X")
    page.get_by_role("button", name="离开").first.click()
    expect(page.locator(".notice")).to_contain_text("赵访客")

    # The goods slip issued at the desk before the outage leaves once; a second use is
    # refused.
    page.goto(url + "/goods")
    # As a scanner does: the number and Enter into the field that has the focus.
    expect(page.locator("#number")).to_be_focused()
    page.keyboard.type(f"{number}\n")
    expect(page.locator("#slip-items")).to_have_text("旧沙发一张、纸箱三个")
    page.check("input[name=items_match]")
    page.check("input[name=carrier_matches]")
    page.click("#let-out button[type=submit]")
    expect(page.locator(".notice")).to_contain_text(f"放行条 {number} 已于")
    page.fill("#number", str(number))
    page.keyboard.press("Enter")
    expect(page.locator("#goods-refusal")).to_contain_text("此放行条已使用")

    # ... and when the car has stayed past its first minute, it leaves paying the tariff's
    # fee (a stay is counted in whole minutes).
    wait_for("the car's first minute", lambda: time.monotonic() - car_in > 61, 90, poll=1)
    page.goto(url + "/parking")
    page.get_by_label("车牌或临时卡号").fill(PLATE)
    page.get_by_role("button", name="查询并收费").click()
    expect(page).to_have_url(re.compile(r"/parking/exit/"))
    page.get_by_label("实收现金（元）").fill("50")
    page.get_by_role("button", name="已收费：打印并放行").click()
    expect(page.locator("#receipt-no")).to_have_text("east-booth-000001")
    (entered, exited, fee_fen), = events(
        booth.events_db, "SELECT json_extract(data, '$.entered_at'), "
        "json_extract(data, '$.exited_at'), json_extract(data, '$.fee_fen') FROM events "
        "WHERE kind = 'parking_charge'")
    kept = booth_list(compound)
    assert kept is not None
    assert fee_fen == tariff_fee(entered, exited, kept.tariff, kept.timezone).fen > 0

    # Handover to the relief guard with the float now over 600: the alarm.
    page.goto(url + "/shift")
    page.fill("#invoices", "1")
    page.fill("#notes", "东门灯不亮")
    page.fill("#next_username", RELIEF)
    page.fill("#next_password", PASSWORD)
    page.get_by_role("button", name="确认交接班").click()
    expect(page).to_have_url(re.compile(r"/shift/report/"))
    expect(page.locator("body")).to_contain_text("备用金超过600元")
    # Raised when the parking fee took the float past 600, and again for the relief's
    # shift, which holds it now.
    assert events(booth.events_db, "SELECT count(*) FROM events WHERE kind = "
                                   "'float_over_limit' AND alarm = 1") == [(2,)]
    # Nothing of the session has reached the desk: the broker was down throughout.
    assert desk_event_seqs(compound, booth.spec.name) == []

    # The broker returns: every booth record reaches the desk once, with no gap.
    compound.start_broker()
    (last_seq,), = events(booth.events_db, "SELECT max(seq) FROM events")
    wait_for("every booth record at the desk", lambda: desk_event_seqs(
        compound, booth.spec.name) == list(range(1, last_seq + 1)), 60, poll=0.5)
    wait_for("the booth's records projected into the desk's records", lambda: desk_rows(
        compound, "SELECT last_seq FROM booth_cursors WHERE device = :device",
        device=booth.spec.name) == [(last_seq,)], 30, poll=0.5)
    assert desk_rows(compound, "SELECT count(*) FROM visitor_registrations WHERE name = :name "
                               "AND time_out IS NOT NULL", name="赵访客") == [(1,)]
    assert desk_rows(compound, "SELECT count(*) FROM goods_release_slips WHERE number = :n "
                               "AND left_at IS NOT NULL AND guard_signed", n=number) == [(1,)]
    assert desk_rows(compound, "SELECT plate, fee_fen, receipt_no FROM booth_parking_charges"
                     ) == [(PLATE, fee_fen, "east-booth-000001")]
    # The handover, and the float over the limit on both shifts.
    assert desk_rows(compound, "SELECT guard, to_guard, over_limit FROM booth_shifts "
                               "ORDER BY id") == [(GUARD, RELIEF, True), (RELIEF, None, True)]
    kinds = Counter(e["kind"] for e in desk_events(compound, booth.spec.name))
    assert kinds["gate_control"] == 1 and kinds["visitor_in"] == 1
    assert kinds["goods_slip_out"] == 1 and kinds["parking_charge"] == 1
    assert kinds["shift_handover"] == 1 and kinds["float_over_limit"] == 2

    # ... and shows on the desk's pages, to the director.
    desk = compound.desk_url.rstrip("/")
    page.goto(desk + "/login")
    page.fill("input[name=username]", "director")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.goto(desk + "/booths")
    records = page.locator("main")
    for shown in ("赵访客", "east-booth-000001", PLATE, str(number), "住户忘带卡"):
        expect(records).to_contain_text(shown)
    # The float over the limit is an alarm at the desk too, until it is paid in.
    page.goto(desk + "/gates")
    expect(page.locator("main")).to_contain_text("备用金超限")
