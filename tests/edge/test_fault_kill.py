"""Fault test: the gate process is killed with SIGKILL at random moments during a stream of
taps, many times. After each restart the journal is intact and gap-free, every relay
activation seen on the pins has its grant event, and nothing pulses at restart."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.control_socket import CommandError, ControlClient, wait_until_answering
from firmware_config.schema import EdgeConfig
from hardware_sim.observed_pins import read_outputs_log
from tests.edge.conftest import commission, door_doc, write_doc

ROUNDS = int(os.environ.get("MENWEI_FAULT_ROUNDS", "25"))
STRIKE = "GPIO17"


def start_gate(config: EdgeConfig) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config",
                             str(config.source)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_until_answering(config.control_socket, 20, proc)
    return proc


def tap_stream(config: EdgeConfig, stop: threading.Event) -> None:
    uids = ["04A1B2C3", "DEADBEEF", "04A1B2C3", "0A0B0C0D"]
    try:
        with ControlClient(config.control_socket, timeout=2) as client:
            i = 0
            while not stop.is_set():
                client.call("sim.read_card", uid=uids[i % len(uids)])
                i += 1
                time.sleep(0.002)
    except (OSError, CommandError, ValueError):
        return  # the gate was killed under us: that is the point


def journal_rows(path: Path) -> list[tuple[int, str, float, int | None, int, str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return conn.execute(
            "SELECT seq, kind, mono, granted, 0, data FROM events ORDER BY seq").fetchall()
    finally:
        conn.close()


def check_activations_have_grants(rows: list[tuple[int, str, float, int | None, int, str]],
                                  outputs_log: Path) -> int:
    """Each strike activation must follow a grant (or manual open) journalled after the
    strike last went inactive: nothing opened without a durable record."""
    grants = sorted(mono for _seq, kind, mono, granted, _a, _d in rows
                    if (kind == "tap" and granted) or kind == "manual_open")
    transitions = [(mono, high) for mono, _pid, pin, high in read_outputs_log(outputs_log)
                   if pin == STRIKE]
    last_off = 0.0
    activations = 0
    for mono, high in transitions:
        if high:
            activations += 1
            assert any(last_off <= g <= mono for g in grants), \
                f"strike activated at {mono} with no grant journalled since {last_off}"
        else:
            last_off = mono
    return activations


@pytest.mark.timeout(600)
def test_sigkill_during_tap_stream_loses_nothing_and_never_pulses(tmp_path: Path) -> None:
    outputs_log = tmp_path / "outputs.log"
    doc = door_doc(tmp_path / "data", pulse="200ms")
    doc["simulation"] = {"outputs_log": str(outputs_log)}
    config = write_doc(tmp_path / "door.toml", doc)
    commission(config)
    rng = random.Random(int(os.environ.get("MENWEI_FAULT_SEED", "20261124")))
    total_activations = 0
    for round_no in range(ROUNDS):
        before = len(read_outputs_log(outputs_log))
        proc = start_gate(config)
        # No pulse at (re)start: give any stray output time to show, before any tap.
        time.sleep(0.1)
        new = read_outputs_log(outputs_log)[before:]
        assert not [e for e in new if e[2] == STRIKE and e[3]], \
            f"round {round_no}: the strike pulsed at restart"
        stop = threading.Event()
        tapper = threading.Thread(target=tap_stream, args=(config, stop))
        tapper.start()
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        stop.set()
        tapper.join(5)
        rows = journal_rows(config.events_db)
        auth = sqlite3.connect(f"file:{config.auth_db}?mode=ro", uri=True)
        assert auth.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        auth.close()
        seqs = [r[0] for r in rows]
        assert seqs == list(range(1, len(seqs) + 1)), f"round {round_no}: gap in sequence"
        total_activations = check_activations_have_grants(rows, outputs_log)
    # The run must actually have exercised the relay, or it proves nothing.
    assert total_activations >= ROUNDS
    boots = [r for r in journal_rows(config.events_db) if r[1] == "boot"]
    assert len(boots) == ROUNDS
