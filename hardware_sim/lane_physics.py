"""Vehicles in a simulated car-park lane and its two loop detectors, at the pin boundary on
gpiozero MockFactory pins, in front of a hardware_sim.barrier_physics arm: vehicles pull up,
queue, drive through or back out, and the loops report what they cover. The arm is told
when a vehicle is under it, so it can see one come down onto a car.

Everything moves on ``scheduler.call_later`` ticks, as the arm does. Build the lane after
the arm.

Lane geometry (metres along the direction of travel, arm at 0; see LaneGeometry)::

    arming loop         stop line     safety loop
    [-5.5 ...... -2.8]     -1.0     [-0.6 ..|.. 1.4]
                                           arm
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from edge.ports import Scheduler
from firmware_config.schema import BarrierConfig, PinConfig
from hardware_sim.barrier_physics import EPS, TICK, BarrierArmSim, SimDevice, drive, watch_pin

LoopName = Literal["arming", "safety"]


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


class LaneSim(SimDevice):
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
            drive(pin, pin_config, False)
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
                and vehicle.front <= g.stop_line + EPS):
            limit = min(limit, g.stop_line)
        if not arm_up and vehicle.front <= 0.0:
            limit = min(limit, max(vehicle.front, -g.clearance))
        vehicle.front = max(vehicle.front, min(vehicle.front + vehicle.speed * dt, limit))

    def _watch_loop(self, loop: LoopName, pin: Any, config: PinConfig) -> None:
        watch_pin(pin, lambda level: self._notify(f"{loop}_loop", level == config.active_high))

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
                    drive(pin, pin_config, active)
        self._arm.check()


__all__ = ["LaneGeometry", "LaneSim", "LoopName", "Motion", "Vehicle"]
