"""A simulated car-park lane at the pin boundary, on gpiozero MockFactory pins: the barrier
arm with its motor and limit switches, and vehicles on the arming and safety loops.

The gate drives the motor pins and reads the switch and loop pins exactly as on a Pi; this
module is the world on the other side of the wires. It reads the motor outputs' *electrical*
levels and drives the inputs to electrical levels, translating through each pin's
``PinConfig.active_high`` as edge.gpio_pins does.

Everything moves on ``scheduler.call_later`` ticks, so the same objects run under
VirtualScheduler in tests and under the GateThread in the simulated daemon. Input changes
fire gpiozero's callbacks synchronously inside ``drive_high``/``drive_low``.

Build the simulators after the gate has created its GPIO devices and before
``Barrier.start`` (as for DoorSim): a device claiming a pulled-up input drives it to its pull
level, which would otherwise overwrite the switch positions set here. Build the arm first:
the lane needs it.

Lane geometry (metres along the direction of travel, arm at 0; see LaneGeometry)::

    arming loop         stop line     safety loop
    [-5.5 ...... -2.8]     -1.0     [-0.6 ..|.. 1.4]
                                           arm
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from edge.ports import Scheduler, TimerHandle
from firmware_config.schema import BarrierConfig, PinConfig

TICK = 0.05  # seconds between physics steps: 20 Hz, finer than any loop detector reacts
_EPS = 1e-9

Watcher = Callable[[str, bool], None]
LoopName = Literal["arming", "safety"]


def _watch_pin(pin: Any, callback: Callable[[bool], None]) -> None:
    """Call ``callback(level)`` after each level change of a MockPin, before gpiozero's own
    callbacks run. gpiozero has no callback for an output changing, so the instance's
    ``_change_state`` (which MockPin calls for every change) is wrapped; wrapping the
    instance keeps the factory's pin class (ObservedMockPin and its outputs log) intact."""
    original: Callable[[Any], bool] = pin._change_state

    def change_state(value: Any) -> bool:
        changed = bool(original(value))
        if changed:
            callback(bool(pin.state))
        return changed

    pin._change_state = change_state


def _drive(pin: Any, config: PinConfig, active: bool) -> None:
    if active == config.active_high:
        pin.drive_high()
    else:
        pin.drive_low()


def _output_active(pin: Any, config: PinConfig) -> bool:
    # A line no device has claimed floats: the relay driver behind it stays off.
    return pin.function == "output" and bool(pin.state) == config.active_high


class _SimDevice:
    """What the arm and the lane share: a physics tick and watchers of their pins."""

    def __init__(self) -> None:
        self._watchers: list[Watcher] = []
        self._timer: TimerHandle | None = None

    def watch(self, callback: Watcher) -> None:
        """Call ``callback(name, active)`` on every logical change of this device's pins
        (see the class docstring), the instant it happens: for an input, before the
        controller's own callbacks run."""
        self._watchers.append(callback)

    def close(self) -> None:
        """Stop ticking."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _notify(self, name: str, active: bool) -> None:
        for callback in list(self._watchers):
            callback(name, active)


class BarrierArmSim(_SimDevice):
    """The arm: ``position`` 0 is closed, 1 open; it moves by ``1/travel_time`` per second
    while exactly one motor output is active (unless jammed) and works the limit switches.

    ``violations`` collects every breach of the barrier's safety rules the simulator sees:
    both motor contacts active at once, ``lower_out`` energised while the safety loop is
    occupied, the arm moving down while ``obstruction()`` (set by LaneSim) reports a vehicle
    under it. Motor output changes are checked the instant they happen; the rest on every
    tick and after every loop change, and counts once it has lasted ``reaction_grace``
    seconds (0 for tests with synchronous dispatch; the daemon, whose input callbacks are
    queued onto the control thread, needs a tick or two).
    ``motor_history`` holds ``(time, raise active, lower active)`` after every output change.
    ``watch`` reports ``raise_out``, ``lower_out``, ``open_limit`` and ``closed_limit``.
    """

    def __init__(self, factory: Any, config: BarrierConfig, scheduler: Scheduler,
                 travel_time: float, *, position: float = 0.0, tick: float = TICK,
                 reaction_grace: float = 0.0) -> None:
        super().__init__()
        self._config = config
        self._scheduler = scheduler
        self.travel_time = travel_time
        self.reaction_grace = reaction_grace
        self.position = min(1.0, max(0.0, position))
        self.jammed = False
        self.violations: list[str] = []
        self.motor_history: list[tuple[float, bool, bool]] = []
        self.obstruction: Callable[[], bool] = lambda: False
        self._tick_s = tick
        self._raise_pin: Any = factory.pin(config.raise_out.pin)
        self._lower_pin: Any = factory.pin(config.lower_out.pin)
        self._open_pin: Any = factory.pin(config.open_limit.pin)
        self._closed_pin: Any = factory.pin(config.closed_limit.pin)
        self._safety_pin: Any = factory.pin(config.safety_loop.pin)
        self._motion = self._motor_motion()
        self._last = scheduler.now()
        self._unsafe_since: float | None = None
        self._unsafe_reported = False
        _watch_pin(self._raise_pin, lambda _level: self._output_changed("raise_out"))
        _watch_pin(self._lower_pin, lambda _level: self._output_changed("lower_out"))
        _watch_pin(self._open_pin, lambda level: self._notify(
            "open_limit", level == config.open_limit.active_high))
        _watch_pin(self._closed_pin, lambda level: self._notify(
            "closed_limit", level == config.closed_limit.active_high))
        _drive(self._open_pin, config.open_limit, self.at_open_limit)
        _drive(self._closed_pin, config.closed_limit, self.at_closed_limit)
        self._timer = scheduler.call_later(tick, self._tick)

    # ------------------------------------------------------------------------ state

    @property
    def raise_active(self) -> bool:
        """Whether the raise contact is energised (logical level)."""
        return _output_active(self._raise_pin, self._config.raise_out)

    @property
    def lower_active(self) -> bool:
        """Whether the lower contact is energised (logical level)."""
        return _output_active(self._lower_pin, self._config.lower_out)

    @property
    def safety_occupied(self) -> bool:
        """Whether the safety loop reports a vehicle (read from its pin)."""
        return bool(self._safety_pin.state) == self._config.safety_loop.active_high

    @property
    def at_open_limit(self) -> bool:
        """Whether the arm is fully up (the open limit switch is made)."""
        return self.position >= 1.0 - _EPS

    @property
    def at_closed_limit(self) -> bool:
        """Whether the arm is fully down (the closed limit switch is made)."""
        return self.position <= _EPS

    def status(self) -> dict[str, object]:
        """A JSON-serialisable snapshot for the control socket."""
        return {"position": round(self.position, 3), "jammed": self.jammed,
                "raise": self.raise_active, "lower": self.lower_active,
                "violations": list(self.violations)}

    # ---------------------------------------------------------------------- actions

    def jam(self, jammed: bool = True) -> None:
        """Stop the arm moving whatever the motor does (a broken gearbox, a hand on the
        arm); ``jam(False)`` frees it."""
        self._integrate()
        self.jammed = jammed

    def check(self) -> None:
        """Look for an arm coming down onto a vehicle now (LaneSim calls this after each
        loop change; ticks call it too)."""
        unsafe: str | None = None
        if self.lower_active and self.safety_occupied:
            unsafe = "lower_out active while the safety loop is occupied"
        elif (self._motion < 0 and not self.jammed and not self.at_closed_limit
              and self.obstruction()):
            unsafe = "arm moving down onto a vehicle"
        if unsafe is None:
            self._unsafe_since = None
            self._unsafe_reported = False
            return
        now = self._scheduler.now()
        if self._unsafe_since is None:
            self._unsafe_since = now
        if not self._unsafe_reported and now - self._unsafe_since >= self.reaction_grace:
            self._unsafe_reported = True
            self._violation(unsafe)

    # -------------------------------------------------------------------- internals

    def _motor_motion(self) -> int:
        up, down = self.raise_active, self.lower_active
        if up == down:
            return 0  # both off, or both on and the motor fighting itself
        return 1 if up else -1

    def _integrate(self) -> None:
        now = self._scheduler.now()
        dt, self._last = now - self._last, now
        if dt <= 0 or self.jammed or self._motion == 0:
            return
        position = self.position + self._motion * dt / self.travel_time
        # Snap at the ends so float steps cannot leave the arm a hair short of a switch.
        self.position = 1.0 if position >= 1.0 - _EPS else 0.0 if position <= _EPS else position

    def _output_changed(self, name: str) -> None:
        # Only record and check here: driving a limit switch now would call back into the
        # controller while it is in the middle of setting its outputs.
        self._integrate()  # the motion up to now ran on the previous outputs
        self._motion = self._motor_motion()
        up, down = self.raise_active, self.lower_active
        self.motor_history.append((self._scheduler.now(), up, down))
        if up and down:
            self._violation("raise_out and lower_out active together")
        if name == "lower_out" and down and self.safety_occupied:
            self._violation("lower_out energised while the safety loop is occupied")
        self._notify(name, up if name == "raise_out" else down)

    def _violation(self, text: str) -> None:
        self.violations.append(f"t={self._scheduler.now():.3f} {text} "
                               f"(arm at {self.position:.2f})")

    def _tick(self) -> None:
        self._timer = self._scheduler.call_later(self._tick_s, self._tick)
        self._integrate()
        # Break before make: the switch being left opens before the other one closes.
        for pin, config, active in sorted(
            ((self._open_pin, self._config.open_limit, self.at_open_limit),
             (self._closed_pin, self._config.closed_limit, self.at_closed_limit)),
            key=lambda item: item[2],
        ):
            _drive(pin, config, active)
        self.check()


@dataclass(frozen=True)
class LaneGeometry:
    """Where things are, in metres along the direction of travel, the arm at 0. Both loops
    span (start, end); a waiting vehicle's front stops at ``stop_line`` (on the arming loop,
    clear of the safety loop); queued vehicles keep ``queue_gap`` to the one ahead; a front
    never gets closer than ``clearance`` to an arm that is not fully up."""

    arming: tuple[float, float] = (-5.5, -2.8)
    safety: tuple[float, float] = (-0.6, 1.4)
    stop_line: float = -1.0
    queue_gap: float = 1.0
    clearance: float = 0.05


class Motion(enum.StrEnum):
    """What a simulated vehicle is doing."""

    WAITING = "waiting"  # pulls up to the stop line (or the car ahead) and waits there
    THROUGH = "through"  # drives on once the arm is fully up, and leaves
    TAILGATE = "tailgate"  # drives on without waiting; only the arm itself stops it
    BACKING = "backing"  # reverses off the arming loop and leaves
    STALLED = "stalled"  # stopped where it is (broken down, driver on the phone)


@dataclass
class Vehicle:
    """One vehicle; it covers the lane from ``front - length`` to ``front``."""

    number: int
    length: float
    speed: float
    front: float
    motion: Motion = Motion.WAITING

    @property
    def back(self) -> float:
        """Where its rear is."""
        return self.front - self.length

    def covers(self, span: tuple[float, float]) -> bool:
        """Whether any part of it is over ``span``."""
        return self.front > span[0] and self.back < span[1]


class LaneSim(_SimDevice):
    """Vehicles and the two loop detectors of one lane, in front of ``arm``.

    Scripted vehicles: ``vehicle_arrives`` puts one at the stop line (or queued behind the
    last one, so several arrivals are cars nose to tail); ``drive_through`` sends the first
    waiting one on, ``back_out`` reverses it away, ``stall`` stops the one crossing.
    ``occupy``/``clear`` set a loop directly (a parked car, a detector fault), on top of
    what the vehicles cover. Vehicles behind a reversing one are not collision-checked.
    ``watch`` reports ``arming_loop`` and ``safety_loop``.
    """

    def __init__(self, factory: Any, config: BarrierConfig, scheduler: Scheduler,
                 arm: BarrierArmSim, *, geometry: LaneGeometry | None = None,
                 tick: float = TICK) -> None:
        super().__init__()
        self._config = config
        self._scheduler = scheduler
        self._arm = arm
        self.geometry = geometry or LaneGeometry()
        self._tick_s = tick
        self._pins: dict[LoopName, tuple[Any, PinConfig]] = {
            "arming": (factory.pin(config.arming_loop.pin), config.arming_loop),
            "safety": (factory.pin(config.safety_loop.pin), config.safety_loop),
        }
        self._forced: dict[LoopName, bool] = {"arming": False, "safety": False}
        self._occupied: dict[LoopName, bool] = {"arming": False, "safety": False}
        self._vehicles: list[Vehicle] = []  # front-most first
        self._numbers = 0
        self._last = scheduler.now()
        for loop, (pin, pin_config) in self._pins.items():
            self._watch_loop(loop, pin, pin_config)
            _drive(pin, pin_config, False)
        arm.obstruction = self.vehicle_under_arm

    # ------------------------------------------------------------------------ state

    @property
    def vehicles(self) -> tuple[Vehicle, ...]:
        """The vehicles in the lane, front-most first."""
        return tuple(self._vehicles)

    def occupied(self, loop: LoopName) -> bool:
        """Whether ``loop`` ("arming" or "safety") reports a vehicle."""
        return self._occupied[loop]

    def vehicle_under_arm(self) -> bool:
        """Whether something is where the arm comes down (a forced safety loop counts)."""
        return self._forced["safety"] or any(v.back < 0.0 < v.front for v in self._vehicles)

    def status(self) -> dict[str, object]:
        """A JSON-serialisable snapshot for the control socket."""
        return {"loops": dict(self._occupied),
                "vehicles": [{"number": v.number, "length": v.length,
                              "front": round(v.front, 2), "motion": v.motion.value}
                             for v in self._vehicles]}

    # ---------------------------------------------------------------------- actions

    def vehicle_arrives(self, length_m: float = 4.5, speed_mps: float = 2.0) -> Vehicle:
        """A vehicle pulls up: at the stop line, or ``queue_gap`` behind the last one
        (it then moves up as the queue does)."""
        g = self.geometry
        front = g.stop_line if not self._vehicles else min(
            g.stop_line, self._vehicles[-1].back - g.queue_gap)
        self._numbers += 1
        vehicle = Vehicle(self._numbers, length_m, speed_mps, front)
        self._vehicles.append(vehicle)
        self._update_loops()
        self._ensure_ticking()
        return vehicle

    def drive_through(self, tailgate: bool = False) -> Vehicle:
        """The first waiting (or stalled) vehicle drives on: it waits for the arm to be fully
        up, or with ``tailgate`` it just goes (an arm not fully up still stops it)."""
        vehicle = self._first(Motion.WAITING, Motion.STALLED)
        vehicle.motion = Motion.TAILGATE if tailgate else Motion.THROUGH
        self._ensure_ticking()
        return vehicle

    def back_out(self) -> Vehicle:
        """The first waiting (or stalled) vehicle reverses off the arming loop and leaves."""
        vehicle = self._first(Motion.WAITING, Motion.STALLED)
        vehicle.motion = Motion.BACKING
        self._ensure_ticking()
        return vehicle

    def stall(self) -> Vehicle:
        """The first vehicle under way forward stops where it is; ``drive_through`` restarts
        it."""
        vehicle = self._first(Motion.THROUGH, Motion.TAILGATE)
        vehicle.motion = Motion.STALLED
        return vehicle

    def occupy(self, loop: LoopName) -> None:
        """Make ``loop`` report a vehicle until ``clear``."""
        self._forced[loop] = True
        self._update_loops()

    def clear(self, loop: LoopName) -> None:
        """Undo ``occupy``; the loop still reports any vehicle over it."""
        self._forced[loop] = False
        self._update_loops()

    # -------------------------------------------------------------------- internals

    def _first(self, *motions: Motion) -> Vehicle:
        for vehicle in self._vehicles:
            if vehicle.motion in motions:
                return vehicle
        wanted = " or ".join(m.value for m in motions)
        raise LookupError(f"no vehicle in the lane is {wanted}")

    def _ensure_ticking(self) -> None:
        if self._timer is None:
            self._last = self._scheduler.now()
            self._timer = self._scheduler.call_later(self._tick_s, self._tick)

    def _tick(self) -> None:
        now = self._scheduler.now()
        dt, self._last = now - self._last, now
        ahead_back: float | None = None
        for vehicle in self._vehicles:
            self._move(vehicle, dt, ahead_back)
            if vehicle.motion is not Motion.BACKING:
                ahead_back = vehicle.back
        g = self.geometry
        self._vehicles = [
            v for v in self._vehicles
            if v.back <= g.safety[1] + 1.0
            and not (v.motion is Motion.BACKING and v.front < g.arming[0])
        ]
        self._update_loops()
        self._timer = None
        if self._vehicles:
            self._ensure_ticking()

    def _move(self, vehicle: Vehicle, dt: float, ahead_back: float | None) -> None:
        if vehicle.motion is Motion.STALLED:
            return
        if vehicle.motion is Motion.BACKING:
            vehicle.front -= vehicle.speed * dt
            return
        g = self.geometry
        limit = float("inf") if ahead_back is None else ahead_back - g.queue_gap
        arm_up = self._arm.at_open_limit
        if vehicle.motion is Motion.WAITING or (
                vehicle.motion is Motion.THROUGH and not arm_up
                and vehicle.front <= g.stop_line + _EPS):
            limit = min(limit, g.stop_line)
        if not arm_up and vehicle.front <= 0.0:
            limit = min(limit, max(vehicle.front, -g.clearance))
        vehicle.front = max(vehicle.front, min(vehicle.front + vehicle.speed * dt, limit))

    def _watch_loop(self, loop: LoopName, pin: Any, config: PinConfig) -> None:
        _watch_pin(pin, lambda level: self._notify(f"{loop}_loop", level == config.active_high))

    def _update_loops(self) -> None:
        spans: tuple[tuple[LoopName, tuple[float, float]], ...] = (
            ("arming", self.geometry.arming), ("safety", self.geometry.safety))
        covered = {loop: self._forced[loop] or any(v.covers(span) for v in self._vehicles)
                   for loop, span in spans}
        # Occupations before clearances: a vehicle moving from one loop to the next within a
        # tick is seen on both for an instant, never on neither.
        for gained in (True, False):
            for loop, active in covered.items():
                if active == gained and active != self._occupied[loop]:
                    self._occupied[loop] = active
                    pin, pin_config = self._pins[loop]
                    _drive(pin, pin_config, active)
        self._arm.check()


__all__ = ["TICK", "BarrierArmSim", "LaneGeometry", "LaneSim", "Motion", "Vehicle"]
