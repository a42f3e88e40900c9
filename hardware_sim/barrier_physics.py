"""A simulated barrier arm at the pin boundary, on gpiozero MockFactory pins: its motor and
limit switches, and the watch on the barrier's safety rules. The vehicles and loops in
front of it are hardware_sim.lane_physics.

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
the lane needs it. ``watch_pin``, ``drive`` and ``SimDevice`` are the pin-level parts the
lane shares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.ports import Scheduler, TimerHandle
from firmware_config.schema import BarrierConfig, PinConfig

TICK = 0.05  # seconds between physics steps: 20 Hz, finer than any loop detector reacts
EPS = 1e-9  # positions closer than this are equal

Watcher = Callable[[str, bool], None]


def watch_pin(pin: Any, callback: Callable[[bool], None]) -> None:
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


def drive(pin: Any, config: PinConfig, active: bool) -> None:
    """Drive an input pin to the electrical level that means ``active`` for ``config``."""
    if active == config.active_high:
        pin.drive_high()
    else:
        pin.drive_low()


def _output_active(pin: Any, config: PinConfig) -> bool:
    # A line no device has claimed floats: the relay driver behind it stays off.
    return pin.function == "output" and bool(pin.state) == config.active_high


class SimDevice:
    """What the arm and the lane (hardware_sim.lane_physics) share: a physics tick and
    watchers of their pins."""

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


class BarrierArmSim(SimDevice):
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
        watch_pin(self._raise_pin, lambda _level: self._output_changed("raise_out"))
        watch_pin(self._lower_pin, lambda _level: self._output_changed("lower_out"))
        watch_pin(self._open_pin, lambda level: self._notify(
            "open_limit", level == config.open_limit.active_high))
        watch_pin(self._closed_pin, lambda level: self._notify(
            "closed_limit", level == config.closed_limit.active_high))
        drive(self._open_pin, config.open_limit, self.at_open_limit)
        drive(self._closed_pin, config.closed_limit, self.at_closed_limit)
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
        return self.position >= 1.0 - EPS

    @property
    def at_closed_limit(self) -> bool:
        """Whether the arm is fully down (the closed limit switch is made)."""
        return self.position <= EPS

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
        self.position = 1.0 if position >= 1.0 - EPS else 0.0 if position <= EPS else position

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
            drive(pin, config, active)
        self.check()


__all__ = ["EPS", "TICK", "BarrierArmSim", "SimDevice", "drive", "watch_pin"]
