"""The lane's display and camera as the gate daemon builds them from a lane's config, and
the simulated display run as ``menwei-sim display`` in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.daemon import LaneDevices, build_lane_devices
from edge.displays.serial_display import SerialDisplay
from edge.ports import LaneMessage, PlateRead
from edge.readers.plate_camera import HttpPushCamera
from firmware_config.lane_tables import DisplayConfig, DisplayKind
from hardware_sim.lane_display_sim import LaneDisplaySim, wait_for_state
from hardware_sim.local_ports import free_tcp_port
from hardware_sim.plate_camera_sim import push_plate
from tests.edge.conftest import barrier_doc, door_doc, write_doc
from tests.edge.reader_recorder import Recorder


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[LaneDisplaySim]:
    display = LaneDisplaySim(tmp_path / "ttyLED", tmp_path / "display.json")
    display.start()
    yield display
    display.stop()


def test_a_lane_with_display_and_camera(tmp_path: Path, sim: LaneDisplaySim) -> None:
    port = free_tcp_port()
    doc = barrier_doc(tmp_path)
    doc["display"] = {"path": str(sim.link), "idle_text": "欢迎光临 停车场"}
    doc["camera"] = {"listen_port": port, "camera_address": "127.0.0.1"}
    config = write_doc(tmp_path / "lane.toml", doc)
    events = Recorder(timeout=5.0)
    devices = build_lane_devices(config, events)
    try:
        assert isinstance(devices.display, SerialDisplay)
        assert isinstance(devices.camera, HttpPushCamera)
        # The display writes at once; its events go to the sink given.
        wait_for_state(sim.state_file, lambda s: s["lines"] == ["欢迎光临 停车场"])
        assert events.wait_for(lambda: "display_available" in events.kinds())
        devices.display.show(LaneMessage(("一路顺风",), "一路顺风"))
        wait_for_state(sim.state_file, lambda s: s["said"] == ["一路顺风"])
        # The camera waits for the gate to start it.
        reads: list[PlateRead] = []
        devices.camera.start(reads.append, events)
        assert events.wait_for(lambda: "camera_available" in events.kinds())
        assert push_plate(f"http://127.0.0.1:{port}/plate", "粤B12345", 97)[0] == 200
        assert [r.plate for r in reads] == ["粤B12345"]
    finally:
        started = time.monotonic()
        devices.stop_camera()
        devices.close_display()
        assert time.monotonic() - started < 2.0
    wait_for_state(sim.state_file, lambda s: s["mode"] == "blank")
    with pytest.raises(OSError):
        push_plate(f"http://127.0.0.1:{port}/plate", "粤B12345", 97, timeout=1)
    devices.stop_camera()  # the gate may have stopped it too
    devices.close_display()


def test_a_door_has_no_lane_devices(tmp_path: Path) -> None:
    config = write_doc(tmp_path / "door.toml", door_doc(tmp_path))
    devices = build_lane_devices(config, Recorder(timeout=1.0))
    assert devices == LaneDevices()
    devices.stop_camera()
    devices.close_display()


def test_menwei_sim_display_process(tmp_path: Path) -> None:
    link, state = tmp_path / "ttyLED", tmp_path / "display.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hardware_sim.cli", "display", "--link", str(link),
         "--state", str(state)], stdout=subprocess.PIPE, text=True)
    display: SerialDisplay | None = None
    try:
        assert proc.stdout is not None
        assert "lane display on" in proc.stdout.readline()
        display = SerialDisplay(DisplayConfig(DisplayKind.SERIAL, str(link), 9600, "欢迎光临"))
        display.show(LaneMessage(("临时车", "请到岗亭缴费"), "临时车 请到岗亭缴费"))
        got = wait_for_state(state, lambda s: s["said"] == ["临时车 请到岗亭缴费"])
        assert got["lines"] == ["临时车", "请到岗亭缴费"]
    finally:
        if display is not None:
            display.close()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(5) == 0
    assert not link.exists() and not link.is_symlink()
