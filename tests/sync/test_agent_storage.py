"""The sync agent through storage faults, as processes (``menwei-sync run``, and the gate's
``menwei-edge run`` beside it) against a real Mosquitto: it never dies of a full disk or a
damaged file, it moves a damaged file aside only when nobody has it open, and a replaced
whitelist is followed at once by a catch-up from 0."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.control_socket import ControlClient
from edge.exit_codes import ExitCode
from edge.gate_storage import DAMAGED_KIND
from firmware_config.schema import EdgeConfig
from tests.edge.gate_process import (
    damage_pages,
    fill,
    moved_aside,
    small_tmpfs,
    start_gate,
    stop_gate,
    table_pages,
    wait_for,
)
from tests.sync.conftest import Broker
from tests.sync.test_edge_agent import Central, agent_config, card, commission

MANY = [card(0x10000000 + i) for i in range(4000)]


@pytest.fixture
def central(broker: Broker, key: Ed25519PrivateKey) -> Iterator[Central]:
    c = Central(broker, key)
    yield c
    c.close()


def start_agent(config: EdgeConfig, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "sync.cli", "run", "--config",
                                 str(config.source)], stdout=subprocess.DEVNULL, stderr=err)


def stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
    return proc.wait(15)


def alarms(config: EdgeConfig, kind: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"file:{config.events_db}?mode=ro", uri=True)
    try:
        return [json.loads(d) for (d,) in conn.execute(
            "SELECT data FROM events WHERE kind = ? AND alarm = 1 ORDER BY seq", (kind,))]
    finally:
        conn.close()


@pytest.mark.timeout(120)
def test_the_agent_waits_out_a_full_disk_at_start_and_then_starts(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, central: Central) -> None:
    with small_tmpfs(tmp_path / "gate-data", "2m") as data:
        config = agent_config(tmp_path, broker, key)
        commission(config, [card(1)], applied_seq=3)
        ballast = fill(data)  # sync.db (and events.db) cannot be created
        proc = start_agent(config, tmp_path / "agent.log")
        try:
            wait_for(lambda: proc.poll() is not None
                     or "trying again" in (tmp_path / "agent.log").read_text(), 20,
                     "a failed start")
            assert proc.poll() is None, "the agent exited on a full disk"
            assert central.catchups_after() == []
            ballast.unlink()
            # No restart needed: the next try opens everything and connects.
            wait_for(lambda: central.catchups_after() == [3], 30, "the agent started")
            assert proc.poll() is None
        finally:
            assert stop(proc) == ExitCode.OK


@pytest.mark.timeout(120)
def test_a_whitelist_the_agent_finds_damaged_is_moved_aside_and_caught_up_from_0(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, central: Central) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, [card(1)], applied_seq=7)
    damage_pages(config.auth_db, 1)  # "file is not a database": today the agent exits 1
    proc = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: central.catchups_after() == [0], 20, "a catch-up from 0")
        assert proc.poll() is None
    finally:
        assert stop(proc) == ExitCode.OK
    [kept] = moved_aside(config.auth_db)
    [alarm] = alarms(config, DAMAGED_KIND)
    assert alarm["file"] == str(config.auth_db) and alarm["moved_to"] == str(kept)


@pytest.mark.timeout(120)
def test_gate_and_agent_starting_together_move_a_damaged_file_once(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, central: Central) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, [card(1)], applied_seq=7)
    damage_pages(config.auth_db, 1)
    agent = start_agent(config, tmp_path / "agent.log")
    gate = start_gate(config, stderr=tmp_path / "gate.log")
    try:
        wait_for(lambda: 0 in central.catchups_after(), 20, "a catch-up from 0")
        assert len(moved_aside(config.auth_db)) == 1
        assert len(alarms(config, DAMAGED_KIND)) == 1
        assert agent.poll() is None and gate.poll() is None
    finally:
        assert stop_gate(gate) == 0
        assert stop(agent) == ExitCode.OK


@pytest.mark.timeout(120)
def test_damage_the_gate_finds_while_both_run_gets_the_file_replaced_and_a_catchup(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, central: Central) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, MANY, applied_seq=9)
    pages = table_pages(config.auth_db, "cards")
    gate = start_gate(config, stderr=tmp_path / "gate.log")
    agent = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: central.catchups_after() == [9], 20, "the agent connected")
        damage_pages(config.auth_db, pages[1], len(pages) - 1)
        with ControlClient(config.control_socket) as client:
            result = client.call("sim.read_card", uid=MANY[2000].uid)
            assert result["reason"] == "whitelist_unavailable"
        # The agent lets go of auth.db, whoever gets it first moves it, and the agent,
        # restarted in-process, asks for everything after 0.
        wait_for(lambda: central.catchups_after()[-1:] == [0], 30, "a catch-up from 0")
        assert len(moved_aside(config.auth_db)) == 1
        assert agent.poll() is None and gate.poll() is None
    finally:
        assert stop_gate(gate) == 0
        assert stop(agent) == ExitCode.OK


@pytest.mark.timeout(120)
def test_damage_the_agent_finds_while_applying_gets_the_file_replaced_and_a_catchup(
        tmp_path: Path, broker: Broker, key: Ed25519PrivateKey, central: Central) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, MANY, applied_seq=9)
    pages = table_pages(config.auth_db, "cards")
    agent = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: central.catchups_after() == [9], 20, "the agent connected")
        damage_pages(config.auth_db, pages[1], len(pages) - 1)
        # A change to cards on the damaged pages: the agent's own write finds the damage.
        central.send_changes(10, [card(0x10000000 + 2000), card(0x10000000 + 3000)])
        wait_for(lambda: central.catchups_after()[-1:] == [0], 30, "a catch-up from 0")
        assert len(moved_aside(config.auth_db)) == 1
        assert agent.poll() is None
    finally:
        assert stop(agent) == ExitCode.OK
    [alarm] = alarms(config, DAMAGED_KIND)
    assert alarm["file"] == str(config.auth_db)


def test_permanent_faults_have_their_own_exit_codes(tmp_path: Path, broker: Broker,
                                                    key: Ed25519PrivateKey) -> None:
    config = agent_config(tmp_path, broker, key)
    commission(config, [card(1)], applied_seq=1)
    conn = sqlite3.connect(config.auth_db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    run = [sys.executable, "-m", "sync.cli", "run", "--config", str(config.source)]
    result = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == ExitCode.DATA_TOO_NEW, result.stderr

    (tmp_path / "blocked").write_text("a file where the data folder should be")
    text = config.source.read_text().replace(str(config.device.data_dir),
                                             str(tmp_path / "blocked" / "data"))
    config.source.write_text(text)
    result = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == ExitCode.DATA_DIR, result.stderr
