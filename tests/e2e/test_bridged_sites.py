"""Issue 14's acceptance for bridged sites: two compounds, each with its own Mosquitto bridged
(as ``menwei-sync broker-config --bridge-*`` renders it) to a central Mosquitto, and one desk
service connected to the central broker alone, serving both (hardware_sim.bridged_sites).

The office link is cut for a minute by cutting each site's OfficeLink, the TCP path between
the site broker's bridge and the central broker, rather than by stopping the central broker:
that is what fails when a compound's line to the office drops, while the office (central
broker and desk) keeps running and staff keep working at the desk. It also tests the
harder direction: the desk's changes made during the cut are accepted by the central broker
and must wait there, in the bridge's persistent session, for the site to come back.

During the cut every gate keeps deciding (a card on its list granted, an unknown card
refused, both journalled) and the booth keeps working (a guard signs in and starts a shift
offline); a card reported lost at the desk does not reach the gates. After the link returns
the loss reaches every gate of its site, and every journalled event of every device reaches
the desk exactly once (device journals' sequence numbers against the desk's stored events)."""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from hardware_sim.bridged_sites import BridgedSite, BridgedSites
from hardware_sim.compound_processes import wait_for
from hardware_sim.running_gate import RunningGate
from sync.hub.store import CentralStore
from tests.desk_databases import fresh_desk_database

from .conftest import tap, wait_taps

CARDS = {"sunrise-garden": "0A0A0A01", "moonlight-court": "0B0B0B01"}
UNKNOWN_CARD = "0E0E0E0E"
CUT_S = 60.0


@pytest.fixture
def office(request: pytest.FixtureRequest, desk_db_kind: str,
           tmp_path: Path) -> Iterator[BridgedSites]:
    """Both sites and the office, started, the desk on SQLite then on PostgreSQL; every
    process stopped after."""
    with fresh_desk_database(request, desk_db_kind, tmp_path / "db", migrated=False) as url:
        yield from _office(tmp_path, url if desk_db_kind == "postgresql" else "")


def _office(tmp_path: Path, db_url: str) -> Iterator[BridgedSites]:
    stack = BridgedSites(tmp_path / "o", db_url=db_url)
    stack.prepare()
    try:
        stack.start()
        yield stack
        stack.check_alive()  # a process that died mid-test is a failure, not noise
    finally:
        stack.stop()


def desk_seqs(office: BridgedSites, site: BridgedSite, device: str) -> list[int]:
    """The seqs of ``device``'s events the desk stored, with any repeats."""
    store = CentralStore(office.sync_store(site), site.code)
    try:
        return store.event_seqs(device)
    finally:
        store.close()


def journal_seqs(site: BridgedSite, device: str) -> list[int]:
    """Every seq in the device's own journal."""
    if device in site.gates:
        return [int(e["seq"]) for e in site.gates[device].journal()]
    assert site.booth is not None
    conn = sqlite3.connect(f"file:{site.booth.events_db}?mode=ro", uri=True, timeout=5)
    try:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM events")]
    finally:
        conn.close()


def card_is(gate: RunningGate, uid: str, status: str) -> Callable[[], bool]:
    """Whether ``gate``'s list has ``uid`` in ``status``, asked when called."""
    return lambda: gate.card_status(uid) == status


def settled_at_desk(office: BridgedSites, site: BridgedSite, device: str,
                    quiet_s: float = 4.0) -> Callable[[], bool]:
    """Whether the desk has stored every event ``device`` has journalled and the device has
    journalled nothing for ``quiet_s`` (longer than a strike's 3 s pulse, whose end is an
    event too), asked when called."""
    newest, since = -1, time.monotonic()  # the newest seq seen, and since when

    def settled() -> bool:
        nonlocal newest, since
        journal = journal_seqs(site, device)
        if max(journal, default=0) != newest:
            newest, since = max(journal, default=0), time.monotonic()
        return (time.monotonic() - since >= quiet_s
                and set(journal) <= set(desk_seqs(office, site, device)))
    return settled


def booth_starts_a_shift(site: BridgedSite, password: str) -> None:
    """The site's guard signs in at the booth and takes over the shift, as the screen's
    forms post it."""
    assert site.booth is not None
    with httpx.Client(base_url=site.booth.url, follow_redirects=True, timeout=30) as web:
        form = web.get("/sign-in")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        shift = web.post("/sign-in", data={"username": site.staff("guard"),
                                           "password": password, "csrf": token[1],
                                           "next": "/shift"})
        assert shift.status_code == 200 and "/shift" in str(shift.url), shift.text
        token = re.search(r'name="csrf" value="([^"]+)"', shift.text)
        assert token, shift.text
        started = web.post("/shift/start", data={"opening_float": "600", "csrf": token[1]})
        assert started.status_code == 200, started.text
        assert "已接班" in started.text, started.text


@pytest.mark.timeout(300)
def test_sites_keep_working_through_a_cut_office_link_and_catch_up_once(
        office: BridgedSites) -> None:
    sites = office.sites
    clerks = {}
    for site in sites:
        assert site.desk is not None
        clerks[site.code] = site.desk.login(site.staff("clerk"))
        issued = site.desk.issue_resident_card(clerks[site.code], "王建国", CARDS[site.code])
        assert issued.status_code == 201, issued.text
    # Through the central broker and each site's bridge, to that site's gates only.
    for site in sites:
        for gate in site.gates.values():
            wait_for(f"{CARDS[site.code]} at {site.code}/{gate.spec.name}",
                     card_is(gate, CARDS[site.code], "active"), 30)
    for site in sites:
        other = next(c for code, c in CARDS.items() if code != site.code)
        assert all(g.card_status(other) is None for g in site.gates.values())
    booth_site = next(s for s in sites if s.booth is not None)
    assert booth_site.booth is not None
    booth_list = booth_site.booth.list_file
    guard = booth_site.staff("guard")
    # The guard was made after the desk started: the booth's list names them a publisher
    # round later (the desk's lists are looked at every 3 s), and the guard signs in during
    # the cut.
    wait_for(f"the booth's list from the desk, naming {guard}",
             lambda: booth_list.exists() and guard in booth_list.read_text(), 30)
    # A first tap before the cut, seen at the desk: the bridges carry events up.
    for site in sites:
        gate = next(iter(site.gates.values()))
        tap(gate.reader, CARDS[site.code])
        wait_taps(1, gate)
    # Everything journalled so far is at the desk before the cut (the tap's strike pulse
    # ends 3 s later, journalled too), so that what is counted next can only have crossed
    # the cut.
    for site in sites:
        for device in site.devices():
            wait_for(f"{site.code}/{device}'s journal settled at the desk",
                     settled_at_desk(office, site, device), 30)
    stored_before = {(s.code, d): len(desk_seqs(office, s, d)) for s in sites
                     for d in s.devices()}

    # --- the office link goes down for a minute.
    office.cut_links()
    cut_at = time.monotonic()
    for site in sites:
        for gate in site.gates.values():
            before = len(gate.taps())
            tap(gate.reader, UNKNOWN_CARD)
            tap(gate.reader, CARDS[site.code])
            taps = wait_taps(before + 2, gate)
            assert taps[before:] == [(UNKNOWN_CARD, "unknown_card"),
                                     (CARDS[site.code], "granted")], taps
    booth_starts_a_shift(booth_site, office.password)
    # At the desk, in the office: both cards reported lost while the sites are cut off.
    for site in sites:
        assert site.desk is not None
        lost = site.desk.report_lost(clerks[site.code], CARDS[site.code], "王建国")
        assert lost.status_code == 201, lost.text
    time.sleep(5)
    # The cut is real: nothing crossed it either way.
    for site in sites:
        assert all(g.card_status(CARDS[site.code]) == "active" for g in site.gates.values())
        for device in site.devices():
            assert len(desk_seqs(office, site, device)) == stored_before[(site.code, device)]
    office.check_alive()
    time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
    # Still deciding at the end of the minute.
    for site in sites:
        gate = next(iter(site.gates.values()))
        before = len(gate.taps())
        tap(gate.reader, CARDS[site.code])
        assert wait_taps(before + 1, gate)[-1] == (CARDS[site.code], "granted")

    # --- the link returns: the desk's change reaches the gates, ...
    office.restore_links()
    back_at = time.monotonic()
    for site in sites:
        for gate in site.gates.values():
            wait_for(f"the loss at {site.code}/{gate.spec.name}",
                     card_is(gate, CARDS[site.code], "lost"), 60)
    print(f"\nBRIDGE link back -> the loss at every gate: {time.monotonic() - back_at:.1f} s")
    for site in sites:
        gate = next(iter(site.gates.values()))
        before = len(gate.taps())
        time.sleep(2.1)  # the reader's debounce of one card
        tap(gate.reader, CARDS[site.code])
        assert wait_taps(before + 1, gate)[-1] == (CARDS[site.code], "lost")

    # ... and every device's events reach the desk, each exactly once.
    def all_stored() -> bool:
        return all(set(journal_seqs(s, d)) == set(desk_seqs(office, s, d))
                   for s in sites for d in s.devices())
    try:
        wait_for("every journal at the desk", all_stored, 60, poll=0.5)
    except TimeoutError:
        for site in sites:
            for device in site.devices():
                print(site.code, device, "journal", journal_seqs(site, device),
                      "desk", desk_seqs(office, site, device))
        raise
    for site in sites:
        for device in site.devices():
            journal, stored = journal_seqs(site, device), desk_seqs(office, site, device)
            assert journal, f"{site.code}/{device} journalled nothing"
            assert sorted(stored) == sorted(journal), (site.code, device)
            repeats = [s for s, n in Counter(stored).items() if n > 1]
            assert not repeats, f"{site.code}/{device}: stored twice: {repeats}"
    # The booth's offline shift is among them.
    assert booth_site.booth is not None
    store = CentralStore(office.sync_store(booth_site), booth_site.code)
    try:
        shifts = store.events_for(booth_site.booth.spec.name, kinds={"shift_start"})
    finally:
        store.close()
    assert len(shifts) == 1
