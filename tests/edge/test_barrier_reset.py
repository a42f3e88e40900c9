"""A guard puts a stuck barrier back in service once they have checked it: over the gate's
control socket (``menwei-edge reset``), journalled with who and why before the arm is
driven, and answered truthfully when the arm is still stuck (before this, ``Barrier.reset``
existed but nothing could call it: a jammed lane stayed out of service until a restart)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.barrier import BarrierState
from edge.control_socket import ControlClient, ControlServer
from edge.daemon import register_gate_commands
from hardware_sim.barrier_physics import BarrierArmSim
from tests.edge.conftest import GateRig, barrier_doc, door_doc


@pytest.fixture
def jammed_lane(make_gate: Callable[..., GateRig],
                tmp_path: Path) -> Iterator[tuple[GateRig, BarrierArmSim, ControlClient]]:
    """A barrier lane whose arm jammed on a grant (stuck, out of service), and a client of
    its control socket."""
    physics: dict[str, Any] = {}

    def attach(rig: GateRig) -> None:
        assert rig.config.barrier is not None
        physics["arm"] = BarrierArmSim(rig.factory, rig.config.barrier, rig.scheduler, 2.0)

    rig = make_gate(barrier_doc(tmp_path / "data"), before_start=attach)
    arm: BarrierArmSim = physics["arm"]
    rig.scheduler.advance(1)
    arm.jam()
    assert rig.gate.handle_tap("04A1B2C3").granted
    rig.scheduler.advance(60)  # the travel timeout passes: stuck
    assert rig.gate.actuator.status()["state"] == BarrierState.STUCK.value
    folder = Path(tempfile.mkdtemp(prefix="menwei-sock-"))
    server = ControlServer(folder / "control.sock", lambda fn: fn())
    register_gate_commands(server, rig.gate)
    server.start()
    yield rig, arm, ControlClient(folder / "control.sock")
    server.stop()
    rig.gate.shutdown()


def test_a_guard_resets_a_freed_arm_and_the_lane_works_again(
        jammed_lane: tuple[GateRig, BarrierArmSim, ControlClient]) -> None:
    rig, arm, client = jammed_lane
    assert client.call("open", guard="Wang", reason="car waiting")["opened"] is False
    arm.jam(False)  # the guard frees the arm
    answer = client.call("reset", guard="Wang", reason="branch removed from the arm")
    assert answer["in_service"] is True and answer["state"] == BarrierState.CLOSED.value
    events = list(rig.gate.journal.read())
    kinds = [e.kind for e in events]
    # Who and why are journalled before the arm is driven (the reset's own event after).
    assert kinds.index("actuator_reset") < kinds.index("barrier_reset")
    [reset] = [e for e in events if e.kind == "actuator_reset"]
    assert reset.data["guard"] == "Wang" and reset.data["state"] == "stuck"
    assert reset.data["reason"] == "branch removed from the arm"
    assert "caller" in reset.data
    # Back in service: the next car is let through, the arm rises to its open limit.
    assert client.call("open", guard="Wang", reason="car waiting")["opened"] is True
    rig.scheduler.advance(5)
    assert rig.gate.actuator.status()["state"] == BarrierState.OPEN.value


def test_a_door_has_nothing_to_reset_and_says_so(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path / "data"))
    seq, in_service = rig.gate.reset_actuator("Wang", "checked the strike")
    assert seq > 0 and in_service is True
    rig.gate.shutdown()


def test_a_reset_needs_the_guard_and_a_reason(
        jammed_lane: tuple[GateRig, BarrierArmSim, ControlClient]) -> None:
    rig, _arm, client = jammed_lane
    with pytest.raises(Exception, match="reason"):
        client.call("reset", guard="Wang", reason="  ")
    assert not [e for e in rig.gate.journal.read() if e.kind == "actuator_reset"]


def test_resetting_a_working_barrier_says_it_is_in_service(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    # A guard who resets a lane that was not stuck must not be told it is out of service
    # (nor the desk get an alarm for it).
    rig = make_gate(barrier_doc(tmp_path / "data"))
    assert rig.gate.actuator.status()["state"] != BarrierState.STUCK.value
    assert rig.gate.actuator.in_service
    seq, in_service = rig.gate.reset_actuator("Wang", "checked")
    assert seq > 0 and in_service is True
    assert not [e for e in rig.gate.journal.read() if e.kind == "actuator_reset_failed"]
    rig.gate.shutdown()
