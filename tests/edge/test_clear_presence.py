"""A guard clears one card's anti-passback presence on a barrier lane (a missed exit read
keeps a resident's car out): ``clear_presence`` on the control socket and
``menwei-edge clear-presence``, journalled with guard, reason, card and caller before the
shared presence file is touched, answered with whether the card counted as inside; refused
on a door, which keeps no presence."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edge.control_socket import CommandError, ControlClient, ControlServer
from edge.daemon import register_gate_commands
from edge.decision import Reason
from hardware_sim.barrier_physics import BarrierArmSim
from hardware_sim.lane_physics import LaneSim
from tests.edge.conftest import GateRig, barrier_doc, commission, door_doc, write_doc
from tests.edge.gate_process import start_gate, stop_gate

CARD = "04A1B2C3"


@pytest.fixture
def socket_of() -> Iterator[Callable[[GateRig], ControlClient]]:
    """Serve a rig's gate on a control socket; a client of it."""
    servers: list[ControlServer] = []

    def serve(rig: GateRig) -> ControlClient:
        folder = Path(tempfile.mkdtemp(prefix="menwei-sock-"))
        server = ControlServer(folder / "control.sock", lambda fn: fn())
        register_gate_commands(server, rig.gate)
        server.start()
        servers.append(server)
        return ControlClient(folder / "control.sock")

    yield serve
    for server in servers:
        server.stop()


LANES: dict[int, LaneSim] = {}


def with_an_arm(rig: GateRig) -> None:
    """The lane's arm, so that it rises and falls (without it the lane goes out of service),
    and the cars on its loops (a card counts as inside once its car has passed)."""
    assert rig.config.barrier is not None
    arm = BarrierArmSim(rig.factory, rig.config.barrier, rig.scheduler, 2.0)
    LANES[id(rig)] = LaneSim(rig.factory, rig.config.barrier, rig.scheduler, arm)


def test_a_cleared_card_enters_again_and_the_clear_is_journalled_with_who_and_why(
        make_gate: Callable[..., GateRig], socket_of: Callable[[GateRig], ControlClient],
        tmp_path: Path) -> None:
    presence = tmp_path / "shared" / "presence.db"
    entry = make_gate(barrier_doc(tmp_path / "in", "barrier_entry", presence=presence),
                      before_start=with_an_arm)
    exit_lane = make_gate(barrier_doc(tmp_path / "out", "barrier_exit", presence=presence))
    cars = LANES.pop(id(entry))
    cars.vehicle_arrives()
    assert entry.gate.handle_tap(CARD).granted
    cars.drive_through()
    entry.scheduler.advance(30)
    # The exit read was missed: the car left but the card still counts as inside.
    assert entry.gate.handle_tap(CARD).reason is Reason.ANTI_PASSBACK

    # Cleared from the exit lane: the pair shares one presence file.
    client = socket_of(exit_lane)
    answer = client.call("clear_presence", uid="04:a1:b2:c3", guard="wang.guard",
                         reason="出口未读到卡")
    assert answer["was_inside"] is True and answer["cleared"] is True
    [event] = [e for e in exit_lane.gate.journal.read() if e.kind == "presence_cleared"]
    assert event.seq == answer["seq"]
    assert event.data["uid"] == CARD  # normalised as the gate writes UIDs
    assert event.data["guard"] == "wang.guard" and event.data["reason"] == "出口未读到卡"
    assert event.data["was_inside"] is True and "caller" in event.data

    assert entry.gate.handle_tap(CARD).granted
    # A card that is not inside: cleared all the same, and the answer says it was not.
    again = client.call("clear_presence", uid="0E0E0E0E", guard="wang.guard", reason="核对")
    assert again["was_inside"] is False and again["seq"] == answer["seq"] + 1


def test_clearing_is_refused_on_a_door_and_without_guard_reason_or_a_real_uid(
        make_gate: Callable[..., GateRig], socket_of: Callable[[GateRig], ControlClient],
        tmp_path: Path) -> None:
    door = socket_of(make_gate(door_doc(tmp_path / "door")))
    with pytest.raises(CommandError, match="a door keeps no anti-passback presence"):
        door.call("clear_presence", uid=CARD, guard="wang.guard", reason="x")
    off = make_gate(barrier_doc(tmp_path / "off", apb="off"))
    with pytest.raises(CommandError, match="anti-passback is off"):
        socket_of(off).call("clear_presence", uid=CARD, guard="wang.guard", reason="x")
    lane = make_gate(barrier_doc(tmp_path / "lane"))
    client = socket_of(lane)
    with pytest.raises(CommandError, match="reason"):
        client.call("clear_presence", uid=CARD, guard="wang.guard", reason="  ")
    with pytest.raises(CommandError, match="not a card UID"):
        client.call("clear_presence", uid="XYZ", guard="wang.guard", reason="x")
    with pytest.raises(CommandError, match="as text"):
        client.call("clear_presence", uid=1234, guard="wang.guard", reason="x")
    assert not [e for e in lane.gate.journal.read() if e.kind == "presence_cleared"]


def test_menwei_edge_clear_presence_on_a_running_lane(tmp_path: Path) -> None:
    doc = barrier_doc(tmp_path / "data")
    doc["simulation"] = {"outputs_log": str(tmp_path / "outputs.log"), "arm_travel": "50ms"}
    config = write_doc(tmp_path / "lane.toml", doc)
    commission(config)
    proc = start_gate(config, stderr=tmp_path / "gate.log")
    try:
        with ControlClient(config.control_socket) as client:
            assert client.call("sim.read_card", uid=CARD)["granted"] is True
            client.call("sim.drive_through")
            # Inside once the car has passed the lane (its safety loop clear for close_delay).
            deadline = time.monotonic() + 15
            while not any(e["kind"] == "vehicle_counted" for e in client.call("events", n=50)):
                assert time.monotonic() < deadline, "the car never passed"
                time.sleep(0.05)

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "edge.cli", "clear-presence",
                                   "--config", str(config.source), *args],
                                  capture_output=True, text=True, timeout=30, check=False)

        done = cli("--uid", CARD.lower(), "--guard", "wang.guard", "--reason", "missed exit")
        assert done.returncode == 0, done.stderr
        assert "presence cleared (the card was inside)" in done.stdout
        refused = cli("--uid", "nonsense", "--guard", "wang.guard", "--reason", "x")
        assert refused.returncode == 2 and "not a card UID" in refused.stderr
        with ControlClient(config.control_socket) as client:
            assert client.call("sim.read_card", uid=CARD)["granted"] is True
    finally:
        stop_gate(proc)
