"""The README's main job: the simulated compound (broker, desk service, gates with sync),
used as a person would from a terminal. Every card here was issued at the desk and reached
the gates by sync: nothing else writes their whitelists."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def compound(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed: the README's commands install it")
    proc = subprocess.Popen([str(BIN / "menwei-sim"), "compound", "--dir", str(tmp_path),
                             "--first-port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not lines or "Ctrl-C stops everything" not in lines[-1]:
        line = proc.stdout.readline()
        assert line, "compound exited early:\n" + "".join(lines)
        lines.append(line)
        assert time.monotonic() < deadline
    text = "".join(lines)
    readers = dict(re.findall(r"tap at the (entry|exit):\s+\S+ tap --reader (\S+)", text))
    readers["door"] = re.findall(r"tap a card:\s+\S+ tap --reader (\S+)", text)[0]
    readers["api"] = re.findall(r"Desk API: (\S+)", text)[0]
    readers["password"] = re.findall(r"password for all: (\S+)\)", text)[0]
    readers["booth"] = re.findall(r"Guard's booth \(\S+, east-booth\): (\S+)", text)[0]
    yield str(tmp_path), readers
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "compound stopped" in out


def sim(*argv: str) -> dict[str, object]:
    out = subprocess.run([str(BIN / "menwei-sim"), *argv], capture_output=True, text=True,
                         check=True).stdout
    try:
        return dict(json.loads(out))
    except ValueError:
        return {"text": out}


def taps(data_dir: str, gate: str) -> list[tuple[str, str]]:
    out = subprocess.run([str(BIN / "menwei-edge"), "events", "--config",
                          f"{data_dir}/gates/{gate}.toml", "-n", "500"],
                         capture_output=True, text=True, check=True).stdout
    events = [json.loads(line) for line in out.splitlines()]
    return [(e["uid"], e["reason"]) for e in events if e["kind"] == "tap"]


def wait_state(data_dir: str, gate: str, state: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = subprocess.run([str(BIN / "menwei-edge"), "status", "--config",
                                 f"{data_dir}/gates/{gate}.toml"], capture_output=True, text=True,
                                check=True).stdout
        if json.loads(status)["actuator"]["state"] == state:
            return
        assert time.monotonic() < deadline, f"{gate} never reached {state}: {status}"
        time.sleep(0.1)


@pytest.mark.timeout(180)
def test_car_park_round_trip_with_anti_passback(
        compound: tuple[str, dict[str, str]]) -> None:
    data_dir, readers = compound
    sim("tap", "--reader", readers["entry"], "--uid", "04A1B2C3")
    wait_state(data_dir, "carpark-in", "open")
    sim("call", "--config", f"{data_dir}/gates/carpark-in.toml", "sim.drive_through")
    wait_state(data_dir, "carpark-in", "closed")
    # The same card again at the entry: already inside, refused (hard anti-passback).
    sim("tap", "--reader", readers["entry"], "--uid", "04A1B2C3")
    sim("tap", "--reader", readers["exit"], "--uid", "04A1B2C3")
    wait_state(data_dir, "carpark-out", "open")
    sim("call", "--config", f"{data_dir}/gates/carpark-out.toml", "sim.drive_through")
    wait_state(data_dir, "carpark-out", "closed")
    # Out again, so in again is fine.
    sim("tap", "--reader", readers["entry"], "--uid", "04A1B2C3")
    wait_state(data_dir, "carpark-in", "open")
    assert taps(data_dir, "carpark-in") == [
        ("04A1B2C3", "granted"), ("04A1B2C3", "anti_passback"), ("04A1B2C3", "granted")]
    assert taps(data_dir, "carpark-out") == [("04A1B2C3", "granted")]
    lane = sim("call", "--config", f"{data_dir}/gates/carpark-in.toml", "sim.lane")
    assert lane["violations"] == []


@pytest.mark.timeout(120)
def test_lobby_door_refuses_a_lost_and_an_unknown_card(
        compound: tuple[str, dict[str, str]]) -> None:
    data_dir, readers = compound
    # The demo site comes with a month of made-up taps at every gate: only ours count.
    since = datetime.now(UTC).isoformat()
    for uid in ("0C0C0C0C", "0E0E0E0E", "04A1B2C3D4E5F6"):
        sim("tap", "--reader", readers["door"], "--uid", uid)
    deadline = time.monotonic() + 10
    while len(taps(data_dir, "b1-lobby")) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert taps(data_dir, "b1-lobby") == [
        ("0C0C0C0C", "lost"), ("0E0E0E0E", "unknown_card"), ("04A1B2C3D4E5F6", "granted")]
    # The guard sees them at the desk, as the printed curl commands do.
    token = httpx.post(f"{readers['api']}/login", json={
        "username": "guard", "password": readers["password"]}, timeout=30).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 30
    while True:
        events = httpx.get(f"{readers['api']}/events", params={"gate": "b1-lobby",
                                                               "since": since,
                                                               "order": "oldest"},
                           headers=headers, timeout=30).json()["events"]
        seen = [(e["uid"], e["reason"]) for e in events if e["kind"] == "tap"]
        if len(seen) == 3:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)
    assert seen == taps(data_dir, "b1-lobby")
    # The guard's booth runs beside the gates: its page answers, its agent is connected.
    page = httpx.get(f"{readers['booth']}sign-in", timeout=10)
    assert page.headers["content-security-policy"].startswith("default-src 'self'"), page
    # The sign-in page is its own part (booth/web/sign_in_pages.py); before it is there, the
    # booth answers with its own "no such page".
    signs_in = importlib.util.find_spec("booth.web.sign_in_pages") is not None
    assert page.status_code in ((200, 302, 303, 307) if signs_in else (404,)), page
    booth_sync_log = Path(data_dir, "east-booth-sync.log").read_text(errors="replace")
    assert "connected to 127.0.0.1:" in booth_sync_log, booth_sync_log[-2000:]
