"""Standing modes (hold-open, lockdown) survive a restart until released or expired, and every
change says who asked: the gate's own tests, then a real gate process killed mid-lockdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.control_socket import ControlClient, wait_until_answering
from edge.decision import Reason
from tests.edge.conftest import GateRig, commission, door_doc, write_doc

STRIKE = "GPIO17"


def kinds(rig: GateRig) -> list[str]:
    return [e.kind for e in rig.gate.journal.read()]


def test_a_lockdown_survives_a_restart_until_released(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    doc = door_doc(tmp_path / "data")
    rig = make_gate(doc)
    rig.gate.remote_command("lockdown", "desk:lead", "nonce-0001")
    rig.gate.shutdown()
    again = make_gate(doc)
    assert again.gate.mode == "lockdown"
    outcome = again.gate.handle_tap("04A1B2C3")
    assert not outcome.granted and outcome.reason is Reason.LOCKDOWN
    restored = [e for e in again.gate.journal.read() if e.kind == "mode_restored"]
    assert [(e.data["mode"], e.data["set_by"]) for e in restored] == [("lockdown", "desk:lead")]
    again.gate.remote_command("release", "desk:lead", "nonce-0002")
    again.gate.shutdown()
    third = make_gate(doc)
    assert third.gate.mode == "normal"
    assert third.gate.handle_tap("04A1B2C3").granted


def test_a_hold_open_survives_a_restart_and_keeps_the_strike_unlocked(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    doc = door_doc(tmp_path / "data")
    rig = make_gate(doc)
    rig.gate.remote_command("hold_open", "desk:lead", "nonce-0003")
    rig.gate.shutdown()
    again = make_gate(doc)
    assert again.factory.pin(STRIKE).state  # unlocked again after the restart
    again.scheduler.advance(120)
    assert again.factory.pin(STRIKE).state
    assert again.gate.status()["mode"] == "hold_open"


def test_a_timed_hold_open_ends_by_itself_and_is_journalled(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path / "data"))
    until = time.time() + 60
    rig.gate.set_local_mode("hold_open", "Wang", "delivery", until=until)
    assert rig.factory.pin(STRIKE).state
    assert rig.gate.status()["mode_until"] == until
    rig.scheduler.advance(30)
    assert rig.factory.pin(STRIKE).state
    rig.scheduler.advance(31)
    assert not rig.factory.pin(STRIKE).state
    assert rig.gate.mode == "normal"
    expired = [e for e in rig.gate.journal.read() if e.kind == "mode_expired"]
    assert [e.data["mode"] for e in expired] == ["hold_open"]
    assert not rig.config.mode_state.exists()


def test_a_mode_whose_time_ran_out_while_stopped_is_not_restored(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    doc = door_doc(tmp_path / "data")
    rig = make_gate(doc)
    rig.gate.set_local_mode("lockdown", "Wang", "drill", until=time.time() + 3600)
    rig.gate.shutdown()
    saved = json.loads(rig.config.mode_state.read_text())
    saved["until"] = time.time() - 1  # as if the gate had been off for that hour
    rig.config.mode_state.write_text(json.dumps(saved))
    again = make_gate(doc)
    assert again.gate.mode == "normal"
    assert again.gate.handle_tap("04A1B2C3").granted
    expired = [e for e in again.gate.journal.read() if e.kind == "mode_expired"]
    assert expired and expired[0].data["while_stopped"] is True


def test_a_damaged_mode_file_raises_an_alarm_and_starts_normal(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    doc = door_doc(tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mode.json").write_text('{"mode": "lockd')
    rig = make_gate(doc)
    alarms = [e for e in rig.gate.journal.read() if e.kind == "mode_file_unreadable"]
    assert len(alarms) == 1 and alarms[0].alarm
    assert rig.gate.mode == "normal"


def test_a_guards_mode_change_needs_a_name_and_a_reason_and_a_sane_end(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path / "data"))
    with pytest.raises(ValueError):
        rig.gate.set_local_mode("lockdown", "", "drill")
    with pytest.raises(ValueError):
        rig.gate.set_local_mode("lockdown", "Wang", " ")
    with pytest.raises(ValueError):
        rig.gate.set_local_mode("sleep", "Wang", "drill")
    with pytest.raises(ValueError):
        rig.gate.set_local_mode("lockdown", "Wang", "drill", until=time.time() - 5)
    assert rig.gate.mode == "normal"
    assert "mode_command" not in kinds(rig)


# ---------------------------------------------------------------- a real gate process


def start_gate(config_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                             str(config_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args, "--config",
                           str(config_path)], capture_output=True, text=True, timeout=30)


def test_a_lockdown_set_through_the_socket_outlives_sigkill_and_open_tells_the_truth(
        tmp_path: Path) -> None:
    config = write_doc(tmp_path / "door.toml", door_doc(tmp_path / "data"))
    commission(config)
    proc = start_gate(config.source)
    try:
        wait_until_answering(config.control_socket, 20, proc)
        done = cli(config.source, "mode", "lockdown", "--guard", "Wang", "--reason", "fire drill")
        assert done.returncode == 0, done.stderr
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        proc = start_gate(config.source)
        wait_until_answering(config.control_socket, 20, proc)
        with ControlClient(config.control_socket) as client:
            assert client.call("status")["mode"] == "lockdown"
            tap = client.call("sim.read_card", uid="04A1B2C3")
            assert (tap["granted"], tap["reason"]) == (False, "lockdown")
            events = client.call("events", n=50)
        # A guard's open is refused in lockdown, and the command line says so.
        refused = cli(config.source, "open", "--guard", "Wang", "--reason", "visitor")
        assert refused.returncode == 1 and "NOT opened" in refused.stderr
        changed = [e for e in events if e["kind"] == "mode_command"]
        assert len(changed) == 1
        data = changed[0]["data"]
        assert (data["mode"], data["guard"], data["reason"]) == ("lockdown", "Wang",
                                                                "fire drill")
        assert data["caller"]["process"] and data["caller"]["uid"] == os.geteuid()
        assert cli(config.source, "mode", "normal", "--guard", "Wang",
                   "--reason", "drill over").returncode == 0
        opened = cli(config.source, "open", "--guard", "Wang", "--reason", "visitor")
        assert opened.returncode == 0 and opened.stdout.startswith("opened")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_a_command_carries_an_end_time_only_for_a_standing_mode() -> None:
    from sync.wire.command import Command
    from sync.wire.payload import ProtocolError

    now = time.time()
    held = Command("s", "d", "hold_open", "nonce-0001", now, now + 10, "desk:lead", now + 600)
    assert Command.parse(held.dump()).until == now + 600
    plain = Command("s", "d", "lockdown", "nonce-0002", now, now + 10, "desk:lead")
    assert "until" not in json.loads(plain.dump())  # a v1 gate of before sees what it knew
    for bad in (Command("s", "d", "open_once", "nonce-0003", now, now + 10, "x", now + 60),
                Command("s", "d", "lockdown", "nonce-0004", now, now + 10, "x", now - 1),
                Command("s", "d", "lockdown", "nonce-0005", now, now + 10, "x",
                        now + 8 * 86400)):
        with pytest.raises(ProtocolError):
            Command.parse(bad.dump())
