"""The desk's gates view through the API, over a real sync hub (CentralSync and its SQLite
store) linked to a real Mosquitto on loopback, with MQTT clients standing in for the gates'
sync agents: each gate's state (unknown while the desk has lost the broker), open alarms by
category, which gates applied a card change, the event feed with holders, and remote
commands with their reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.clock import FixedClock
from central.gate_link import DeskToGates
from central.services.context import Desk
from edge.card_record import CardRow
from edge.cards import CardStatus
from sync.hub.bridge import CentralSync
from sync.hub.store import CentralStore
from sync.wire import topics
from sync.wire.command import Command
from sync.wire.device_messages import DeviceStatus
from sync.wire.signing import verify
from tests.sync.conftest import Broker, Probe

from ..conftest import NOW, SITE, Staffs, application, owner_line
from .conftest import API, ROLES, TestClient, login
from .live_desk import linked_api, linked_hub, site_broker, wait_until

Headers = dict[str, dict[str, str]]
GATES = ("main-gate-pi", "b1-lobby-pi")
T0 = NOW.timestamp()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """The site broker of the example site, with the desk's user and two gates."""
    with site_broker(tmp_path, GATES) as b:
        yield b


@pytest.fixture
def hub(broker: Broker, tmp_path: Path, clock: FixedClock) -> Iterator[CentralSync]:
    """The desk's link to the site's gates, on the desk's clock."""
    with linked_hub(tmp_path, broker, clock.wall) as sync:
        yield sync


@pytest.fixture
def linked(db_url: str, desk: Desk, staff: Staffs, clock: FixedClock,
           hub: CentralSync) -> Iterator[TestClient]:
    """The API as ``serve --sync-config`` builds it: the hub's store and its live link."""
    with linked_api(db_url, hub, clock) as client:
        yield client


@pytest.fixture
def roles(linked: TestClient) -> Headers:
    """Each role's Authorization header on the linked app."""
    return {role: login(linked, role) for role in ROLES}


@pytest.fixture
def gates(broker: Broker) -> Iterator[dict[str, Probe]]:
    """The two gates' sync agents, as MQTT clients: each publishes its retained status,
    leaves a last will saying it is offline, and listens for its commands."""
    made = {name: connect_gate(broker, name) for name in GATES}
    yield made
    for probe in made.values():
        probe.close()


def connect_gate(broker: Broker, name: str) -> Probe:
    """A gate's sync agent connecting, its last will set, subscribed to its commands."""
    probe = Probe(broker.port, name, f"pw-{name}", client_id=name)
    probe.client.will_set(topics.status(SITE, name), DeviceStatus(name, False).dump(),
                          qos=1, retain=True)
    rc = probe.connect()
    assert rc is not None and not rc.is_failure
    probe.subscribe(topics.command(SITE, name))
    return probe


def report(gate: Probe, name: str, applied: int, backlog: int, online: bool = True) -> None:
    """The gate's sync agent publishes its status."""
    gate.publish(topics.status(SITE, name),
                 DeviceStatus(name, online, applied, backlog, True, T0).dump().encode(),
                 retain=True)


def devices(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get(f"{API}/devices", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["device"]: d for d in body["devices"]}


def event(seq: int, kind: str, *, alarm: bool = False, uid: str | None = None,
          minutes: int = 0, fields: dict[str, Any] | None = None,
          **data: Any) -> dict[str, Any]:
    """One journal event as the gate ships it; ``fields`` for data keys that are not
    Python names."""
    data = {**data, **(fields or {})}
    granted = True if kind == "tap" else None
    return {"seq": seq, "boot_id": "b1", "wall": T0 + 60 * minutes, "mono": float(seq),
            "kind": kind, "alarm": alarm, "clock_trusted": True, "uid": uid,
            "granted": granted, "reason": "granted" if granted else None, "data": data}


# ---------------------------------------------------------------- status and the desk's link


def test_a_gates_state_is_unknown_while_the_desk_has_lost_the_broker(
        linked: TestClient, roles: Headers, broker: Broker, hub: CentralSync,
        gates: dict[str, Probe]) -> None:
    guard = roles["guard"]
    report(gates["main-gate-pi"], "main-gate-pi", 0, 2)
    report(gates["b1-lobby-pi"], "b1-lobby-pi", 0, 0)
    wait_until(lambda: len(devices(linked, guard)["devices"]) == 2, "both gates' status")
    body = devices(linked, guard)
    assert body["link"] == "connected"
    main = by_name(body)["main-gate-pi"]
    assert (main["state"], main["online"], main["backlog"], main["behind"]) == \
        ("online", True, 2, 0)

    broker.stop()
    wait_until(lambda: not hub.connected, "the desk noticing the outage")
    body = devices(linked, guard)
    assert body["link"] == "disconnected"
    for gate in body["devices"]:
        # Not "online, backlog 0": the desk cannot know.
        assert (gate["state"], gate["online"], gate["backlog"], gate["behind"]) == \
            ("unknown", None, None, None), gate
        assert gate["applied_seq"] == 0 and gate["last_seen"] is not None  # facts of the past
    refused = linked.post(f"{API}/devices/main-gate-pi/open-once", headers=guard,
                          json={"reason": "送货"})
    assert (refused.status_code, refused.json()["error"]) == (503, "unavailable")

    broker.start()
    wait_until(lambda: devices(linked, guard)["link"] == "connected", "the link back", 20)
    # The gate's agent reconnects and says where it is.
    gates["main-gate-pi"].close()
    gates["main-gate-pi"] = connect_gate(broker, "main-gate-pi")
    report(gates["main-gate-pi"], "main-gate-pi", 0, 1)
    wait_until(lambda: by_name(devices(linked, guard))["main-gate-pi"]["backlog"] == 1,
               "main gate's new status", 20)
    assert by_name(devices(linked, guard))["main-gate-pi"]["state"] == "online"


def test_a_gate_that_drops_off_is_offline(linked: TestClient, roles: Headers, broker: Broker,
                                          gates: dict[str, Probe]) -> None:
    guard = roles["guard"]
    report(gates["b1-lobby-pi"], "b1-lobby-pi", 0, 0)
    wait_until(lambda: "b1-lobby-pi" in by_name(devices(linked, guard)), "b1's status")
    sock = gates["b1-lobby-pi"].client.socket()
    assert sock is not None
    sock.close()  # dies without a goodbye: the will speaks
    wait_until(lambda: by_name(devices(linked, guard))["b1-lobby-pi"]["state"] == "offline",
               "b1 offline", 20)
    assert by_name(devices(linked, guard))["b1-lobby-pi"]["online"] is False


# ---------------------------------------------------------------- open alarms


def test_open_alarms_by_category(linked: TestClient, roles: Headers, hub: CentralSync,
                                 clock: FixedClock) -> None:
    store = hub.store
    store.store_events("main-gate-pi", [
        event(1, "door_forced_open", alarm=True),
        event(2, "door_closed", cleared=["door_forced_open"]),  # ended
        event(3, "door_held_open", alarm=True, after=30),  # still open
        event(4, "barrier_state", alarm=True, fields={"from": "closing", "to": "stuck"}),
        event(5, "barrier_stuck", alarm=True, reason="travel_timeout"),
        event(6, "journal_overflow", alarm=True, lost=12),
        event(7, "security", alarm=True, subject="command", reason="bad_signature"),
        event(8, "security", alarm=True, subject="command", reason="bad_signature"),
        event(9, "storage_fault", alarm=True, file="auth.db", error="EIO"),
        event(10, "storage_recovered", file="auth.db"),
        event(11, "tap", uid="04A1B2C3")], journal_id="j1")
    store.update_status(DeviceStatus("main-gate-pi", True, 0, 0, True), retained=False)
    alarms = by_name(devices(linked, roles["guard"]))["main-gate-pi"]["alarms"]
    assert sorted((a["category"], a["kind"], a["standing"], a["recent"]) for a in alarms) == [
        ("held_open", "door_held_open", True, 1),
        ("journal_overflow", "journal_overflow", False, 1),
        ("security", "security", False, 2),
        ("stuck_barrier", "barrier_stuck", True, 2),  # its state and its fault: one alarm
    ]
    assert [a["standing"] for a in alarms] == sorted((a["standing"] for a in alarms),
                                                     reverse=True)  # standing ones first
    # A guard resets the barrier: it moves on to closed, and the stuck alarm ends.
    store.store_events("main-gate-pi", [
        event(12, "barrier_state", fields={"from": "stuck", "to": "closed"}),
        event(13, "barrier_reset", state="closed")], journal_id="j1")
    # A day later the one-off alarms have gone; the door still held open has not.
    clock.advance(timedelta(hours=25))
    guard = login(linked, "guard")  # the day's session has ended
    alarms = by_name(devices(linked, guard))["main-gate-pi"]["alarms"]
    assert [(a["category"], a["standing"]) for a in alarms] == [("held_open", True)]
    # An untrusted clock, as its status says, is a standing clock alarm.
    store.update_status(DeviceStatus("main-gate-pi", True, 0, 0, False), retained=False)
    alarms = by_name(devices(linked, guard))["main-gate-pi"]["alarms"]
    assert ("clock", "clock_untrusted", "status") in [(a["category"], a["kind"], a["source"])
                                                      for a in alarms]


# ---------------------------------------------------------------- card changes at the gates


def issue(client: TestClient, desk: Desk, headers: dict[str, str], uid: str) -> None:
    response = client.post(f"{API}/cards/resident", headers=headers, json=application(
        desk, "王建国", [owner_line(desk, uid, "王建国")]))
    assert response.status_code == 201, response.text


def test_which_gates_applied_a_card_change_and_when(
        *, linked: TestClient, roles: Headers, desk: Desk, hub: CentralSync,
        gates: dict[str, Probe], tmp_path: Path, clock: FixedClock) -> None:
    for name, probe in gates.items():
        report(probe, name, 0, 0)
    wait_until(lambda: len(devices(linked, roles["guard"])["devices"]) == 2, "two gates")
    clerk = roles["clerk"]
    issue(linked, desk, clerk, "04A1B2C3")
    sync = linked.get(f"{API}/cards/04:a1:b2:c3/sync", headers=clerk)
    assert sync.status_code == 200, sync.text
    change = sync.json()["change"]
    # Committed at the desk, not yet relayed to the site's list.
    assert (change["uid"], change["relayed"], change["applied"], change["total"]) == \
        ("04A1B2C3", False, 0, 2)
    relay = DeskToGates(desk.engine, {SITE: hub}, tmp_path / "relay.json")
    assert relay.relay_once() >= 1
    head = hub.head_seq()
    change = linked.get(f"{API}/cards/04A1B2C3/sync", headers=clerk).json()["change"]
    assert (change["relayed"], change["applied"], change["total"]) == (True, 0, 2)
    assert [g["applied"] for g in change["gates"]] == [False, False]

    clock.advance(timedelta(minutes=1))
    report(gates["main-gate-pi"], "main-gate-pi", head, 0)
    wait_until(lambda: linked.get(f"{API}/card-changes/{change['change_id']}/sync",
                                  headers=clerk).json()["applied"] == 1, "main gate applied")
    one = linked.get(f"{API}/card-changes/{change['change_id']}/sync", headers=clerk).json()
    (main,) = [g for g in one["gates"] if g["applied"]]
    assert main["device"] == "main-gate-pi"
    assert main["applied_at"] == (NOW + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    # The gate moves on: when it applied this change stays the first time it said so.
    clock.advance(timedelta(minutes=1))
    report(gates["main-gate-pi"], "main-gate-pi", head + 5, 0)
    report(gates["b1-lobby-pi"], "b1-lobby-pi", head, 0)
    wait_until(lambda: linked.get(f"{API}/cards/04A1B2C3/sync", headers=clerk)
               .json()["change"]["applied"] == 2, "both gates applied")
    both = linked.get(f"{API}/cards/04A1B2C3/sync", headers=clerk).json()["change"]
    assert {g["device"]: g["applied_at"] for g in both["gates"]} == {
        "main-gate-pi": "2026-06-09T02:01:00Z", "b1-lobby-pi": "2026-06-09T02:02:00Z"}

    assert linked.get(f"{API}/cards/0BADCAFE/sync", headers=clerk).json() == {
        "uid": "0BADCAFE", "change": None}
    missing = linked.get(f"{API}/card-changes/999999/sync", headers=clerk)
    assert missing.status_code == 404
    assert linked.get(f"{API}/cards/04A1B2C3/sync", headers=roles["admin"]).status_code == 403


# ---------------------------------------------------------------- the event feed


def test_events_newest_first_with_holder_unit_and_local_time(
        linked: TestClient, roles: Headers, desk: Desk, hub: CentralSync) -> None:
    issue(linked, desk, roles["clerk"], "04A1B2C3")
    hub.store.store_events("b1-lobby-pi", [
        event(1, "tap", uid="04A1B2C3"),
        event(2, "tap", uid="0BADCAFE", minutes=1),
        event(3, "door_forced_open", alarm=True, minutes=2)], journal_id="j1")
    guard = roles["guard"]
    listed = linked.get(f"{API}/events", headers=guard, params={"limit": "2"}).json()
    assert [e["seq"] for e in listed["events"]] == [3, 2] and listed["truncated"]
    tap = linked.get(f"{API}/events", headers=guard, params={"card": "04A1B2C3"}).json()
    (first,) = tap["events"]
    assert first["holder"]["name"] == "王建国" and first["holder"]["unit"] == "1-1201"
    assert first["at_local"] == "2026-06-09T10:00:00+08:00"
    unknown = linked.get(f"{API}/events", headers=guard, params={"card": "0BADCAFE"}).json()
    assert unknown["events"][0]["holder"] is None
    alarms = linked.get(f"{API}/events", headers=guard,
                        params={"kind": "door_forced_open,door_held_open"}).json()
    assert [e["kind"] for e in alarms["events"]] == ["door_forced_open"]


# ---------------------------------------------------------------- remote commands


def test_remote_commands_reach_the_gate_signed_and_are_recorded_with_the_reason(
        linked: TestClient, roles: Headers, hub: CentralSync, gates: dict[str, Probe],
        clock: FixedClock) -> None:
    for name, probe in gates.items():
        report(probe, name, 0, 0)
    wait_until(lambda: len(devices(linked, roles["guard"])["devices"]) == 2, "two gates")
    guard = roles["guard"]
    sent = linked.post(f"{API}/devices/main-gate-pi/open-once", headers=guard,
                       json={"reason": "快递车辆临时放行"})
    assert sent.status_code == 202, sent.text
    out = sent.json()
    assert (out["command"], out["device"], out["issued_by"]) == \
        ("open_once", "main-gate-pi", "desk:guard")
    topic = topics.command(SITE, "main-gate-pi")
    wait_until(lambda: bool(gates["main-gate-pi"].on(topic)), "the command at the gate")
    (payload,) = gates["main-gate-pi"].on(topic)
    command = Command.parse(verify(hub.key.public_key(), payload))
    assert (command.command, command.issued_by, command.nonce) == \
        ("open_once", "desk:guard", out["nonce"])

    until = (NOW + timedelta(hours=2)).astimezone(UTC)
    held = linked.post(f"{API}/devices/b1-lobby-pi/hold-open", headers=roles["director"],
                       json={"reason": "业主搬家", "until": until.isoformat()})
    assert held.status_code == 202, held.text
    b1 = topics.command(SITE, "b1-lobby-pi")
    wait_until(lambda: bool(gates["b1-lobby-pi"].on(b1)), "the hold-open at b1")
    hold = Command.parse(verify(hub.key.public_key(), gates["b1-lobby-pi"].on(b1)[0]))
    assert (hold.command, hold.until) == ("hold_open", until.timestamp())
    clock.advance(timedelta(seconds=1))
    lead = roles["front_desk_lead"]
    assert linked.post(f"{API}/devices/b1-lobby-pi/lockdown", headers=lead,
                       json={"reason": "可疑人员"}).status_code == 202
    clock.advance(timedelta(seconds=1))
    assert linked.post(f"{API}/devices/b1-lobby-pi/release", headers=lead,
                       json={"reason": "已处理"}).status_code == 202
    wait_until(lambda: len(gates["b1-lobby-pi"].on(b1)) == 3, "three commands at b1")
    assert [Command.parse(verify(hub.key.public_key(), p)).command
            for p in gates["b1-lobby-pi"].on(b1)] == ["hold_open", "lockdown", "release"]

    listed = linked.get(f"{API}/gate-commands", headers=guard).json()
    assert [(c["command"], c["device"], c["reason"], c["issued_by"]) for c in listed] == [
        ("release", "b1-lobby-pi", "已处理", "desk:front-desk-lead"),
        ("lockdown", "b1-lobby-pi", "可疑人员", "desk:front-desk-lead"),
        ("hold_open", "b1-lobby-pi", "业主搬家", "desk:director"),
        ("open_once", "main-gate-pi", "快递车辆临时放行", "desk:guard")]
    assert listed[2]["until"] == until.isoformat().replace("+00:00", "Z")
    assert [c["nonce"] for c in linked.get(f"{API}/gate-commands", headers=guard,
                                           params={"gate": "main-gate-pi"}).json()] == \
        [out["nonce"]]


def test_remote_commands_refused(linked: TestClient, roles: Headers, hub: CentralSync,
                                 gates: dict[str, Probe]) -> None:
    report(gates["main-gate-pi"], "main-gate-pi", 0, 0)
    report(gates["b1-lobby-pi"], "b1-lobby-pi", 0, 0, online=False)
    wait_until(lambda: len(devices(linked, roles["guard"])["devices"]) == 2, "two gates")
    guard = roles["guard"]
    no_reason = linked.post(f"{API}/devices/main-gate-pi/open-once", headers=guard, json={})
    assert no_reason.status_code == 422
    assert {e["field"] for e in no_reason.json()["errors"]} == {"reason"}
    too_long = linked.post(f"{API}/devices/main-gate-pi/open-once", headers=guard,
                           json={"reason": "x" * 201})
    assert too_long.status_code == 422
    past = linked.post(f"{API}/devices/main-gate-pi/lockdown", headers=guard, json={
        "reason": "演练", "until": (NOW - timedelta(minutes=1)).isoformat()})
    assert (past.status_code, past.json()["field"]) == (422, "until")
    far = linked.post(f"{API}/devices/main-gate-pi/hold-open", headers=guard, json={
        "reason": "演练", "until": (NOW + timedelta(days=8)).isoformat()})
    assert far.status_code == 422
    unknown = linked.post(f"{API}/devices/nowhere/open-once", headers=guard,
                          json={"reason": "送货"})
    assert (unknown.status_code, unknown.json()["field"]) == (404, "device")
    offline = linked.post(f"{API}/devices/b1-lobby-pi/open-once", headers=guard,
                          json={"reason": "送货"})
    assert offline.status_code == 409
    clerk = linked.post(f"{API}/devices/main-gate-pi/open-once", headers=roles["clerk"],
                        json={"reason": "送货"})
    assert clerk.status_code == 403
    # Nothing was sent or recorded for any refusal.
    assert linked.get(f"{API}/gate-commands", headers=guard).json() == []
    assert hub.store.outbox_counts() == {}
    time.sleep(0.3)
    assert gates["main-gate-pi"].on(topics.command(SITE, "main-gate-pi")) == []



def test_the_hub_remembers_when_each_gate_first_applied_an_entry(tmp_path: Path) -> None:
    now = [T0]
    store = CentralStore(tmp_path / "hub.db", SITE, clock=lambda: now[0])
    try:
        hub_seqs = store.record_cards([store_card("04A1B2C3"), store_card("0B0B0B0B")],
                                      desk_seqs=[17, 18])
        assert list(hub_seqs) == [1, 2]
        with pytest.raises(ValueError, match="more entries"):
            store.record_cards([store_card("0C0C0C0C")], desk_seqs=[19, 20])
        assert store.head_seq() == 2  # refused whole
        store.update_status(DeviceStatus("gate", True, 1, 0), retained=False)
        now[0] += 60
        store.update_status(DeviceStatus("gate", True, 2, 0), retained=False)
        found = store.change_sync([17, 18, 99])
        assert found[99] == {"seq": None, "gates": [{"device": "gate", "applied": False,
                                                     "applied_at": None}]}
        assert found[17]["gates"][0]["applied_at"] == T0
        assert found[18]["gates"][0]["applied_at"] == T0 + 60
        # A fresh auth.db: the gate starts again from nothing and no longer holds entry 2.
        now[0] += 60
        store.update_status(DeviceStatus("gate", True, 0, 0), retained=False)
        assert store.change_sync([18])[18]["gates"][0]["applied"] is False
        now[0] += 60
        store.update_status(DeviceStatus("gate", True, 2, 0), retained=False)
        assert store.change_sync([18])[18]["gates"][0]["applied_at"] == T0 + 180
    finally:
        store.close()


def store_card(uid: str) -> CardRow:
    return CardRow(uid, CardStatus.ACTIVE, date(2026, 1, 1), date(2027, 1, 1), ("lobby",),
                   None, "owner", None)
