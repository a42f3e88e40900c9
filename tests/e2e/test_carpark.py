"""The car park end to end (issue 12), over the simulated compound: real processes for the
desk, the broker, both lanes (each with its plate camera pushing over HTTP and its LED
display on a pty), their sync agents.

A monthly card is granted at the desk; a top-up at the desk extends its paid-until at both
lanes; the car goes in and out by its plate alone, and each lane's display says so; a
visitor's car goes in as a temporary car and is sent to the booth at the exit; the lot's
count follows the cars; the desk's monthly report counts the car's use (rule P4)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
from sqlalchemy import select

from central.models import Staff
from central.services.context import Actor, Desk
from central.services.parking_report_signoff import parking_report
from edge.control_socket import ControlClient
from edge.site_rules import FILE_NAME
from hardware_sim.compound_processes import Compound, wait_for
from hardware_sim.lane_display_sim import read_state
from hardware_sim.running_gate import RunningGate
from sync.hub.store import CentralStore
from tests.e2e.conftest import sim, site_today, wait_state

CARD = "0D0D0D01"
PLATE = "粤B67890"
VISITOR = "粤A88888"


def paid_until(gate: RunningGate, uid: str) -> str | None:
    """The card's paid-until at this lane, as its whitelist holds it (None until there)."""
    try:
        with sqlite3.connect(gate.auth_db, timeout=5) as conn:
            row = conn.execute("SELECT parking FROM cards WHERE uid = ?", (uid,)).fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None or not row[0]:
        return None
    return str(json.loads(row[0])[0]["until"])


def shown(gate: RunningGate) -> dict[str, Any]:
    """What the lane's display shows and has said."""
    return read_state(gate.display_state)


def plate_events(gate: RunningGate) -> list[tuple[str | None, bool | None, str | None]]:
    """(uid, granted, reason) of every plate read the lane journalled."""
    with sqlite3.connect(gate.events_db, timeout=5) as conn:
        rows = conn.execute("SELECT uid, granted, reason FROM events WHERE kind = 'plate' "
                            "ORDER BY seq").fetchall()
    return [(r[0], None if r[1] is None else bool(r[1]), r[2]) for r in rows]


def arrive(gate: RunningGate, plate: str, shows: str) -> None:
    """The car pulls up, the camera reads its plate, the arm rises and the display shows
    ``shows`` (the lines stay ``hold_s``, then the idle text comes back)."""
    sim("plate", "--config", str(gate.config_path), "--plate", plate)
    wait_state(gate.config_path, "open")
    wait_for(f"{gate.spec.name}'s display showing {shows}",
             lambda: shows in " ".join(shown(gate).get("lines", [])), 10)


def drive_through(gate: RunningGate) -> None:
    """The waiting car drives through and the arm comes down behind it."""
    sim("call", "--config", str(gate.config_path), "sim.drive_through")
    wait_state(gate.config_path, "closed")


def occupied(gate: RunningGate) -> dict[str, int]:
    """The lot's occupied spaces per class as the lane counts them (``menwei-edge lot
    status`` asks the same)."""
    with ControlClient(gate.data_dir / "control.sock") as client:
        status = client.call("lot_status")
    return {name: figures["occupied"] for name, figures in status["classes"].items()}


def test_a_monthly_car_by_its_plate_and_a_visitor_through_both_lanes(stack: Compound) -> None:
    entry, exit_ = stack.gates["carpark-in"], stack.gates["carpark-out"]
    # The desk's site rules (the example site's car park "main") reach both lanes.
    for gate in (entry, exit_):
        wait_for(f"site rules at {gate.spec.name}",
                 (gate.data_dir / FILE_NAME).exists, 30)

    # --- a monthly card (P1, P3), one month paid, at both lanes with its paid-until.
    stack.desk.grant_parking("陈国强", CARD, "粤B 67890", new_card=True)
    for gate in (entry, exit_):
        wait_for(f"{CARD}'s month at {gate.spec.name}",
                 lambda g=gate: paid_until(g, CARD) is not None, 30)  # type: ignore[misc]
    first = paid_until(entry, CARD)
    assert first is not None and paid_until(exit_, CARD) == first

    # --- a top-up at the desk extends paid-until at both lanes (P2), with no sweep.
    clerk = stack.desk.session("clerk")
    topped = httpx.post(f"{stack.api}/cards/{CARD}/parking/top-ups", json={"months": 2},
                        headers=clerk, timeout=30)
    assert topped.status_code == 201, topped.text
    for gate in (entry, exit_):
        wait_for(f"the top-up at {gate.spec.name}",
                 lambda g=gate: (paid_until(g, CARD) or "") > first, 30)  # type: ignore[misc]
    assert paid_until(entry, CARD) == paid_until(exit_, CARD)

    # --- the car goes in by its plate alone; the display welcomes it by its plate.
    arrive(entry, PLATE, shows=PLATE)
    assert plate_events(entry)[-1] == (CARD, True, "granted")
    # Three months paid: more than the reminder's 15 days left, so no "月卡剩余N天".
    assert shown(entry)["lines"] == ["欢迎光临", PLATE]
    assert any("欢迎光临" in said for said in shown(entry)["said"])
    drive_through(entry)

    # --- a visitor's car, on no card, goes in as a temporary car and counts in the lot.
    arrive(entry, VISITOR, shows="临时车")
    assert plate_events(entry)[-1] == (None, True, "granted")
    drive_through(entry)

    # --- the monthly car leaves by its plate: 一路顺风.
    arrive(exit_, PLATE, shows="一路顺风")
    assert plate_events(exit_)[-1] == (CARD, True, "granted")
    drive_through(exit_)

    # --- the visitor at the exit pays at the booth first (P6): the arm stays down.
    sim("plate", "--config", str(exit_.config_path), "--plate", VISITOR)
    wait_for("the exit lane's answer to the visitor",
             lambda: plate_events(exit_)[-1][2] == "pay_at_booth", 15)
    assert "请到岗亭缴费" in " ".join(shown(exit_)["lines"])

    # --- both lanes count the lot alike: two cars in, one out, the visitor still inside.
    def counted(gate: RunningGate) -> bool:
        now = occupied(gate)
        return now.get("temporary") == 1 and now.get("monthly") == 0

    for gate in (entry, exit_):
        wait_for(f"the lot's count at {gate.spec.name}", lambda g=gate: counted(g), 30)  # type: ignore[misc]

    # --- the desk stores the plate reads and the monthly report counts the car's use.
    store = CentralStore(stack.sync_store, stack.site)
    wait_for("the plate reads at the desk", lambda: len([
        e for e in store.events_for(uid=CARD) if e.get("kind") == "plate"]) >= 2, 30)
    desk = Desk.open(stack.db_url)
    try:
        with desk.write_sessions() as session:
            director = session.scalars(select(Staff.id).where(
                Staff.username == "director")).one()
        month = site_today().replace(day=1)
        report = parking_report(desk, Actor(director, stack.site), month, store)
    finally:
        desk.close()
    assert report.usage is not None
    [use] = [u for u in report.usage if u.card_uid == CARD]
    assert (use.entries, use.exits) == (1, 1)
    assert use.plate == PLATE
