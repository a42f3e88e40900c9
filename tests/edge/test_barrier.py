"""The barrier state machine against simulated hardware: gpiozero MockFactory pins behind the
adapters of edge.gpio_pins, the arm and lane physics of hardware_sim.barrier_physics and
lane_physics, and virtual time. Every test ends with the fixture checking the simulator saw
no safety breach and that the raise and lower contacts were never active together.

Longer than ~400 lines on purpose: one module per state machine, the cases of one machine
read together (the fixture's safety checks apply to all of them)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from edge.barrier import Barrier, BarrierState
from edge.gpio_pins import GpioInput, GpioOutput
from firmware_config.schema import BarrierConfig, PinConfig
from hardware_sim.barrier_physics import TICK, BarrierArmSim
from hardware_sim.lane_physics import LaneSim
from hardware_sim.virtual_time import VirtualScheduler

# Wired as in firmware_config/profiles/barrier_entry.toml: limit switches active low with
# pull-ups, loop detectors active high.
CONFIG = BarrierConfig(
    raise_out=PinConfig("GPIO5", True),
    lower_out=PinConfig("GPIO6", True),
    open_limit=PinConfig("GPIO13", False, True),
    closed_limit=PinConfig("GPIO19", False, True),
    arming_loop=PinConfig("GPIO20", True),
    safety_loop=PinConfig("GPIO21", True),
    travel_timeout=6.0,
    close_delay=1.5,
    passage_gap=0.3,
    max_open=45.0,
)
TRAVEL = 2.0  # the simulated arm's travel time, well inside travel_timeout
STATE = BarrierState


@dataclasses.dataclass
class Event:
    """One event the barrier emitted."""

    time: float
    kind: str
    data: dict[str, object]
    alarm: bool


class BarrierRig:
    """A barrier on simulated pins with a timeline of pin changes and events in virtual time."""

    def __init__(self, config: BarrierConfig, position: float) -> None:
        self.config = config
        self.factory = MockFactory()
        self.scheduler = VirtualScheduler()
        self.events: list[Event] = []
        self.timeline: list[tuple[float, str, object]] = []
        self.raise_out = raise_out = GpioOutput("barrier_raise", config.raise_out, self.factory)
        self.lower_out = lower_out = GpioOutput("barrier_lower", config.lower_out, self.factory)
        open_limit, closed_limit, arming_loop, safety_loop = (
            GpioInput(name, getattr(config, name), self.factory, lambda fn: fn())
            for name in ("open_limit", "closed_limit", "arming_loop", "safety_loop"))
        self.devices: list[GpioOutput | GpioInput] = [
            raise_out, lower_out, open_limit, closed_limit, arming_loop, safety_loop]
        self.arm = BarrierArmSim(self.factory, config, self.scheduler, TRAVEL, position=position)
        self.lane = LaneSim(self.factory, config, self.scheduler, self.arm)
        self.raise_pin: Any = self.factory.pin(config.raise_out.pin)
        self.lower_pin: Any = self.factory.pin(config.lower_out.pin)
        # Output levels set while the devices were created come before the watch began.
        self.baseline = len(self.raise_pin.states) + len(self.lower_pin.states)
        self.arm.watch(self._pin_changed)
        self.lane.watch(self._pin_changed)
        self.barrier = Barrier(config, raise_out, lower_out, open_limit, closed_limit,
                               arming_loop, safety_loop, self.scheduler, self._emit)

    def _emit(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        now = self.scheduler.now()
        self.events.append(Event(now, kind, dict(data), alarm))
        self.timeline.append((now, kind, dict(data)))

    def _pin_changed(self, name: str, active: bool) -> None:
        self.timeline.append((self.scheduler.now(), name, active))

    # ---------------------------------------------------------------- running time

    def run(self, seconds: float) -> None:
        """Let virtual time pass."""
        self.scheduler.advance(seconds)

    def run_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> float:
        """Advance in small steps until ``condition`` holds; return the time."""
        end = self.scheduler.now() + timeout
        while not condition():
            assert self.scheduler.now() < end, f"not reached within {timeout}s: {self.kinds()}"
            self.scheduler.advance(0.01)
        return self.scheduler.now()

    def until_state(self, state: BarrierState, timeout: float = 60.0) -> float:
        """Advance until the barrier is in ``state``."""
        return self.run_until(lambda: self.barrier.state is state, timeout)

    # ------------------------------------------------------------------- looking

    def state(self) -> BarrierState:
        """The barrier's state now (a call, so type checkers do not narrow it)."""
        return self.barrier.state

    def kinds(self) -> list[str]:
        """Kinds of the events so far, in order."""
        return [e.kind for e in self.events]

    def of_kind(self, kind: str) -> list[Event]:
        """The events of one kind."""
        return [e for e in self.events if e.kind == kind]

    def states(self) -> list[tuple[str, str]]:
        """(state, cause) of every transition so far."""
        return [(str(e.data["to"]), str(e.data["cause"])) for e in self.of_kind("barrier_state")]

    def times(self, name: str, value: object = None) -> list[float]:
        """When ``name`` (a pin or an event kind) happened, with ``value`` if given."""
        return [t for t, n, v in self.timeline if n == name and (value is None or v == value)]

    def in_order(self, *steps: tuple[str, object]) -> list[float]:
        """Assert that the timeline holds ``steps`` ((name, value); value None = any) in this
        order, and return when each happened."""
        found: list[float] = []
        rest = iter(self.timeline)
        for name, value in steps:
            for t, n, v in rest:
                if n == name and (value is None or v == value):
                    found.append(t)
                    break
            else:
                raise AssertionError(f"{(name, value)} missing after {found} in {self.timeline}")
        return found

    def levels(self, pin: Any) -> list[bool]:
        """The electrical levels a pin went through."""
        return [bool(s.state) for s in pin.states]

    def check_safety(self) -> None:
        """What every test must end with."""
        assert self.arm.violations == []
        # The watch saw every output edge (gpiozero's history agrees), never both active.
        edges = len(self.raise_pin.states) + len(self.lower_pin.states) - self.baseline
        assert len(self.arm.motor_history) == edges
        assert not any(up and down for _, up, down in self.arm.motor_history)


@pytest.fixture
def barrier_rig() -> Iterator[Callable[..., BarrierRig]]:
    """Build started barrier rigs; each is checked for safety breaches at the end."""
    rigs: list[BarrierRig] = []

    def build(position: float = 0.0, config: BarrierConfig = CONFIG,
              start: bool = True) -> BarrierRig:
        rig = BarrierRig(config, position)
        rigs.append(rig)
        if start:
            rig.barrier.start()
        return rig

    yield build
    for rig in rigs:
        rig.arm.close()
        rig.lane.close()
        for device in rig.devices:
            device.close()
    for rig in rigs:
        rig.check_safety()


def _open_for_a_waiting_car(rig: BarrierRig) -> None:
    rig.lane.vehicle_arrives()
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)


# ------------------------------------------------------------------ the normal passage


def test_opens_on_grant_and_closes_after_the_vehicle_has_passed(barrier_rig):
    rig = barrier_rig()
    _open_for_a_waiting_car(rig)
    rig.run(20.0)  # the driver takes their time; the arm waits (well inside max_open)
    assert rig.state() is STATE.OPEN and not rig.arm.lower_active
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSED)

    t = rig.in_order(("raise_out", True), ("open_limit", True), ("raise_out", False),
                     ("safety_loop", True), ("safety_loop", False), ("vehicle_passed", None),
                     ("lower_out", True), ("closed_limit", True), ("lower_out", False))
    assert t[1] - t[0] == pytest.approx(TRAVEL, abs=TICK + 1e-6)
    assert t[6] == pytest.approx(t[4] + CONFIG.close_delay)
    assert [e.data for e in rig.of_kind("vehicle_passed")] == [{"credited": True, "credits": 0}]
    assert rig.states() == [("closed", "start"), ("opening", "grant"), ("open", "open_limit"),
                            ("closing", "vehicle_passed"), ("closed", "closed_limit")]
    assert "tailgate" not in rig.kinds()
    assert rig.levels(rig.raise_pin) == [False, True, False]
    assert rig.levels(rig.lower_pin) == [False, True, False]


def test_never_lowers_while_a_vehicle_stands_under_the_arm(barrier_rig):
    rig = barrier_rig()
    _open_for_a_waiting_car(rig)
    rig.lane.drive_through()
    rig.run_until(rig.lane.vehicle_under_arm)
    rig.lane.stall()  # broken down under the arm, far beyond max_open
    rig.run(4 * CONFIG.max_open)
    assert rig.state() is STATE.OPEN
    assert rig.times("lower_out", True) == []
    assert len(rig.lower_pin.states) == 1

    rig.lane.drive_through()  # towed away at last
    rig.until_state(STATE.CLOSED)
    (cleared,) = rig.times("safety_loop", False)
    assert rig.times("lower_out", True) == [pytest.approx(cleared + CONFIG.close_delay)]
    assert rig.of_kind("vehicle_passed")[0].data["credited"] is True


def test_reverses_when_the_safety_loop_triggers_while_lowering(barrier_rig):
    rig = barrier_rig()
    _open_for_a_waiting_car(rig)
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSING)
    rig.run(0.5)
    position = rig.arm.position
    assert 0.0 < position < 1.0
    now = rig.scheduler.now()
    rig.lane.occupy("safety")  # something rolls under the lowering arm

    assert rig.arm.raise_active and not rig.arm.lower_active  # at once, not a tick later
    assert rig.state() is STATE.OPENING
    t = rig.in_order(("lower_out", True), ("safety_loop", True), ("lower_out", False),
                     ("raise_out", True), ("safety_reverse", None))
    assert t[1:] == [now] * 4
    rig.until_state(STATE.OPEN)
    rig.run(CONFIG.max_open)  # it stays there: open, not lowering
    assert rig.state() is STATE.OPEN and len(rig.times("lower_out", True)) == 1

    rig.lane.clear("safety")
    cleared = rig.scheduler.now()
    rig.until_state(STATE.CLOSED)
    assert rig.times("lower_out", True)[1] == pytest.approx(cleared + CONFIG.close_delay)
    # Whatever it was had no credit of its own.
    (alarm,) = rig.of_kind("tailgate")
    assert alarm.alarm


def test_reversal_before_the_arm_has_left_the_open_limit(barrier_rig):
    rig = barrier_rig()
    rig.barrier.hold_open(True)
    rig.until_state(STATE.OPEN)
    rig.barrier.hold_open(False)  # the loop has long been clear: lowers at once
    assert rig.state() is STATE.CLOSING and rig.arm.at_open_limit
    rig.lane.occupy("safety")
    # The switch never opened, so no new "open limit reached" will come: it is open now.
    assert rig.state() is STATE.OPEN
    assert not rig.arm.raise_active and not rig.arm.lower_active
    rig.run(2 * CONFIG.travel_timeout)
    assert rig.state() is STATE.OPEN and "barrier_stuck" not in rig.kinds()
    rig.lane.clear("safety")
    rig.until_state(STATE.CLOSED)


def test_grant_while_lowering_raises_the_arm_again(barrier_rig):
    rig = barrier_rig()
    assert rig.barrier.grant()
    rig.until_state(STATE.CLOSING, timeout=CONFIG.max_open + 10)
    rig.run(0.5)
    assert rig.barrier.grant()
    assert rig.arm.raise_active and not rig.arm.lower_active
    assert rig.states()[-1] == ("opening", "grant")
    assert rig.barrier.status()["credits"] == 1
    rig.until_state(STATE.OPEN)


# ---------------------------------------------------------------------------- max_open


def test_closes_after_max_open_when_no_vehicle_came(barrier_rig):
    rig = barrier_rig()
    assert rig.barrier.grant()
    opened = rig.until_state(STATE.OPEN)
    rig.run(CONFIG.max_open - 1.0)
    assert rig.state() is STATE.OPEN
    rig.until_state(STATE.CLOSED)
    assert rig.times("lower_out", True) == [pytest.approx(opened + CONFIG.max_open)]
    assert ("closing", "max_open") in rig.states()
    assert rig.barrier.status()["credits"] == 0  # the unused grant lapsed
    assert "vehicle_passed" not in rig.kinds()


def test_max_open_restarts_when_a_vehicle_arrives(barrier_rig):
    rig = barrier_rig()
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.run(40.0)
    arrived = rig.scheduler.now()
    rig.lane.vehicle_arrives()  # ...and just sits at the reader
    assert rig.times("vehicle_arrived") == [arrived]
    rig.until_state(STATE.CLOSED)
    assert rig.times("lower_out", True) == [pytest.approx(arrived + CONFIG.max_open)]


def test_max_open_waits_for_a_vehicle_on_the_safety_loop_to_clear(barrier_rig):
    rig = barrier_rig()
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.run(10.0)
    rig.lane.occupy("safety")
    rig.run(2 * CONFIG.max_open)
    assert rig.state() is STATE.OPEN and rig.times("lower_out", True) == []

    rig.lane.clear("safety")
    cleared = rig.scheduler.now()
    rig.until_state(STATE.CLOSED)
    assert rig.times("lower_out", True) == [pytest.approx(cleared + CONFIG.close_delay)]
    assert rig.of_kind("vehicle_passed")[0].data == {"credited": True, "credits": 0}


def test_hold_open_keeps_the_arm_up_until_released(barrier_rig):
    rig = barrier_rig()
    rig.barrier.hold_open(True)
    rig.until_state(STATE.OPEN)
    rig.run(3 * CONFIG.max_open)
    rig.lane.vehicle_arrives()
    rig.lane.drive_through()  # no grant needed while held open
    rig.run_until(lambda: not rig.lane.vehicles)
    rig.run(5.0)
    assert rig.state() is STATE.OPEN
    assert rig.of_kind("vehicle_passed")[0].data["credited"] is False
    assert "tailgate" not in rig.kinds()

    rig.barrier.hold_open(False)
    assert rig.state() is STATE.CLOSING  # the loop has long been clear
    rig.until_state(STATE.CLOSED)


# ------------------------------------------------------------------------------- stuck


def test_stuck_when_the_open_limit_is_not_reached_then_reset(barrier_rig):
    rig = barrier_rig()
    rig.arm.jam()
    assert rig.barrier.grant()
    (started,) = rig.times("raise_out", True)
    rig.run(CONFIG.travel_timeout + 1.0)

    assert rig.times("raise_out", False) == [pytest.approx(started + CONFIG.travel_timeout)]
    assert rig.state() is STATE.STUCK and not rig.barrier.in_service
    (stuck,) = rig.of_kind("barrier_stuck")
    assert stuck.alarm
    assert stuck.data["limit"] == "open_limit" and stuck.data["direction"] == "up"
    assert not rig.barrier.grant()
    assert not rig.barrier.manual_open()
    status = rig.barrier.status()
    assert status["state"] == "stuck" and status["in_service"] is False
    rig.run(60.0)
    assert rig.levels(rig.raise_pin) == [False, True, False]  # never driven again

    rig.arm.jam(False)  # the guard frees the arm
    assert rig.barrier.reset()
    assert rig.state() is STATE.CLOSED and rig.barrier.in_service
    assert rig.of_kind("barrier_reset")[0].data == {"state": "closed"}
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)


def test_stuck_while_closing(barrier_rig):
    rig = barrier_rig()
    _open_for_a_waiting_car(rig)
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSING)
    rig.run(0.5)
    rig.arm.jam()
    rig.until_state(STATE.STUCK)

    (lowered,) = rig.times("lower_out", True)
    assert rig.times("lower_out", False) == [pytest.approx(lowered + CONFIG.travel_timeout)]
    (stuck,) = rig.of_kind("barrier_stuck")
    assert stuck.data["limit"] == "closed_limit" and stuck.data["direction"] == "down"
    assert not rig.barrier.grant()

    # Reset with the arm part-way down: position unknown, back in service, a grant raises it.
    rig.arm.jam(False)
    assert rig.barrier.reset()
    assert rig.state() is STATE.UNKNOWN and rig.barrier.in_service
    assert len(rig.lower_pin.states) == 3  # reset itself moves nothing
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)


def test_contradicting_limit_switches_at_start_mean_stuck(barrier_rig):
    rig = barrier_rig(start=False)
    rig.factory.pin(CONFIG.open_limit.pin).drive_low()  # both switches report "made"
    rig.barrier.start()
    assert rig.state() is STATE.STUCK
    assert rig.of_kind("barrier_stuck")[0].data["reason"] == "both_limits_active"
    assert not rig.barrier.grant()


# ---------------------------------------------------------------------------- vehicles


def test_long_vehicle_covering_both_loops_passes_once(barrier_rig):
    rig = barrier_rig()
    rig.lane.vehicle_arrives(length_m=12.0)  # a lorry
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSED)

    t = rig.in_order(("arming_loop", True), ("safety_loop", True), ("arming_loop", False),
                     ("safety_loop", False), ("vehicle_passed", None), ("lower_out", True))
    assert t[2] - t[1] > CONFIG.close_delay  # both loops covered together for a good while
    assert t[5] == pytest.approx(t[3] + CONFIG.close_delay)
    assert [e.data for e in rig.of_kind("vehicle_passed")] == [{"credited": True, "credits": 0}]
    assert "vehicle_backed_out" not in rig.kinds() and "tailgate" not in rig.kinds()


def test_short_vehicle_crossing_the_gap_between_loops_has_not_backed_out(barrier_rig):
    rig = barrier_rig()
    rig.lane.vehicle_arrives(length_m=2.0)  # shorter than the gap between the loops
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSED)
    rig.in_order(("arming_loop", False), ("safety_loop", True), ("safety_loop", False))
    assert "vehicle_backed_out" not in rig.kinds()
    assert [e.data for e in rig.of_kind("vehicle_passed")] == [{"credited": True, "credits": 0}]


def test_vehicle_backing_out_lets_the_arm_close(barrier_rig):
    rig = barrier_rig()
    _open_for_a_waiting_car(rig)
    rig.lane.back_out()
    rig.until_state(STATE.CLOSED)
    (left,) = rig.times("arming_loop", False)
    assert rig.times("lower_out", True) == [pytest.approx(left + CONFIG.close_delay)]
    assert [e.data for e in rig.of_kind("vehicle_backed_out")] == [{"credits": 0}]
    assert "vehicle_passed" not in rig.kinds() and "tailgate" not in rig.kinds()
    assert ("closing", "vehicle_backed_out") in rig.states()


def test_nose_to_tail_the_arm_comes_down_between_the_cars(barrier_rig):
    rig = barrier_rig()
    rig.lane.vehicle_arrives()
    second = rig.lane.vehicle_arrives()  # queued right behind, no grant of its own
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSED)

    assert rig.lane.vehicles == (second,)
    assert second.front == pytest.approx(rig.lane.geometry.stop_line)
    assert rig.lane.occupied("arming")
    (cleared,) = rig.times("safety_loop", False)
    assert rig.times("lower_out", True) == [pytest.approx(cleared + CONFIG.close_delay)]
    assert len(rig.of_kind("vehicle_passed")) == 1 and "tailgate" not in rig.kinds()


def test_tailgater_under_the_lowering_arm_reverses_it_and_raises_an_alarm(barrier_rig):
    rig = barrier_rig()
    rig.lane.vehicle_arrives()
    rig.lane.vehicle_arrives()
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.lane.drive_through()
    rig.until_state(STATE.CLOSING)
    rig.run(0.5)
    rig.lane.drive_through(tailgate=True)  # the second driver dashes for it
    rig.run_until(lambda: not rig.lane.vehicles)
    rig.until_state(STATE.CLOSED)

    rig.in_order(("lower_out", True), ("safety_loop", True), ("lower_out", False),
                 ("raise_out", True), ("safety_reverse", None), ("open_limit", True),
                 ("safety_loop", False), ("tailgate", None), ("lower_out", True),
                 ("closed_limit", True))
    assert [e.data["credited"] for e in rig.of_kind("vehicle_passed")] == [True, False]
    (alarm,) = rig.of_kind("tailgate")
    assert alarm.alarm


def test_two_grants_let_two_cars_through(barrier_rig):
    rig = barrier_rig()
    rig.lane.vehicle_arrives()
    assert rig.barrier.grant()
    rig.lane.vehicle_arrives()
    assert rig.barrier.grant()
    assert rig.barrier.status()["credits"] == 2
    rig.until_state(STATE.OPEN)
    rig.lane.drive_through()
    rig.run_until(lambda: len(rig.of_kind("vehicle_passed")) == 1)
    rig.run(10.0)  # the second car is still at the reader: the arm waits for it
    assert rig.state() is STATE.OPEN and rig.times("lower_out", True) == []

    rig.lane.drive_through()
    rig.until_state(STATE.CLOSED)
    assert [e.data for e in rig.of_kind("vehicle_passed")] == [
        {"credited": True, "credits": 1}, {"credited": True, "credits": 0}]
    assert "tailgate" not in rig.kinds()
    assert len(rig.times("raise_out", True)) == 1 and len(rig.times("lower_out", True)) == 1


def test_a_car_following_closely_through_the_held_arm_is_a_car_of_its_own(barrier_rig):
    # Two cars granted one after the other; the second drives onto the safety loop 0.8 s
    # after the first left it: longer than passage_gap, shorter than close_delay. Each is
    # counted and spends its own credit (once read as one long vehicle, the second was
    # never counted and the arm stayed up on its unspent credit).
    rig = barrier_rig()
    assert rig.barrier.grant() and rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.lane.occupy("safety")
    rig.run(1.0)
    rig.lane.clear("safety")
    rig.run(0.8)
    rig.lane.occupy("safety")
    rig.run(1.0)
    rig.lane.clear("safety")
    rig.until_state(STATE.CLOSED)
    assert [e.data for e in rig.of_kind("vehicle_passed")] == [
        {"credited": True, "credits": 1}, {"credited": True, "credits": 0}]
    assert "tailgate" not in rig.kinds()


def test_a_detector_chattering_shorter_than_passage_gap_is_one_vehicle(barrier_rig):
    rig = barrier_rig()
    assert rig.barrier.grant()
    rig.until_state(STATE.OPEN)
    rig.lane.occupy("safety")
    rig.run(1.0)
    rig.lane.clear("safety")
    rig.run(CONFIG.passage_gap / 2)
    rig.lane.occupy("safety")
    rig.run(1.0)
    rig.lane.clear("safety")
    rig.until_state(STATE.CLOSED)
    assert [e.data for e in rig.of_kind("vehicle_passed")] == [
        {"credited": True, "credits": 0}]


# ------------------------------------------------------------------ boot and shutdown


@pytest.mark.parametrize(("position", "state"), [(0.0, "closed"), (1.0, "open"),
                                                 (0.4, "unknown")])
def test_start_drives_no_motor_output(barrier_rig, position, state):
    rig = barrier_rig(position=position, start=False)
    before = (len(rig.raise_pin.states), len(rig.lower_pin.states))
    rig.barrier.start()
    rig.run(CONFIG.max_open - 5.0)
    assert (len(rig.raise_pin.states), len(rig.lower_pin.states)) == before
    assert rig.arm.position == position
    assert rig.state().value == state
    (boot,) = rig.of_kind("barrier_state")
    assert boot.data == {"from": "unknown", "to": state, "cause": "start"}
    assert boot.alarm is (state == "unknown")  # an arm between the limits needs a look


def test_arm_found_open_at_start_closes_after_max_open(barrier_rig):
    rig = barrier_rig(position=1.0)
    rig.until_state(STATE.CLOSED)
    assert rig.times("lower_out", True) == [pytest.approx(1000.0 + CONFIG.max_open)]


@pytest.mark.parametrize("moving", ["up", "down"])
def test_shutdown_turns_both_outputs_off(barrier_rig, moving):
    rig = barrier_rig()
    _open_for_a_waiting_car(rig)
    if moving == "down":
        rig.lane.drive_through()
        rig.until_state(STATE.CLOSING)
    else:
        rig.lane.back_out()
        rig.until_state(STATE.CLOSED)
        assert rig.barrier.grant()
    rig.run(0.5)
    assert rig.arm.raise_active or rig.arm.lower_active
    rig.barrier.shutdown()

    assert not rig.arm.raise_active and not rig.arm.lower_active
    assert rig.state() is STATE.STOPPED and not rig.barrier.grant()
    edges = (len(rig.raise_pin.states), len(rig.lower_pin.states))
    position = rig.arm.position
    rig.lane.occupy("safety")
    rig.lane.clear("safety")
    rig.run(CONFIG.max_open + CONFIG.travel_timeout)
    assert (len(rig.raise_pin.states), len(rig.lower_pin.states)) == edges
    assert rig.arm.position == position and 0.0 < position < 1.0


# ------------------------------------------------------------------------------ wiring


def test_the_simulator_catches_an_arm_lowered_onto_a_vehicle(barrier_rig):
    """The safety check every test ends with has teeth: a faulty controller, played here by
    driving the outputs by hand, is caught."""
    rig = barrier_rig(position=1.0, start=False)
    rig.lane.occupy("safety")
    rig.lower_out.set(True)
    rig.raise_out.set(True)
    rig.raise_out.set(False)
    rig.run(0.5)
    assert rig.arm.position < 1.0  # it really came down
    rig.lower_out.set(False)
    assert [v.split(" ", 1)[1].split(" (")[0] for v in rig.arm.violations] == [
        "lower_out energised while the safety loop is occupied",
        "raise_out and lower_out active together",
        "lower_out active while the safety loop is occupied",
    ]
    # Forgive the deliberate faults so the fixture checks only what follows (nothing).
    rig.arm.violations.clear()
    rig.arm.motor_history.clear()
    rig.baseline = len(rig.raise_pin.states) + len(rig.lower_pin.states)


def test_active_low_motor_contacts(barrier_rig):
    config = dataclasses.replace(CONFIG, raise_out=PinConfig("GPIO5", False),
                                 lower_out=PinConfig("GPIO6", False))
    rig = barrier_rig(config=config)
    assert rig.raise_pin.state and rig.lower_pin.state  # idle = high
    assert rig.barrier.grant()
    assert not rig.raise_pin.state and rig.lower_pin.state
    rig.until_state(STATE.OPEN)
    assert rig.raise_pin.state


def test_status_is_json_serialisable(barrier_rig):
    rig = barrier_rig()
    rig.lane.vehicle_arrives()
    assert rig.barrier.grant()
    status = json.loads(json.dumps(rig.barrier.status()))
    assert status == {"state": "opening", "in_service": True, "credits": 1,
                      "hold_open": False, "motor": "up",
                      "loops": {"arming": True, "safety": False},
                      "limits": {"open": False, "closed": True}}
