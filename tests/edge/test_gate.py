"""The gate end to end in-process: real stores, real journal, simulated pins and door."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.clock_files import save_mark
from edge.decision import Reason
from hardware_sim.door_physics import DoorSim
from tests.edge.conftest import FixedClockSync, GateRig, door_doc


def committed_taps(path: Path) -> list[tuple[int, str, int, str]]:
    """Tap events as another process would see them: only what is committed."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT seq, uid, granted, reason FROM events WHERE kind = 'tap' "
                            "ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_grant_event_is_durable_before_the_relay_fires(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    seen_at_relay: list[list[tuple[int, str, int, str]]] = []

    def on_output(pin: str, high: bool, _mono: float) -> None:
        if pin == "GPIO17" and high:
            seen_at_relay.append(committed_taps(rig.config.events_db))

    rig.factory.observers.append(on_output)
    outcome = rig.gate.handle_tap("04A1B2C3")
    assert outcome.granted
    assert len(seen_at_relay) == 1
    assert seen_at_relay[0][-1] == (outcome.seq, "04A1B2C3", 1, "granted")


@pytest.mark.parametrize(("uid", "reason"), [
    ("DEADBEEF", Reason.UNKNOWN_CARD),
    ("0A0B0C0D", Reason.LOST),
    ("0E0E0E0E", Reason.EXPIRED),
])
def test_denied_taps_are_journalled_with_reason_and_never_pulse(
        make_gate: Callable[..., GateRig], tmp_path: Path, uid: str, reason: Reason) -> None:
    rig = make_gate(door_doc(tmp_path))
    outcome = rig.gate.handle_tap(uid)
    assert not outcome.granted and outcome.reason is reason
    assert committed_taps(rig.config.events_db) == [(outcome.seq, uid, 0, reason.value)]
    assert rig.transitions == []
    event = rig.gate.journal.read(outcome.seq - 1, 1)[0]
    assert isinstance(event.data["latency_us"], int)


def test_start_journals_boot_and_config_and_pulses_nothing(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    for lock_type in ("fail_secure", "fail_safe"):
        rig = make_gate(door_doc(tmp_path / lock_type, lock_type=lock_type))
        kinds = [e.kind for e in rig.gate.journal.read()]
        assert kinds[:2] == ["boot", "config_loaded"]
        rig.scheduler.advance(10)
        # A fail-safe maglock is energised once, to lock (unpowered it was already unlocked
        # before the gate ran); a fail-secure strike is never touched. Nothing unlocks.
        expected = [("GPIO17", True)] if lock_type == "fail_safe" else []
        assert [t[:2] for t in rig.transitions] == expected, lock_type
        rig.transitions.clear()


def test_every_output_change_is_journalled(make_gate: Callable[..., GateRig],
                                           tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    rig.gate.handle_tap("04A1B2C3")
    rig.scheduler.advance(5)
    outputs = [e.data for e in rig.gate.journal.read() if e.kind == "output"]
    assert outputs == [{"name": "strike", "active": True}, {"name": "strike", "active": False}]


def test_manual_open_records_guard_and_reason_first(make_gate: Callable[..., GateRig],
                                                    tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    with pytest.raises(ValueError):
        rig.gate.manual_open("", "ambulance")
    with pytest.raises(ValueError):
        rig.gate.manual_open("Wang", "  ")
    assert rig.transitions == []
    seq = rig.gate.manual_open("Wang", "ambulance")
    events = rig.gate.journal.read()
    manual = next(e for e in events if e.seq == seq)
    assert manual.kind == "manual_open" and manual.data == {"guard": "Wang", "reason": "ambulance"}
    assert rig.transitions[0][:2] == ("GPIO17", True)
    assert next(e.kind for e in events if e.seq > seq) == "output"


def test_shutdown_puts_the_strike_in_its_safe_state(make_gate: Callable[..., GateRig],
                                                    tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    rig.gate.handle_tap("04A1B2C3")
    assert rig.factory.pin("GPIO17").state
    rig.gate.shutdown()
    assert not rig.factory.pin("GPIO17").state  # fail-secure: unpowered strike is locked


def test_clock_behind_high_water_mark_is_untrusted_and_tagged(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    # A mark a day ahead: this boot's clock reads earlier than a previous one.
    save_mark(tmp_path / "clock.json", time.time() + 86400)
    rig = make_gate(door_doc(tmp_path), clock_sync=FixedClockSync(False))
    events = rig.gate.journal.read()
    trust = next(e for e in events if e.kind == "clock_trust")
    assert trust.alarm and trust.data["trusted"] is False
    assert trust.data["cause"] == "clock behind saved mark"
    outcome = rig.gate.handle_tap("04A1B2C3")  # nothing to check but its expiry
    assert outcome.granted
    tap = rig.gate.journal.read(outcome.seq - 1, 1)[0]
    assert tap.clock_trusted is False
    assert "flags" not in tap.data
    # Expired, and the floor proves it: an untrusted clock never makes it valid again.
    assert rig.gate.handle_tap("0E0E0E0E").reason is Reason.EXPIRED


def test_clock_untrusted_deny_all_policy(make_gate: Callable[..., GateRig],
                                         tmp_path: Path) -> None:
    save_mark(tmp_path / "clock.json", time.time() + 86400)
    doc: dict[str, Any] = door_doc(tmp_path)
    doc["clock"] = {"untrusted_policy": "deny_all"}
    rig = make_gate(doc, clock_sync=FixedClockSync(False))
    assert rig.gate.handle_tap("04A1B2C3").reason is Reason.CLOCK_UNTRUSTED


def test_door_forced_open_alarm_reaches_the_journal(make_gate: Callable[..., GateRig],
                                                    tmp_path: Path) -> None:
    sims: list[DoorSim] = []

    def attach(rig: GateRig) -> None:
        assert rig.config.door is not None
        sims.append(DoorSim(rig.factory, rig.config.door, rig.scheduler, 2.0))

    rig = make_gate(door_doc(tmp_path), before_start=attach)
    sims[0].force()
    rig.scheduler.advance(1)
    alarms = [e.kind for e in rig.gate.journal.read() if e.alarm]
    assert alarms == ["door_forced_open"]


def test_status_reports_backlog_and_recent_taps(make_gate: Callable[..., GateRig],
                                                tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    rig.gate.handle_tap("DEADBEEF")
    status = rig.gate.status()
    journal = status["journal"]
    assert isinstance(journal, dict)
    assert journal["backlog"] == journal["last_seq"] > 0
    assert status["recent_taps"] == [{"seq": rig.gate.journal.last_seq(), "uid": "DEADBEEF",
                                      "granted": False, "reason": "unknown_card"}]


def test_remote_lockdown_refuses_cards_and_release_restores(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    rig.gate.remote_command("lockdown", "desk:lead", "nonce-0001")
    outcome = rig.gate.handle_tap("04A1B2C3")
    assert not outcome.granted and outcome.reason is Reason.LOCKDOWN
    assert rig.transitions == []
    rig.gate.remote_command("release", "desk:lead", "nonce-0002")
    assert rig.gate.handle_tap("04A1B2C3").granted
    kinds = [e.data.get("command") for e in rig.gate.journal.read() if e.kind == "remote_command"]
    assert kinds == ["lockdown", "release"]


def test_remote_hold_open_and_open_once(make_gate: Callable[..., GateRig],
                                        tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path))
    rig.gate.remote_command("open_once", "desk:lead", "nonce-0003")
    assert rig.factory.pin("GPIO17").state
    rig.scheduler.advance(5)
    assert not rig.factory.pin("GPIO17").state
    rig.gate.remote_command("hold_open", "desk:lead", "nonce-0004")
    rig.scheduler.advance(60)
    assert rig.factory.pin("GPIO17").state  # still unlocked
    rig.gate.remote_command("release", "desk:lead", "nonce-0005")
    assert not rig.factory.pin("GPIO17").state
    with pytest.raises(ValueError):
        rig.gate.remote_command("explode", "desk:lead", "nonce-0006")
