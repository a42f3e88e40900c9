"""Gate events ingested by the sync side's CentralStore (a real SQLite file), read through
the API by card, gate, time and outcome; device status."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from central.api import create_app
from central.clock import FixedClock
from central.services.context import Desk
from sync.hub.store import CentralStore
from sync.wire.device_messages import DeviceStatus

from ..conftest import FAST_HASHER, NOW, SITE
from .conftest import API, TestClient, errors_by_field, login

Headers = dict[str, dict[str, str]]
T0 = datetime(2026, 6, 9, 1, 0, tzinfo=UTC).timestamp()  # 09:00 in Shanghai


def event(seq: int, minute: int, uid: str | None,
          verdict: tuple[bool | None, str | None], kind: str = "tap") -> dict[str, Any]:
    """One journal event as the edge ships it; ``verdict`` is (granted, reason)."""
    granted, reason = verdict
    return {"seq": seq, "boot_id": "boot-1", "wall": T0 + 60 * minute, "mono": 100.0 + seq,
            "kind": kind, "alarm": False, "clock_trusted": True, "uid": uid,
            "granted": granted, "reason": reason, "data": {"gate": "main"}}


def fill(store: CentralStore) -> None:
    """Two gates' events, as their batches arrive."""
    store.store_events("main-gate-pi", [
        event(1, 0, "04A1B2C3", (True, "granted")),
        event(2, 5, "0BADCAFE", (False, "unknown_card")),
        event(3, 10, "04A1B2C3", (True, "granted")),
        event(4, 20, None, (None, None), kind="door_held_open")])
    store.store_events("carpark-in-pi", [
        event(1, 2, "04A1B2C3", (False, "not_granted_here")),
        event(2, 30, "04A1B2C4", (True, "granted"))])


def rows(response: Any) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.text
    return [(e["device"], e["seq"]) for e in response.json()["events"]]


def test_events_filtered_by_card_gate_time_and_outcome(client: TestClient, store: CentralStore,
                                                       as_role: Headers) -> None:
    fill(store)
    guard = as_role["guard"]
    everything = client.get(f"{API}/events?order=oldest", headers=guard)
    assert rows(everything) == [("main-gate-pi", 1), ("carpark-in-pi", 1), ("main-gate-pi", 2),
                                ("main-gate-pi", 3), ("main-gate-pi", 4), ("carpark-in-pi", 2)]
    first = everything.json()["events"][0]
    assert first["at"] == "2026-06-09T01:00:00Z"
    assert first["at_local"] == "2026-06-09T09:00:00+08:00"
    # Newest first unless asked otherwise: the feed a guard watches.
    assert rows(client.get(f"{API}/events", headers=guard)) == rows(everything)[::-1]
    assert (first["uid"], first["granted"], first["reason"]) == ("04A1B2C3", True, "granted")
    assert rows(client.get(f"{API}/events?card=04:a1:b2:c3&order=oldest", headers=guard)) == [
        ("main-gate-pi", 1), ("carpark-in-pi", 1), ("main-gate-pi", 3)]
    assert rows(client.get(f"{API}/events?gate=carpark-in-pi&order=oldest", headers=guard)) == [
        ("carpark-in-pi", 1), ("carpark-in-pi", 2)]
    assert rows(client.get(f"{API}/events?outcome=denied&order=oldest", headers=guard)) == [
        ("carpark-in-pi", 1), ("main-gate-pi", 2)]
    window = client.get(f"{API}/events", headers=guard, params={
        "since": "2026-06-09T09:05:00+08:00", "until": "2026-06-09T09:20:00+08:00",
        "order": "oldest"})
    assert rows(window) == [("main-gate-pi", 2), ("main-gate-pi", 3)]
    both = client.get(f"{API}/events", headers=guard, params={
        "card": "04A1B2C3", "gate": "main-gate-pi", "outcome": "granted",
        "since": "2026-06-09T01:01:00Z"})
    assert rows(both) == [("main-gate-pi", 3)]
    cut = client.get(f"{API}/events?limit=2", headers=guard).json()
    assert (len(cut["events"]), cut["limit"], cut["truncated"]) == (2, 2, True)


def test_event_filters_are_validated(client: TestClient, as_role: Headers) -> None:
    bad = client.get(f"{API}/events", headers=as_role["guard"], params={
        "card": "zz", "since": "09:00", "until": "2026-06-09T09:00", "outcome": "maybe",
        "limit": "0", "device": "x"})
    assert bad.status_code == 422
    assert set(errors_by_field(bad.json())) == {"device"}  # unknown parameter first
    bad = client.get(f"{API}/events", headers=as_role["guard"], params={
        "card": "zz", "since": "09:00", "until": "2026-06-09T09:00", "outcome": "maybe",
        "limit": "0", "kind": "tap,DROP TABLE", "order": "sideways"})
    assert set(errors_by_field(bad.json())) == {"card", "since", "until", "outcome", "limit",
                                                "kind", "order"}


def test_who_may_read_events(client: TestClient, store: CentralStore,
                             as_role: Headers) -> None:
    fill(store)
    for role in ("guard", "front_desk_lead", "customer_service_lead", "director"):
        assert client.get(f"{API}/events", headers=as_role[role]).status_code == 200, role
    for role in ("clerk", "admin"):
        response = client.get(f"{API}/events", headers=as_role[role])
        assert (response.status_code, response.json()["error"]) == (403, "permission")


def test_device_status(client: TestClient, store: CentralStore, as_role: Headers) -> None:
    fill(store)
    store.update_status(DeviceStatus("main-gate-pi", True, 0, 3, True, T0), retained=False)
    devices = client.get(f"{API}/devices", headers=as_role["guard"])
    assert devices.status_code == 200
    # This app reads a store it does not feed: it cannot tell whether the link is up.
    assert devices.json()["link"] == "not_linked"
    by_name = {d["device"]: d for d in devices.json()["devices"]}
    assert by_name["main-gate-pi"]["online"] is True
    assert by_name["main-gate-pi"]["state"] == "online"
    assert by_name["main-gate-pi"]["backlog"] == 3
    assert by_name["main-gate-pi"]["events_upto"] == 4
    assert by_name["carpark-in-pi"]["online"] is None
    assert by_name["carpark-in-pi"]["state"] == "unknown"  # it never reported a status
    assert by_name["main-gate-pi"]["alarms"] == []  # event 4 is not journalled as an alarm
    store.raise_alarm("main-gate-pi", "journal_replaced", old="j1", new="j2")
    alarms = {d["device"]: d for d in client.get(
        f"{API}/devices", headers=as_role["guard"]).json()["devices"]}["main-gate-pi"]["alarms"]
    assert [(a["category"], a["kind"], a["source"], a["detail"]) for a in alarms] == [
        ("journal_replaced", "journal_replaced", "hub", {"old": "j1", "new": "j2"})]
    assert client.get(f"{API}/devices", headers=as_role["admin"]).status_code == 200


def test_every_sites_gates_at_a_glance(client: TestClient, store: CentralStore,
                                       as_role: Headers) -> None:
    """GET /sites/gates counts what GET /devices lists, for each site the caller watches
    (a site's guard: its own)."""
    fill(store)
    store.update_status(DeviceStatus("main-gate-pi", True, 0, 3, True, T0), retained=False)
    store.update_status(DeviceStatus("carpark-in-pi", False, 0, 2, False, T0),
                        retained=False)
    found = client.get(f"{API}/sites/gates", headers=as_role["guard"])
    assert found.status_code == 200, found.text
    (line,) = found.json()["sites"]
    named = 5  # the example site's gates; neither controller here is one of them
    assert (line["site"], line["link"], line["gates"]) == (SITE, "not_linked", named + 2)
    assert (line["online"], line["offline"], line["unknown"]) == (1, 1, named)
    assert (line["backlog"], line["clock_untrusted"], line["trouble"]) == (5, 1, True)
    refused = client.get(f"{API}/sites/gates", headers=as_role["clerk"])
    assert (refused.status_code, refused.json()["error"]) == (403, "permission")


def test_a_replaced_journals_events_are_listed_beside_the_old_ones(
        client: TestClient, store: CentralStore, as_role: Headers) -> None:
    old, new = "0f" * 16, "a1" * 16
    store.store_events("main-gate-pi", [event(1, 0, "04A1B2C3", (True, "granted")),
                                        event(2, 5, "0BADCAFE", (False, "unknown_card"))],
                       journal_id=old)
    # A new SD card: its journal numbers from 1 again, later in the day.
    store.store_events("main-gate-pi", [{**event(1, 40, "04A1B2C3", (True, "granted")),
                                         "boot_id": "boot-2"},
                                        {**event(2, 45, "04A1B2C3", (True, "granted")),
                                         "boot_id": "boot-2"}], journal_id=new)
    guard = as_role["guard"]
    listed = client.get(f"{API}/events?gate=main-gate-pi&order=oldest",
                        headers=guard).json()["events"]
    assert [(e["journal_id"], e["seq"]) for e in listed] == [(old, 1), (old, 2), (new, 1),
                                                             (new, 2)]
    granted = client.get(f"{API}/events", headers=guard, params={
        "card": "04A1B2C3", "outcome": "granted", "since": "2026-06-09T01:30:00Z",
        "order": "oldest"})
    assert [(e["journal_id"], e["seq"]) for e in granted.json()["events"]] == [(new, 1),
                                                                               (new, 2)]
    (device,) = client.get(f"{API}/devices", headers=guard).json()["devices"]
    assert (device["journal_id"], device["events_upto"]) == (new, 2)
    assert [(a["kind"], a["detail"]) for a in device["alarms"]] == [
        ("journal_replaced", {"old": old, "new": new, "old_upto": 2})]


def test_a_store_serves_its_own_site_only(tmp_path: Path, db_url: str, desk: Desk,
                                          staff: object, clock: FixedClock) -> None:
    other = CentralStore(tmp_path / "other.db", "another-site", clock=NOW.timestamp)
    fill(other)
    with TestClient(create_app(db_url, gate_events=[other], clock=clock,
                               hasher=FAST_HASHER)) as c:
        guard = login(c, "guard")
        response = c.get(f"{API}/events", headers=guard)
        assert (response.status_code, response.json()["error"]) == (503, "unavailable")
        assert c.get(f"{API}/devices", headers=guard).status_code == 503
    other.close()
    assert SITE != "another-site"
