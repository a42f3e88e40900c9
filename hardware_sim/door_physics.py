"""A simulated door at the pin boundary, on gpiozero MockFactory pins.

The gate drives the strike pin and reads the REX and contact pins exactly as on a Pi; this
module is the world on the other side of the wires. It reads the strike's *electrical*
level, decides from the lock type whether the door can be pushed open, and drives the
contact and REX inputs to electrical levels (each configured input is active at the level
``PinConfig.active_high`` names, which is how edge.gpio_pins reads it too).

Everything waits through ``scheduler.call_later``, so the same object runs under
VirtualScheduler in tests and under the GateThread in the simulated daemon. Input changes
fire gpiozero's callbacks synchronously inside ``drive_high``/``drive_low``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edge.ports import Scheduler, TimerHandle
from firmware_config.schema import DoorConfig, LockType, PinConfig

# How long ``press_rex`` holds the button down: a quick human press.
REX_PRESS_TIME = 0.2


class DoorSim:
    """A door leaf with a strike or maglock, a REX button and a door contact.

    ``factory`` is a gpiozero MockFactory (typed Any: gpiozero ships no type hints).
    ``releases`` and ``relocks`` hold the scheduler time of every change of the strike
    between holding and released, so tests can see when the door was physically openable;
    a strike already released when the simulator is built counts as a release at that time,
    so the two lists pair up.

    Build it after the gate has created its GPIO devices and before ``Door.start``: it then
    drives the inputs to their idle levels over whatever the pull resistors set, and the
    door starts from a shut, quiet door. (The strike is watched in either order.)
    """

    def __init__(self, factory: Any, config: DoorConfig, scheduler: Scheduler,
                 pass_time: float) -> None:
        self._config = config
        self._scheduler = scheduler
        self.pass_time = pass_time
        self.releases: list[float] = []
        self.relocks: list[float] = []
        self._strike_pin: Any = factory.pin(config.strike.pin)
        self._contact_pin: Any = factory.pin(config.contact.pin) if config.contact else None
        self._rex_pin: Any = factory.pin(config.rex.pin) if config.rex else None
        self._open = False
        self._close_at = 0.0
        self._close_timer: TimerHandle | None = None
        self._rex_timer: TimerHandle | None = None
        self._watch_strike()
        if self.strike_released:
            self.releases.append(scheduler.now())
        # Idle levels: door shut, button up. A floating mock input reads low, which is
        # "active" for an active-low contact, i.e. a door that looks open before anything
        # has happened.
        self._drive(self._contact_pin, config.contact, False)
        self._drive(self._rex_pin, config.rex, False)

    # ------------------------------------------------------------------------ state

    @property
    def strike_released(self) -> bool:
        """Whether a push would open the door now, from the strike pin's electrical level."""
        relay_active = bool(self._strike_pin.state) == self._config.strike.active_high
        if self._config.lock_type is LockType.FAIL_SECURE:
            return relay_active  # the strike is energised to release
        return not relay_active  # the maglock holds only while energised

    @property
    def is_open(self) -> bool:
        """Whether the door leaf is physically open."""
        return self._open

    # ---------------------------------------------------------------------- actions

    def push(self) -> bool:
        """A person pushes the door: it opens for ``pass_time`` if the strike is released
        (or it is already open); against a locked strike nothing happens and False."""
        if not self._open and not self.strike_released:
            return False
        self._open_for(self.pass_time)
        return True

    def force(self) -> None:
        """A break-in: the door opens whatever the strike does, for ``pass_time``."""
        self._open_for(self.pass_time)

    def prop_open(self, seconds: float) -> bool:
        """Open the door (it must be openable, as for ``push``) and hold it open for
        ``seconds``, e.g. to carry furniture through; False against a locked strike."""
        if not self._open and not self.strike_released:
            return False
        self._open_for(seconds)
        return True

    def press_rex(self) -> None:
        """Press the REX button for ``REX_PRESS_TIME`` and let go."""
        if self._rex_pin is None or self._config.rex is None:
            raise RuntimeError("this door has no REX button configured")
        if self._rex_timer is not None:
            self._rex_timer.cancel()
        self._drive(self._rex_pin, self._config.rex, True)
        self._rex_timer = self._scheduler.call_later(REX_PRESS_TIME, self._release_rex)

    # -------------------------------------------------------------------- internals

    def _open_for(self, seconds: float) -> None:
        # An open door closes at the latest moment anyone asked it to stay open until.
        close_at = self._scheduler.now() + seconds
        if self._open and close_at <= self._close_at:
            return
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_at = close_at
        self._close_timer = self._scheduler.call_later(seconds, self._swing_shut)
        if not self._open:
            self._open = True
            self._drive(self._contact_pin, self._config.contact, True)

    def _swing_shut(self) -> None:
        # A strike latch and a maglock both let a door close while locked.
        self._close_timer = None
        self._open = False
        self._drive(self._contact_pin, self._config.contact, False)

    def _release_rex(self) -> None:
        self._rex_timer = None
        self._drive(self._rex_pin, self._config.rex, False)

    @staticmethod
    def _drive(pin: Any, config: PinConfig | None, active: bool) -> None:
        if pin is None or config is None:
            return
        if active == config.active_high:
            pin.drive_high()
        else:
            pin.drive_low()

    def _watch_strike(self) -> None:
        """Hook the strike pin's level changes.

        gpiozero has no callback for an *output* pin changing, so the pin instance's
        ``_change_state`` (through which MockPin records every level change) is wrapped.
        Wrapping the instance rather than asking the factory for a subclass works whether
        the gate created its output before or after this simulator.
        """
        pin = self._strike_pin
        original: Callable[[bool], bool] = pin._change_state

        def change_state(value: bool) -> bool:
            was_released = self.strike_released
            changed = original(value)
            if changed and self.strike_released != was_released:
                times = self.releases if self.strike_released else self.relocks
                times.append(self._scheduler.now())
            return changed

        pin._change_state = change_state


__all__ = ["REX_PRESS_TIME", "DoorSim"]
