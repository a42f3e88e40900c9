"""Paid-until decided by the gate itself (rule P2), as a process: ``menwei-edge run`` on a
simulated lane, its wall clock set by libfaketime, the machine in UTC and the site in
Asia/Shanghai, with no broker and no desk. A monthly card paid through 8 July opens at
23:59 Shanghai time on 8 July (15:59 UTC) and not at 00:00 on 9 July (16:00 UTC): refused
under the policy "refuse", let in as a temporary car under "temporary", held for the guard
under "guard"; let in through its grace days and not a day after. The lane's LED display
(a simulated one on a pty) shows the reminder and the refusal. Results are read from the
gate's journal and the display's state."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.atomic_file import write_atomically
from edge.auth_store import AuthStore
from edge.control_socket import ControlClient, wait_until_answering
from edge.site_rules import (
    FILE_NAME,
    ExpiredPolicy,
    ParkingPolicy,
    SiteRules,
)
from firmware_config.schema import EdgeConfig
from hardware_sim.lane_display_sim import LaneDisplaySim, read_state
from tests.edge.conftest import barrier_doc, write_doc
from tests.edge.faketime import libfaketime
from tests.edge.lane_rig import SITE, card, monthly_right

CARD = "0B0B0B0B"
PAID_UNTIL = date(2026, 7, 8)
LAST_MINUTE = datetime(2026, 7, 8, 15, 59, tzinfo=UTC)  # 23:59 on 8 July in Shanghai
MIDNIGHT = datetime(2026, 7, 8, 16, 0, tzinfo=UTC)  # 00:00 on 9 July in Shanghai
ROOT = Path(__file__).resolve().parents[2]
RUN_GATE = "import sys; from edge.cli import main; sys.exit(main(sys.argv[1:]))"


def lane(tmp_path: Path, policy: ExpiredPolicy, at: datetime, *, grace_days: int = 0,
         display: Path | None = None) -> EdgeConfig:
    """A simulated entry lane whose site expires monthly cards under ``policy`` after
    ``grace_days``, with the card loaded as sync leaves it (the list issued a minute before
    ``at``), and an LED display on ``display`` when given."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "data"
    doc = barrier_doc(data)
    doc["simulation"] = {"outputs_log": str(tmp_path / "outputs.log"), "arm_travel": "50ms"}
    if display is not None:
        doc["display"] = {"path": str(display)}
    config = write_doc(tmp_path / "lane.toml", doc)
    data.mkdir(parents=True, exist_ok=True)
    rules = SiteRules(site=SITE, version=1, issued_at=at.timestamp() - 60,
                      parking={"floating": ParkingPolicy(policy, grace_days=grace_days,
                                                         remind_days=7)})
    write_atomically(data / FILE_NAME, rules.dump())
    store = AuthStore(config.auth_db)
    try:
        store.upsert([card(CARD, plate="粤B54321",
                           parking=(monthly_right("粤B54321", PAID_UNTIL),))],
                     applied_seq=1, list_issued_at=at.timestamp() - 60)
    finally:
        store.close()
    return config


def tap_at(config: EdgeConfig, at: datetime) -> dict[str, Any]:
    """Run the gate with its clock at ``at`` (UTC machine), tap the card, stop the gate;
    the tap's event as the journal keeps it."""
    env = {**os.environ, "TZ": "UTC", "LD_PRELOAD": str(libfaketime()),
           "FAKETIME": "@" + at.strftime("%Y-%m-%d %H:%M:%S"),
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "PYTHONPATH": str(ROOT)}
    log = config.device.data_dir / "gate.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-c", RUN_GATE, "run", "--config",
                                 str(config.source)], env=env, stdout=out, stderr=out,
                                cwd=ROOT)
    try:
        try:
            wait_until_answering(config.control_socket, 30, proc)
        except RuntimeError:
            raise RuntimeError(log.read_text(errors="replace")) from None
        with ControlClient(config.control_socket, timeout=5) as client:
            client.call("sim.read_card", uid=CARD)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    conn = sqlite3.connect(f"file:{config.events_db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT wall, uid, granted, reason, data, clock_trusted "
                            "FROM events WHERE kind = 'tap'").fetchall()
    finally:
        conn.close()
    [(wall, uid, granted, reason, data, trusted)] = rows
    return {"wall": wall, "uid": uid, "granted": bool(granted), "reason": reason,
            "data": json.loads(data), "clock_trusted": bool(trusted)}


def test_paid_through_8_july_opens_at_2359_shanghai(tmp_path: Path) -> None:
    tap = tap_at(lane(tmp_path, ExpiredPolicy.REFUSE, LAST_MINUTE), LAST_MINUTE)
    # The gate's clock really was the faked one, in UTC, and trusted.
    assert abs(tap["wall"] - LAST_MINUTE.timestamp()) < 30
    assert tap["clock_trusted"] is True
    assert (tap["uid"], tap["granted"], tap["reason"]) == (CARD, True, "granted")
    assert tap["data"]["space_class"] == "monthly" and tap["data"]["days_left"] == 0


def test_refused_at_midnight_shanghai_under_the_refuse_policy(tmp_path: Path) -> None:
    tap = tap_at(lane(tmp_path, ExpiredPolicy.REFUSE, MIDNIGHT), MIDNIGHT)
    assert abs(tap["wall"] - MIDNIGHT.timestamp()) < 30
    assert (tap["granted"], tap["reason"]) == (False, "parking_expired")


def test_let_in_as_a_temporary_car_at_midnight_under_the_temporary_policy(
        tmp_path: Path) -> None:
    tap = tap_at(lane(tmp_path, ExpiredPolicy.TEMPORARY, MIDNIGHT), MIDNIGHT)
    assert (tap["granted"], tap["reason"]) == (True, "granted")
    assert tap["data"]["flags"] == ["as_temporary"]
    assert tap["data"]["space_class"] == "temporary"


def tap_shown(tmp_path: Path, policy: ExpiredPolicy, at: datetime,
              grace_days: int = 0) -> tuple[dict[str, Any], list[str]]:
    """The tap at ``at`` and what the lane's display showed for it."""
    display = LaneDisplaySim(tmp_path / "display.tty", tmp_path / "display.json")
    display.start()
    try:
        tap = tap_at(lane(tmp_path, policy, at, grace_days=grace_days,
                          display=tmp_path / "display.tty"), at)
    finally:
        display.stop()
    shown = read_state(tmp_path / "display.json")
    said = [str(line) for line in shown.get("said", [])]
    return tap, said


def test_the_display_reminds_of_the_days_left_in_the_site_timezone(tmp_path: Path) -> None:
    # 3 July 23:30 in Shanghai is 15:30 UTC: five days left (through 8 July), within the
    # site's seven reminder days.
    at = datetime(2026, 7, 3, 15, 30, tzinfo=UTC)
    tap, said = tap_shown(tmp_path, ExpiredPolicy.REFUSE, at)
    assert (tap["granted"], tap["data"]["days_left"]) == (True, 5)
    assert any("月卡剩余5天" in line for line in said), said


def test_held_for_the_guard_at_midnight_under_the_guard_policy(tmp_path: Path) -> None:
    tap, said = tap_shown(tmp_path, ExpiredPolicy.GUARD, MIDNIGHT)
    assert (tap["granted"], tap["reason"]) == (False, "guard_confirm")
    assert any("岗亭" in line for line in said), said


def test_let_in_through_the_grace_days_and_not_a_day_after(tmp_path: Path) -> None:
    last_grace = MIDNIGHT + timedelta(days=2, hours=23, minutes=59)  # 11 July 23:59 local
    tap = tap_at(lane(tmp_path / "a", ExpiredPolicy.REFUSE, last_grace, grace_days=3),
                 last_grace)
    assert (tap["granted"], tap["reason"]) == (True, "granted")
    assert tap["data"]["flags"] == ["parking_grace"]
    after = MIDNIGHT + timedelta(days=3)  # 12 July 00:00 local
    tap = tap_at(lane(tmp_path / "b", ExpiredPolicy.REFUSE, after, grace_days=3), after)
    assert (tap["granted"], tap["reason"]) == (False, "parking_expired")
