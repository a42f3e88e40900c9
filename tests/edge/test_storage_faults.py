"""Storage faults, made for real, under a real gate process: a data folder on a small tmpfs
that is filled, files damaged on disk before and during a run, folders that cannot be used.
The gate never dies of them: it refuses what needs a record, keeps egress working, says so,
and recovers by itself."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.barrier import BarrierState
from edge.control_socket import ControlClient
from edge.exit_codes import ExitCode
from edge.gate_storage import DAMAGED_KIND
from edge.journal_guard import UNAVAILABLE_KIND
from firmware_config.schema import EdgeConfig
from hardware_sim.barrier_physics import BarrierArmSim
from hardware_sim.lane_physics import LaneSim
from hardware_sim.observed_pins import read_outputs_log
from tests.edge.conftest import GateRig, barrier_doc, commission, door_doc, write_doc
from tests.edge.gate_process import (
    NotifySocket,
    damage_pages,
    fill,
    moved_aside,
    small_tmpfs,
    start_gate,
    stop_gate,
    table_pages,
    wait_for,
)

VALID = "04A1B2C3"  # granted at door-1 by the test cards
STRIKE = "GPIO17"
MANY_CARDS = "uid,status,valid_from,valid_until,access_groups\n" + "".join(
    f"{0x10000000 + i:08X},active,2020-01-01,2099-12-31,b1\n" for i in range(4000))


def door(tmp_path: Path, data: Path, cards: str | None = None) -> EdgeConfig:
    """A simulated door with its data in ``data`` and its outputs logged outside it."""
    doc = door_doc(data, pulse="200ms")
    doc["simulation"] = {"outputs_log": str(tmp_path / "outputs.log")}
    config = write_doc(tmp_path / "door.toml", doc)
    commission(config)
    if cards is not None:
        commission(config, cards)
    return config


def strike_on(config: EdgeConfig) -> list[float]:
    """When the strike was driven active, from the outputs log."""
    assert config.simulation is not None and config.simulation.outputs_log is not None
    return [mono for mono, _pid, pin, high in read_outputs_log(config.simulation.outputs_log)
            if pin == STRIKE and high]


def events(config: EdgeConfig, path: Path | None = None) -> list[dict[str, Any]]:
    """Every event of a journal file, read from outside the gate."""
    conn = sqlite3.connect(f"file:{path or config.events_db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT seq, kind, alarm, granted, reason, data FROM events "
                            "ORDER BY seq").fetchall()
    finally:
        conn.close()
    return [{"seq": s, "kind": k, "alarm": bool(a), "granted": g, "reason": r,
             "data": json.loads(d)} for s, k, a, g, r, d in rows]


def tap(client: ControlClient, uid: str = VALID) -> dict[str, Any]:
    result = client.call("sim.read_card", uid=uid)
    assert isinstance(result, dict)
    return result


def checks_done(client: ControlClient) -> bool:
    """The background quick_check has looked at every file (a gate that has none, like
    the one before it existed, has nothing to wait for)."""
    storage = client.call("status").get("storage")
    if storage is None:
        return True
    checks = storage["checks"]
    return len(checks) >= 2 and all(v != "pending" for v in checks.values())


# ------------------------------------------------------------------------------ full disk


@pytest.mark.timeout(120)
def test_a_full_disk_refuses_grants_keeps_rex_and_recovers_by_itself(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "data", "2m") as data:
        config = door(tmp_path, data)
        notify = NotifySocket(tmp_path / "notify.sock")
        proc = start_gate(config, stderr=tmp_path / "gate.log",
                          env={"NOTIFY_SOCKET": str(notify.path)})
        try:
            with ControlClient(config.control_socket) as client:
                assert tap(client)["granted"]
                time.sleep(0.3)  # the pulse ends
                ballast = fill(data)
                opened_before = len(strike_on(config))

                refused = tap(client)
                assert refused == {"seq": 0, "granted": False, "reason": "journal_unavailable"}
                time.sleep(0.1)
                assert len(strike_on(config)) == opened_before, "opened with no record"
                assert proc.poll() is None

                # Egress: the exit button still opens, though nothing can be journalled.
                client.call("sim.rex")
                wait_for(lambda: len(strike_on(config)) == opened_before + 1, 5, "REX opening")
                # And so does the guard's manual open, telling the guard it is not recorded.
                time.sleep(0.4)
                opened = client.call("open", guard="Wang", reason="delivery")
                assert opened == {"seq": 0, "opened": True}
                wait_for(lambda: len(strike_on(config)) == opened_before + 2, 5, "manual open")

                status = client.call("status")["storage"]
                assert status["healthy"] is False
                assert "full" in status["journal"]["error"]
                assert status["journal"]["unwritten_events"] >= 3  # tap, rex, manual open
                assert proc.poll() is None
                # systemctl status says so too.
                wait_for(lambda: any(line.startswith("STORAGE FAULT: events.db")
                                     for line in notify.statuses()), 5, "STATUS=")

                # Space comes back: no restart, the next tap is granted and journalled after
                # one alarm counting what could not be written.
                ballast.unlink()
                time.sleep(0.3)
                granted = tap(client)
                assert granted["granted"] and granted["seq"] > 0
                wait_for(lambda: client.call("status")["storage"]["healthy"], 5, "healthy")
                wait_for(lambda: notify.statuses()[-1] == "ready; storage ok", 5, "STATUS=")
        finally:
            notify.close()
            assert proc.poll() is None, "the gate exited on its own"
            assert stop_gate(proc) == 0
        journal = events(config)
    [alarm] = [e for e in journal if e["kind"] == UNAVAILABLE_KIND]
    assert alarm["alarm"]
    assert alarm["data"]["kinds"]["tap"] == 1
    assert alarm["data"]["kinds"]["rex"] == 1
    assert alarm["data"]["kinds"]["manual_open"] == 1
    assert alarm["data"]["unwritten"] == sum(alarm["data"]["kinds"].values())
    assert "full" in alarm["data"]["error"]
    seqs = [e["seq"] for e in journal]
    assert seqs == list(range(1, len(seqs) + 1))
    taps = [e for e in journal if e["kind"] == "tap"]
    assert [t["granted"] for t in taps] == [1, 1]  # the refused tap is only counted


def test_a_barrier_moves_through_a_full_disk_without_its_journal(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    # Output changes and the barrier's own events are reported, never waited for: a journal
    # that cannot take them must not stop the state machine half-way (the arm up, the car
    # through, the arm down), nor anti-passback's presence file.
    with small_tmpfs(tmp_path / "data", "2m") as data:
        physics: dict[str, Any] = {}

        def attach(rig: GateRig) -> None:
            assert rig.config.barrier is not None
            arm = BarrierArmSim(rig.factory, rig.config.barrier, rig.scheduler, 2.0)
            physics["lane"] = LaneSim(rig.factory, rig.config.barrier, rig.scheduler, arm)

        rig = make_gate(barrier_doc(data), before_start=attach)
        gate, lane = rig.gate, physics["lane"]
        rig.scheduler.advance(1)
        lane.vehicle_arrives()
        rig.scheduler.advance(1)
        assert gate.handle_tap("04A1B2C3").granted  # the entry, journalled
        ballast = fill(data)
        rig.scheduler.advance(3)  # the arm rises and stops at the open limit, unjournalled
        assert gate.actuator.status()["state"] == BarrierState.OPEN.value
        lane.drive_through()
        rig.scheduler.advance(30)
        assert gate.actuator.status()["state"] == BarrierState.CLOSED.value
        missing = gate.journal.missing
        assert missing >= 4  # raise off, lower on, lower off, the passing, the states
        ballast.unlink()
        rig.scheduler.advance(2)  # the storage tick writes the count
        [alarm] = [e for e in gate.journal.read() if e.kind == UNAVAILABLE_KIND]
        assert alarm.data["unwritten"] == missing
        kinds = alarm.data["kinds"]
        assert isinstance(kinds, dict) and kinds["output"] == 3
        gate.shutdown()


# -------------------------------------------------------------------------- damaged files


@pytest.mark.timeout(120)
def test_a_damaged_whitelist_is_moved_aside_and_every_tap_refused_until_a_list_comes(
        tmp_path: Path) -> None:
    config = door(tmp_path, tmp_path / "data", MANY_CARDS)
    # A failing SD card: junk over pages in the middle of the file, including the meta
    # table's page the gate reads at start (today: exit 1, and systemd retries for ever).
    pages = table_pages(config.auth_db, "cards")
    meta = table_pages(config.auth_db, "meta")
    damage_pages(config.auth_db, pages[len(pages) // 2], 3)
    damage_pages(config.auth_db, meta[0])
    damaged = config.auth_db.read_bytes()
    proc = start_gate(config, stderr=tmp_path / "gate.log")
    try:
        with ControlClient(config.control_socket) as client:
            wait_for(lambda: moved_aside(config.auth_db), 10, "the damaged whitelist moved")
            result = tap(client)
            assert result["granted"] is False
            assert result["reason"] == "whitelist_unavailable"
            status = client.call("status")
            assert status["storage"]["whitelist_lost"] is True
            assert status["whitelist"]["applied_seq"] == 0
    finally:
        assert proc.poll() is None, "the gate exited on its own"
        assert stop_gate(proc) == 0
    [kept] = moved_aside(config.auth_db)
    assert kept.read_bytes() == damaged, "the damaged file must be kept as it was"
    [alarm] = [e for e in events(config) if e["kind"] == DAMAGED_KIND]
    assert alarm["alarm"]
    assert alarm["data"]["file"] == str(config.auth_db)
    assert alarm["data"]["moved_to"] == str(kept)


@pytest.mark.timeout(120)
def test_a_damaged_journal_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    config = door(tmp_path, tmp_path / "data")
    stop_gate(start_gate(config))
    old_events = len(events(config))
    damage_pages(config.events_db, 1)  # the header: "file is not a database"
    proc = start_gate(config, stderr=tmp_path / "gate.log")
    try:
        with ControlClient(config.control_socket) as client:
            assert tap(client)["granted"]
    finally:
        assert proc.poll() is None, "the gate exited on its own"
        assert stop_gate(proc) == 0
    [kept] = moved_aside(config.events_db)
    assert kept.stat().st_size > 0 and old_events > 0
    journal = events(config)
    assert [e["kind"] for e in journal[:2]] == ["boot", "config_loaded"]
    assert [e["seq"] for e in journal] == list(range(1, len(journal) + 1))
    [alarm] = [e for e in journal if e["kind"] == DAMAGED_KIND]
    assert alarm["alarm"] and alarm["data"]["moved_to"] == str(kept)
    assert "not a database" in alarm["data"]["reason"]


@pytest.mark.timeout(120)
def test_a_lookup_that_hits_a_damaged_page_while_running_is_refused(tmp_path: Path) -> None:
    config = door(tmp_path, tmp_path / "data", MANY_CARDS)
    leaves = table_pages(config.auth_db, "cards")
    proc = start_gate(config, stderr=tmp_path / "gate.log")
    try:
        with ControlClient(config.control_socket) as client:
            wait_for(lambda: checks_done(client), 20, "the start-up check")
            # The card pages go bad under the running gate (none of them was read yet).
            damage_pages(config.auth_db, leaves[1], len(leaves) - 1)
            result = tap(client, f"{0x10000000 + 2000:08X}")
            assert result["granted"] is False
            assert result["reason"] == "whitelist_unavailable"
            assert proc.poll() is None
            # The gate has the file replaced by itself: moved aside, a new empty whitelist.
            wait_for(lambda: moved_aside(config.auth_db), 10, "the damaged whitelist moved")
            wait_for(lambda: client.call("status")["storage"]["whitelist_lost"], 5, "lost")
            assert tap(client)["reason"] == "whitelist_unavailable"
    finally:
        assert proc.poll() is None, "the gate exited on its own"
        assert stop_gate(proc) == 0
    journal = events(config)
    refused = [e for e in journal if e["kind"] == "tap"]
    assert refused[0]["reason"] == "whitelist_unavailable"
    assert "malformed" in refused[0]["data"]["error"]
    assert [e for e in journal if e["kind"] == DAMAGED_KIND]


# ---------------------------------------------------------------------- permanent faults


def run_gate(config: EdgeConfig) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config",
                           str(config.source)], capture_output=True, text=True, timeout=30,
                          check=False)


def test_a_data_folder_that_cannot_be_created_is_a_permanent_fault(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    doc = door_doc(tmp_path / "file" / "data")
    config = write_doc(tmp_path / "door.toml", doc)
    result = run_gate(config)
    assert result.returncode == ExitCode.DATA_DIR, result.stderr
    assert "cannot be created" in result.stderr


def test_a_data_file_from_newer_software_is_a_permanent_fault(tmp_path: Path) -> None:
    config = door(tmp_path, tmp_path / "data")
    conn = sqlite3.connect(config.auth_db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    result = run_gate(config)
    assert result.returncode == ExitCode.DATA_TOO_NEW, result.stderr
    assert "schema version 99" in result.stderr
