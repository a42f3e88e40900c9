"""A simulated compound on this machine: a lobby door and a car-park entry/exit lane pair,
each a real ``menwei-edge`` process with nfcpy's udp reader and simulated pins, as on a Pi."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from edge.auth_store import AuthStore, parse_cards_csv
from edge.control_socket import wait_until_answering

DEMO_CARDS = """uid,status,valid_from,valid_until,access_groups,schedule,holder_kind,plate
04A1B2C3,active,2024-01-01,2030-12-31,lobby|parking,,owner,沪A12345
04A1B2C3D4E5F6,active,2024-01-01,2030-12-31,lobby,,family,
0B0B0B0B,active,2024-01-01,2030-12-31,lobby,Mon-Sat 08:00-12:00 14:00-18:00,renovation_worker,
0C0C0C0C,lost,2024-01-01,2030-12-31,lobby|parking,,owner,
0D0D0D0D,active,2020-01-01,2021-01-01,lobby,,tenant,
"""

CARD_NOTES = {
    "04A1B2C3": "owner, lobby and car park (plate 沪A12345)",
    "04A1B2C3D4E5F6": "family member, lobby only (7-byte UID)",
    "0B0B0B0B": "renovation worker, Mon-Sat 08-12 and 14-18 only",
    "0C0C0C0C": "reported lost: refused everywhere",
    "0D0D0D0D": "tenant whose card expired in 2021",
}


@dataclass(frozen=True)
class SimGate:
    """One simulated controller of the compound."""

    name: str
    role: str
    reader_port: int
    config_path: Path


def free_udp_port(preferred: int) -> int:
    """A UDP port free on 127.0.0.1: ``preferred`` if it is, else one the kernel picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free UDP port on 127.0.0.1")


def _gate_doc(name: str, role: str, port: int, data_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "site": {"id": "demo-compound", "timezone": "Asia/Shanghai"},
        "device": {"id": name, "role": role,
                   "access_groups": ["lobby"] if role == "door" else ["parking"],
                   "data_dir": str(data_dir / name)},
        "reader": {"kind": "nfc", "path": f"udp:127.0.0.1:{port}", "debounce": "2s"},
        "gpio": {"backend": "simulated"},
        "simulation": {"outputs_log": str(data_dir / name / "outputs.log")},
    }
    if role == "door":
        doc["door"] = {"strike": {"pin": 17}, "pulse": "3s", "held_open_after": "30s",
                       "rex": {"pin": 27, "active_high": False, "pull_up": True},
                       "contact": {"pin": 22, "pull_up": True}}
    else:
        doc["barrier"] = {
            "raise_out": {"pin": 5}, "lower_out": {"pin": 6},
            "open_limit": {"pin": 13, "active_high": False, "pull_up": True},
            "closed_limit": {"pin": 19, "active_high": False, "pull_up": True},
            "arming_loop": {"pin": 20}, "safety_loop": {"pin": 21},
            "max_open": "45s",
        }
        doc["antipassback"] = {"mode": "hard", "reset_after": "12h",
                               "presence_db": str(data_dir / "carpark-presence.db")}
    return doc


def prepare(data_dir: Path, first_port: int = 54321) -> list[SimGate]:
    """Write each gate's config and commission the demo cards into its whitelist.

    Readers listen on ``first_port`` and the next two when free (easy to type); with 0, or
    when taken, on ports the kernel picks.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = parse_cards_csv(DEMO_CARDS)
    gates = []
    for i, (name, role) in enumerate([("lobby-door", "door"),
                                      ("carpark-entry", "barrier_entry"),
                                      ("carpark-exit", "barrier_exit")]):
        port = free_udp_port(first_port + i if first_port else 0)
        path = data_dir / f"{name}.toml"
        path.write_text(tomli_w.dumps(_gate_doc(name, role, port, data_dir)))
        store = AuthStore(data_dir / name / "auth.db")
        store.upsert(rows)
        store.close()
        gates.append(SimGate(name, role, port, path))
    return gates


def _instructions(gates: list[SimGate], data_dir: Path) -> str:
    bindir = Path(sys.executable).parent
    sim, edge = bindir / "menwei-sim", bindir / "menwei-edge"
    door, entry, exit_ = gates
    lines = ["", "Menwei simulated compound is running. Data and logs: " + str(data_dir), "",
             "Demo cards:"]
    lines += [f"  {uid:<16} {note}" for uid, note in CARD_NOTES.items()]
    lines += [
        "",
        "At the lobby door (in another terminal):",
        f"  tap a card:        {sim} tap --reader udp:127.0.0.1:{door.reader_port} "
        "--uid 04A1B2C3",
        f"  push the door:     {sim} call --config {door.config_path} sim.push",
        f"  press exit button: {sim} call --config {door.config_path} sim.rex",
        f"  break in:          {sim} call --config {door.config_path} sim.force",
        "",
        "At the car park:",
        f"  tap at the entry:  {sim} tap --reader udp:127.0.0.1:{entry.reader_port} "
        "--uid 04A1B2C3",
        f"  drive through:     {sim} call --config {entry.config_path} sim.drive_through",
        f"  tap at the exit:   {sim} tap --reader udp:127.0.0.1:{exit_.reader_port} "
        "--uid 04A1B2C3",
        f"  drive out:         {sim} call --config {exit_.config_path} sim.drive_through",
        "",
        "Watch and operate any gate:",
        f"  {edge} status --config {door.config_path}",
        f"  {edge} events --config {door.config_path}",
        f"  {edge} open --config {entry.config_path} --guard 'Guard Wang' --reason 'ambulance'",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


def run_compound(data_dir: Path, first_port: int = 54321) -> int:
    """Start every gate, print how to use them, and run until Ctrl-C or SIGTERM."""
    gates = prepare(data_dir, first_port)
    procs: list[subprocess.Popen[bytes]] = []
    stop = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        for gate in gates:
            log = open(data_dir / f"{gate.name}.log", "ab")  # noqa: SIM115 - lives with the child
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "run", "--config", str(gate.config_path)],
                stdout=log, stderr=log, start_new_session=True))
        for gate, proc in zip(gates, procs, strict=True):
            wait_until_answering(gate.config_path.parent / gate.name / "control.sock", 20,
                                 proc)
        print(_instructions(gates, data_dir), flush=True)
        while not stop:
            for gate, proc in zip(gates, procs, strict=True):
                if proc.poll() is not None:
                    print(f"{gate.name} stopped unexpectedly (code {proc.returncode}); "
                          f"see {data_dir / (gate.name + '.log')}", file=sys.stderr)
                    stop = True
            time.sleep(0.2)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("compound stopped", flush=True)
    return 0
