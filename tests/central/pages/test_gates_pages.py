"""The gates pages in a real browser, over real parts: a real Mosquitto on loopback as the
site broker, the desk served with its live link to it (CentralSync, the relay of the desk's
auth log, as ``serve --sync-config`` runs them) and, for each of two gates, a real
``menwei-sync`` agent process on the gate's own config (hardware_sim.running_gate), which a
test stops and starts as a power cut or a crash would.

The journeys: a gate going offline when its agent stops and the change count catching up
when it returns (with a card's "已同步 1/2" becoming 2/2); the "unknown" banner while the
desk has lost the broker; a guard opening a gate once with a reason; a clerk who sees no
gates and is refused on the server; the administrator who sees the gates but no buttons;
the event feed with its filters and its XLSX export."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Dialog, Locator, Page, expect

from central.gate_link import DeskToGates
from central.models import Role
from central.services.staff import NewStaff, create_staff
from hardware_sim.local_ports import free_udp_port
from hardware_sim.running_gate import GATES, GateSite, RunningGate
from sync.hub.bridge import CentralSync
from sync.wire.signing import generate_key, load_private_key
from tests.desk_databases import fresh_desk_database
from tests.sync.conftest import Broker

from ..api.live_desk import API, site_broker
from ..conftest import PASSWORD, SITE, application, load_second_site, owner_line
from .conftest import ROOT, RunningDesk, downloaded_sheet, log_in, running_desk

# Two of the example site's gates run a real sync agent; the others never report.
RUNNING = ("main-gate", "b1-lobby")
# The status an agent publishes reaches the page within the poll (5 s) and the agent's
# own interval; a stopped agent's last will at once.
SEEN = 25_000


@dataclass
class Agent:
    """One gate's ``menwei-sync run`` process, started and stopped by the test."""

    gate: RunningGate
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the agent (as systemd would after a crash or a power cut)."""
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sync.cli", "run", "--config",
                 str(self.gate.config_path)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)

    def stop(self) -> None:
        """Stop the agent as ``systemctl stop`` does (SIGTERM, then wait)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass
class LinkedSite:
    """The desk, its broker and link, and the gates' agents."""

    live: RunningDesk
    broker: Broker
    hub: CentralSync
    agents: dict[str, Agent] = field(default_factory=dict)


def wait_until(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll ``done`` until true; fail naming ``what``."""
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, page_db_kind: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinkedSite]:
    """The linked desk and two running gate agents, for the whole module (per database)."""
    root = tmp_path_factory.mktemp("gates-site")
    with fresh_desk_database(request, page_db_kind, root) as db_url, \
            site_broker(root, [g.name for g in GATES]) as broker:
        public_key = generate_key(root / "signing.key")
        hub = CentralSync(root / "hub.db", SITE, load_private_key(root / "signing.key"),
                          "127.0.0.1", broker.port, password="central-pw",
                          reconnect_delay=(1, 1))
        hub.start()
        try:
            wait_until(lambda: hub.connected, "the desk's link to the broker", 15)
            with running_desk(root, db_url, gate_link=hub) as live:
                relay = DeskToGates(live.desk.engine, {SITE: hub}, root / "relay.json")
                relay.start()
                gate_site = GateSite(SITE, broker.port, public_key, root / "gates")
                linked = LinkedSite(live, broker, hub)
                for spec in GATES:
                    if spec.name in RUNNING:
                        gate = RunningGate.write(spec, gate_site, free_udp_port(0),
                                                 f"pw-{spec.name}")
                        linked.agents[spec.name] = Agent(gate, root / f"{spec.name}-sync.log")
                        linked.agents[spec.name].start()
                try:
                    yield linked
                finally:
                    for agent in linked.agents.values():
                        agent.stop()
                    relay.stop()
        finally:
            hub.close()


def gate_row(page: Page, code: str) -> Locator:
    """The gates table's row of one gate."""
    return page.locator(f"table.gates tr[data-gate='{code}']")


def issue_card(live: RunningDesk, uid: str) -> None:
    """A clerk issues an owner card at the desk (through the API: the card pages are
    another part's), which the desk then relays to the gates."""
    with httpx.Client(base_url=live.url + API, timeout=30) as client:
        token = client.post("/login", json={"username": "clerk", "password": PASSWORD})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['token']}"}
        answer = client.post("/cards/resident", headers=headers, json=application(
            live.desk, "王建国", [owner_line(live.desk, uid, "王建国")]))
        assert answer.status_code == 201, answer.text


# ---------------------------------------------------------------- the acceptance journey


def test_a_gate_goes_offline_when_its_agent_stops_and_catches_up_when_it_returns(
        page: Page, site: LinkedSite, shot: Callable[[Page, str], Path]) -> None:
    live = site.live
    log_in(page, live, "guard")
    page.click("nav.menu >> text=门岗与道闸")
    expect(page.locator("h1")).to_have_text("门岗与道闸")
    main, lobby = gate_row(page, "main-gate"), gate_row(page, "b1-lobby")
    expect(main.locator(".gate-state")).to_have_text("在线", timeout=SEEN)
    expect(lobby.locator(".gate-state")).to_have_text("在线", timeout=SEEN)
    expect(main.locator(".gate-behind")).to_have_text("已是最新", timeout=SEEN)
    expect(gate_row(page, "b2-lobby")).to_contain_text("从未连接")  # no agent runs there
    shot(page, "gates")

    site.agents["main-gate"].stop()
    # The page refreshes itself: nobody reloads it.
    expect(main.locator(".gate-state")).to_have_text("离线", timeout=SEEN)
    expect(lobby.locator(".gate-state")).to_have_text("在线")

    issue_card(live, "04C0FFEE")
    # The lobby's agent applies the change; the main gate's is down and falls behind.
    expect(main.locator(".gate-behind")).to_have_text("落后 1 条", timeout=SEEN)
    expect(lobby.locator(".gate-behind")).to_have_text("已是最新", timeout=SEEN)
    # The card's "synced" fragment, as the card pages include it.
    page.goto(f"{live.url}/cards/04:c0:ff:ee/sync")
    expect(page.locator(".gate-sync summary")).to_have_text("已同步 1/2", timeout=SEEN)

    site.agents["main-gate"].start()
    page.goto(f"{live.url}/gates")
    expect(main.locator(".gate-state")).to_have_text("在线", timeout=SEEN)
    expect(main.locator(".gate-behind")).to_have_text("已是最新", timeout=SEEN)
    page.goto(f"{live.url}/cards/04C0FFEE/sync")
    expect(page.locator(".gate-sync summary")).to_have_text("已同步 2/2", timeout=SEEN)
    page.click(".gate-sync summary")
    expect(page.locator(".gate-sync-list")).to_contain_text("main-gate: ")


def test_the_page_says_unknown_while_the_desk_has_lost_the_broker(
        page: Page, site: LinkedSite, shot: Callable[[Page, str], Path]) -> None:
    live = site.live
    log_in(page, live, "front-desk-lead")
    page.goto(f"{live.url}/gates")
    main = gate_row(page, "main-gate")
    expect(main.locator(".gate-state")).to_have_text("在线", timeout=SEEN)
    site.broker.stop()
    try:
        banner = page.locator(".gate-link-lost")
        expect(banner).to_contain_text("与门禁的连接已断开", timeout=SEEN)
        # Not "online, nothing waiting": the desk cannot know.
        expect(main.locator(".gate-state")).to_have_text("未知")
        expect(main.locator(".gate-backlog")).to_have_text("未知")
        shot(page, "gates-link-lost")
    finally:
        site.broker.start()
    wait_until(lambda: site.hub.connected, "the desk's link back", 30)
    expect(page.locator(".gate-link-lost")).to_have_count(0, timeout=SEEN)
    expect(main.locator(".gate-state")).to_have_text("在线", timeout=SEEN)


def accept_with(answers: list[str]) -> Callable[[Dialog], None]:
    def on_dialog(dialog: Dialog) -> None:
        answers.append(dialog.message)
        dialog.accept()
    return on_dialog


def test_a_guard_opens_a_gate_once_with_a_reason(
        page: Page, site: LinkedSite, shot: Callable[[Page, str], Path]) -> None:
    live = site.live
    log_in(page, live, "guard")
    page.goto(f"{live.url}/gates")
    main = gate_row(page, "main-gate")
    expect(main.locator(".gate-state")).to_have_text("在线", timeout=SEEN)
    main.locator("text=详情").click()
    expect(page.locator("h1")).to_contain_text("小区大门")
    open_once = page.locator("form[data-command=open-once]")
    # Without a reason nothing is sent: the reason is asked for beside its field.
    page.evaluate("document.querySelectorAll('form [required]')"
                  ".forEach(function (e) { e.removeAttribute('required'); })")
    questions: list[str] = []
    page.on("dialog", accept_with(questions))
    open_once.locator("button[type=submit]").click()
    expect(page.locator(".refusal")).to_be_visible()
    expect(page.locator("form[data-command=open-once] .field-error")).to_contain_text("必填")
    page.locator("form[data-command=open-once] input[name=reason]").fill("快递车辆临时放行")
    page.locator("form[data-command=open-once] button[type=submit]").click()
    expect(page.locator(".done")).to_contain_text("已发送到门禁：开门一次")
    assert questions and "开" in questions[-1]
    commands = page.locator("table.gate-commands")
    expect(commands).to_contain_text("快递车辆临时放行")
    expect(commands).to_contain_text("guard")  # who asked: the guard's account
    shot(page, "gates-gate")
    # The gate's agent checked the desk's signature and journalled the command with who
    # asked (no gate process runs behind this agent, so it could not pass it on).
    wait_until(lambda: any(e["kind"] in ("remote_command", "remote_command_undelivered")
                           and (e.get("data") or {}).get("issued_by") == "desk:guard"
                           for e in site.hub.store.events_for("main-gate")),
               "the gate journalling the command", 30)


def test_a_clerk_sees_no_gates_and_is_refused_on_the_server(
        page: Page, site: LinkedSite) -> None:
    live = site.live
    log_in(page, live, "clerk")
    expect(page.locator("nav.menu")).not_to_contain_text("门岗")
    page.goto(f"{live.url}/gates")
    expect(page.locator(".refusal")).to_contain_text("无权")
    page.goto(f"{live.url}/account")  # the session's token, from a page's form
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{live.url}/gates/main-gate/open-once",
                               form={"csrf": csrf or "", "reason": "试试"})
    assert answer.status == 403
    assert "无权" in answer.text()


def test_the_administrator_sees_the_gates_but_no_buttons(
        page: Page, site: LinkedSite) -> None:
    live = site.live
    log_in(page, live, "admin")
    page.goto(f"{live.url}/gates/main-gate")
    expect(page.locator("h1")).to_contain_text("小区大门")
    expect(page.locator("form.gate-command")).to_have_count(0)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    answer = page.request.post(f"{live.url}/gates/main-gate/lockdown",
                               form={"csrf": csrf or "", "reason": "试试"})
    assert answer.status == 403


def test_the_event_feed_filters_and_exports(
        page: Page, site: LinkedSite, shot: Callable[[Page, str], Path]) -> None:
    live = site.live
    issue_card(live, "04FEED01")
    store = site.hub.store
    now = time.time()
    store.store_events("b1-lobby", [
        {"seq": 10_001 + i, "boot_id": "t", "wall": now - 60 * (3 - i), "mono": float(i),
         "kind": "tap", "alarm": False, "clock_trusted": True, "uid": uid,
         "granted": granted, "reason": reason, "data": {}}
        for i, (uid, granted, reason) in enumerate([
            ("04FEED01", True, "granted"), ("04BADBAD", False, "unknown_card"),
            ("04FEED01", False, "not_permitted_here")])], journal_id="feed-test")
    log_in(page, live, "director")
    page.goto(f"{live.url}/gates/events")
    # The agents journal their own comings and goings; the taps are asked for by kind.
    page.select_option("select[name=kind]", "tap")
    page.click("form.event-filters button[type=submit]")
    rows = page.locator("table.gate-events tbody tr")
    expect(rows.first).to_contain_text("王建国", timeout=SEEN)  # newest first, with holder
    expect(rows.first).to_contain_text("无权通行此门")
    page.select_option("select[name=outcome]", "denied")
    page.select_option("select[name=gate]", "b1-lobby")
    page.click("form.event-filters button[type=submit]")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("未登记的卡")
    shot(page, "gates-events")
    sheet = downloaded_sheet(page, "text=导出 Excel")
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][:3] == ("时间", "门岗", "事件")
    assert [line[3] for line in lines[1:]] == ["04FEED01", "04BADBAD"]
    # A time window that ends before it starts is refused beside its field.
    page.goto(f"{live.url}/gates/events?since=2026-06-09T10:00&until=2026-06-09T09:00")
    expect(page.locator(".field-error")).to_contain_text("结束时间须晚于开始时间")


def test_the_export_speaks_the_readers_language(page: Page, site: LinkedSite) -> None:
    live = site.live
    log_in(page, live, "customer-service-lead")
    page.click("button[name=locale][value=en]")
    page.goto(f"{live.url}/gates/events?kind=tap&outcome=denied")
    expect(page.locator("h1")).to_have_text("Gate events")
    sheet = downloaded_sheet(page, "text=Export to Excel")
    header = next(sheet.iter_rows(values_only=True))
    assert header[:4] == ("Time", "Gate", "Event", "Card number")
    assert all(line[6] == "Denied" for line in list(sheet.iter_rows(values_only=True))[1:])


def site_line(page: Page, code: str) -> Locator:
    """The every-site table's line of one site."""
    return page.locator(f"table.sites-gates tr[data-site='{code}']")


def test_a_company_director_sees_every_sites_gates_at_a_glance(
        page: Page, site: LinkedSite, shot: Callable[[Page, str], Path]) -> None:
    """The office's duty director watches every compound from one page: a gate going
    offline puts its site first, and "详情" opens that site's gates page."""
    live = site.live
    load_second_site(live.desk)
    create_staff(live.desk, NewStaff("office-duty", "总部值班", Role.DIRECTOR, PASSWORD))
    log_in(page, live, "office-duty")
    page.goto(f"{live.url}/gates")
    page.click("a[href='/sites/gates']")
    expect(page.locator("h1")).to_have_text("各小区门禁概况")
    sun, moon = site_line(page, SITE), site_line(page, "moonlight-court")
    # Two of the example site's five gates run an agent; the other compound is not linked.
    expect(sun.locator("td").nth(2)).to_have_text("2", timeout=SEEN)
    expect(sun.locator("td").nth(4)).to_have_text("3")
    expect(moon).to_contain_text("未接入前台")

    site.agents["b1-lobby"].stop()
    try:
        # The page refreshes itself: the site with a gate offline is first.
        expect(sun.locator(".site-offline")).to_have_text("1", timeout=SEEN)
        expect(page.locator("table.sites-gates tbody tr").first).to_have_attribute(
            "data-site", SITE)
        expect(page.locator("p.refusal")).to_have_text("2 个小区中有 1 个需要查看。")
        shot(page, "sites-gates")
    finally:
        site.agents["b1-lobby"].start()
    # A company-wide account starts at the first site by code: "详情" switches to this one.
    expect(page.locator(".brand")).to_contain_text("月光苑")
    sun.locator("button[type=submit]").click()
    expect(page.locator(".brand")).to_contain_text("阳光花园")
    expect(page.locator("h1")).to_have_text("门岗与道闸")
    expect(gate_row(page, "b1-lobby")).to_have_count(1)
