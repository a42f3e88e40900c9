"""The gate as a process, driven from outside as a person or a test would: cards presented
through the tag emulator and nfcpy's udp driver, the CLI, signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from edge.auth_store import AuthStore
from edge.control_socket import ControlClient, wait_until_answering
from edge.journal import Journal
from edge.ports import SystemClock
from firmware_config.schema import EdgeConfig
from hardware_sim.local_ports import free_udp_port
from hardware_sim.observed_pins import read_outputs_log
from hardware_sim.tag_emulator import present_card
from tests.edge.conftest import commission, door_doc, write_doc

BIN = Path(sys.executable).parent


@dataclass
class RunningGate:
    config: EdgeConfig
    proc: subprocess.Popen[bytes]
    reader: str
    outputs_log: Path

    def strike_activations(self) -> int:
        return sum(1 for _m, _p, pin, high in read_outputs_log(self.outputs_log)
                   if pin == "GPIO17" and high)

    def events(self) -> list[dict[str, object]]:
        with ControlClient(self.config.control_socket) as client:
            result = client.call("events", n=200)
        assert isinstance(result, list)
        return result


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def running_gate(tmp_path: Path) -> Iterator[RunningGate]:
    port = free_udp_port(0)
    outputs_log = tmp_path / "outputs.log"
    doc = door_doc(tmp_path / "data", pulse="500ms")
    doc["reader"] = {"kind": "nfc", "path": f"udp:127.0.0.1:{port}", "debounce": "1s"}
    doc["simulation"] = {"outputs_log": str(outputs_log)}
    config = write_doc(tmp_path / "door.toml", doc)
    commission(config)
    proc = subprocess.Popen([str(BIN / "menwei-edge"), "run", "--config", str(config.source)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    gate = RunningGate(config, proc, f"udp:127.0.0.1:{port}", outputs_log)

    wait_until_answering(config.control_socket, 20, proc)
    yield gate
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_card_presented_through_nfcpy_opens_the_door(running_gate: RunningGate) -> None:
    present_card(running_gate.reader, "04A1B2C3", timeout_s=10)
    wait_for(lambda: running_gate.strike_activations() == 1)
    taps = [e for e in running_gate.events() if e["kind"] == "tap"]
    assert [(t["uid"], t["granted"], t["reason"]) for t in taps] == [
        ("04A1B2C3", True, "granted")]


def test_card_held_on_the_reader_counts_once_and_unknown_is_refused(
        running_gate: RunningGate) -> None:
    present_card(running_gate.reader, "04A1B2C3", hold_s=2.5, timeout_s=10)
    present_card(running_gate.reader, "DEADBEEF", timeout_s=10)
    wait_for(lambda: len([e for e in running_gate.events() if e["kind"] == "tap"]) == 2)
    taps = [(e["uid"], e["reason"]) for e in running_gate.events() if e["kind"] == "tap"]
    assert taps == [("04A1B2C3", "granted"), ("DEADBEEF", "unknown_card")]
    assert running_gate.strike_activations() == 1


def test_simulated_door_is_driven_from_outside(running_gate: RunningGate) -> None:
    cfg = str(running_gate.config.source)
    sim = [str(BIN / "menwei-sim"), "call", "--config", cfg]
    out = subprocess.run([*sim, "sim.push"], capture_output=True, text=True, check=True)
    assert '"opened": false' in out.stdout  # locked: pushing does nothing
    subprocess.run([*sim, "sim.rex"], check=True, capture_output=True)
    wait_for(lambda: running_gate.strike_activations() == 1)
    out = subprocess.run([*sim, "sim.outputs"], capture_output=True, text=True, check=True)
    assert '"strike": true' in out.stdout
    kinds = [e["kind"] for e in running_gate.events()]
    assert "rex" in kinds


def test_guard_opens_by_hand_with_the_cli(running_gate: RunningGate) -> None:
    cfg = str(running_gate.config.source)
    refused = subprocess.run([str(BIN / "menwei-edge"), "open", "--config", cfg, "--guard",
                              "Wang", "--reason", " "], capture_output=True, text=True)
    assert refused.returncode == 2 and "reason" in refused.stderr
    assert running_gate.strike_activations() == 0
    subprocess.run([str(BIN / "menwei-edge"), "open", "--config", cfg, "--guard", "Wang",
                    "--reason", "ambulance"], check=True, capture_output=True)
    wait_for(lambda: running_gate.strike_activations() == 1)
    manual: list[Any] = [e["data"] for e in running_gate.events() if e["kind"] == "manual_open"]
    assert [(m["guard"], m["reason"]) for m in manual] == [("Wang", "ambulance")]
    # Who asked, as the kernel says: the menwei-edge command line.
    assert manual[0]["caller"]["process"] == "menwei-edge"
    status = subprocess.run([str(BIN / "menwei-edge"), "status", "--config", cfg],
                            capture_output=True, text=True, check=True)
    assert '"role": "door"' in status.stdout


def test_sigterm_makes_outputs_safe_and_exits_promptly(running_gate: RunningGate) -> None:
    running_gate.proc.stdout.close()  # type: ignore[union-attr]
    present_card(running_gate.reader, "04A1B2C3", timeout_s=10)
    wait_for(lambda: running_gate.strike_activations() == 1)
    started = time.monotonic()
    running_gate.proc.send_signal(signal.SIGTERM)
    assert running_gate.proc.wait(5) == 0
    # The bound: safe state and exit within 2 s of SIGTERM.
    assert time.monotonic() - started < 2.0
    last = [(pin, high) for _m, _p, pin, high in read_outputs_log(running_gate.outputs_log)]
    assert last[-1] == ("GPIO17", False)  # fail-secure strike left locked
    journal = Journal(running_gate.config.events_db, SystemClock(), max_events=10_000)
    assert journal.tail(1)[0].kind == "shutdown"
    assert not running_gate.config.control_socket.exists()


def test_bad_config_is_refused_at_start_with_every_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nid = "x"\n[device]\nid = "d"\nrole = "gate"\n'
                   'access_groups = ["a"]\ndata_dir = "d"\n[gpio]\nbackend = "simulated"\n'
                   '[journal]\nmax_event = 5\n')
    for argv in (["run", "--config", str(bad)], ["check-config", str(bad)]):
        result = subprocess.run([str(BIN / "menwei-edge"), *argv], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 2
        assert "device.role: 'gate' is not one of" in result.stderr
        assert "journal.max_event: is not a known setting" in result.stderr
    assert not (tmp_path / "d").exists()  # nothing was created for a refused config


def test_check_config_accepts_the_shipped_profiles() -> None:
    profiles = sorted((Path(__file__).parents[2] / "firmware_config" / "profiles")
                      .glob("*.toml"))
    result = subprocess.run([str(BIN / "menwei-edge"), "check-config", *map(str, profiles)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok (") == len(profiles) == 4


def test_load_cards_cli_reports_bad_lines_and_loads_nothing(tmp_path: Path) -> None:
    config = write_doc(tmp_path / "door.toml", door_doc(tmp_path / "data"))
    (tmp_path / "bad.csv").write_text("uid,status\n04A1B2C3,active\nZZ,active\n")
    result = subprocess.run([str(BIN / "menwei-edge"), "load-cards", "--config",
                             str(config.source), str(tmp_path / "bad.csv")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "line 3, uid" in result.stderr
    assert AuthStore(config.auth_db).count() == 0
    (tmp_path / "good.csv").write_text("uid,status\n04A1B2C3,active\n")
    result = subprocess.run([str(BIN / "menwei-edge"), "load-cards", "--config",
                             str(config.source), str(tmp_path / "good.csv")],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "loaded 1 card" in result.stdout
    assert os.path.exists(config.auth_db)
