"""The door: an electric strike or maglock, a request-to-exit (REX) button and a door contact.

A state machine driven only from the gate's control thread: input callbacks and scheduler
timers call into it, and it waits only through ``Scheduler.call_later``. It drives one
output (the strike relay) and reports what happened through the event sink; the gate wraps
the outputs and journals their level changes itself, so this module reports meaning
(unlocked because of a grant, forced open) rather than relay edges.

Decisions worth knowing:

* **No pulse at boot.** The gate creates the strike output already at
  ``Door.locked_relay_state(config)``; ``start`` only asserts that level, so nothing unlocks
  for an instant on boot or restart (architecture principle 7).
* **Relock on close.** After an opening through an unlock window (grant, REX, manual), the
  strike relocks as soon as the door is closed again instead of staying released for the
  rest of the pulse, so a closed door is never left openable by the next passer-by.
* **Egress is never blocked.** REX opens in every mode, lockdown included.
* **Debouncing is ours.** gpiozero's MockPin ignores ``bounce_time`` and the adapters set
  none, so bouncing is filtered here, identically in simulation and on a Pi (see
  ``REX_QUIET`` and ``CONTACT_SETTLE``).
"""

from __future__ import annotations

import enum

from edge.ports import DigitalInput, DigitalOutput, EventSink, Scheduler, TimerHandle
from firmware_config.schema import DoorConfig, LockType

# A REX press counts only after the button has been quiet (no edge either way) this long.
# It swallows contact bounce on press and release (typically well under 20 ms) and an
# impatient double press; the door is already unlocked by the first press anyway.
REX_QUIET = 0.2

# A door contact change counts only once the level has held this long. Reed contacts bounce
# for a few ms and a door rattling in its frame in wind can flicker the contact; 50 ms is
# far below anything a person does, so real openings are reported without noticeable delay.
CONTACT_SETTLE = 0.05

FORCED_OPEN = "door_forced_open"
HELD_OPEN = "door_held_open"


class DoorMode(enum.StrEnum):
    """How the door behaves until told otherwise (set by a remote command or the booth)."""

    NORMAL = "normal"  # locked; grants, REX and manual opens pulse the strike
    HOLD_OPEN = "hold_open"  # unlocked until set back to normal (e.g. a move-in day)
    LOCKDOWN = "lockdown"  # locked; grants and manual opens refused, REX still opens


class Door:
    """An Actuator (edge.ports) for a door with a strike or maglock, optional REX and contact.

    Call every method on the control thread. ``rex`` and ``contact`` may be None when the
    door has no such input; without a contact there is no forced/held-open detection and
    the strike relocks at the end of each pulse.
    """

    # The positional order (config, outputs, inputs, scheduler, sink) is the gate's wiring
    # contract, shared with the barrier.
    def __init__(self, config: DoorConfig, strike: DigitalOutput,  # noqa: PLR0917
                 rex: DigitalInput | None, contact: DigitalInput | None,
                 scheduler: Scheduler, emit: EventSink) -> None:
        self._config = config
        self._strike = strike
        self._rex = rex
        self._contact = contact
        self._scheduler = scheduler
        self._emit = emit
        self._locked_level = self.locked_relay_state(config)

        self._running = False
        self._stopped = False
        self._mode = DoorMode.NORMAL
        # The current unlock pulse (grant, REX, manual): its relock timer and its cause.
        self._pulse_timer: TimerHandle | None = None
        self._pulse_cause: str | None = None

        self._last_rex_edge: float | None = None

        # Debounced door state, and the burst of raw edges being settled.
        self._door_open = False
        self._opened_at: float | None = None
        self._contact_raw = False
        self._settle_timer: TimerHandle | None = None
        self._burst_cause: str | None = None  # unlock cause when the burst began, if any
        self._held_timer: TimerHandle | None = None
        self._alarms: set[str] = set()

        if rex is not None:
            rex.on_change(self._on_rex)
        if contact is not None:
            contact.on_change(self._on_contact)

    # ----------------------------------------------------------------- Actuator protocol

    @staticmethod
    def locked_relay_state(config: DoorConfig) -> bool:
        """The relay level (True = active) at which the door is locked.

        A fail-secure strike is locked when unpowered, so an inactive relay is locked; a
        fail-safe maglock holds only while powered, so an active relay is locked.
        """
        return config.lock_type is LockType.FAIL_SAFE

    def start(self) -> None:
        """Assert the locked state (the output was created in it, so no edge) and begin
        watching the inputs."""
        if self._running or self._stopped:
            return
        self._strike.set(self._locked_level)
        if self._contact is not None:
            self._contact_raw = self._contact.is_active
            self._door_open = self._contact_raw
            if self._door_open:
                # Open at boot: we did not see it open, so it is not called forced, but if
                # it stays open the held-open alarm still reports it.
                self._opened_at = self._scheduler.now()
                self._arm_held_timer()
        self._running = True

    def grant(self) -> bool:
        """Unlock for one pulse (a grant during a pulse extends it); False in lockdown or
        when not in service."""
        if not self.in_service or self._mode is DoorMode.LOCKDOWN:
            return False
        self._open_window("grant")
        return True

    def manual_open(self) -> bool:
        """The same pulse, for a guard; refused in lockdown like a grant (lifting lockdown is
        a deliberate ``set_mode`` of its own)."""
        if not self.in_service or self._mode is DoorMode.LOCKDOWN:
            return False
        self._open_window("manual")
        return True

    def reset(self) -> bool:
        """A door has no fault a guard clears by hand: nothing to do; whether it is in
        service."""
        return self.in_service

    def set_mode(self, mode: DoorMode | str) -> bool:
        """Switch to ``normal``, ``hold_open`` or ``lockdown`` (ValueError for anything
        else); False when the door is not in service, so the command can be refused."""
        new = DoorMode(mode)
        if not self.in_service:
            return False
        if new is self._mode:
            return True
        previous = self._mode
        self._mode = new
        self._emit("door_mode", {"mode": new.value, "previous": previous.value})
        if new is DoorMode.HOLD_OPEN:
            self._cancel_pulse()
            self._unlock("mode_hold_open")
            # An open door is expected now; the held-open clock restarts on leaving.
            self._cancel(self._held_timer)
            self._held_timer = None
            return True
        if new is DoorMode.LOCKDOWN:
            # Lockdown ends a running pulse at once; REX can start a new one.
            self._cancel_pulse()
            self._lock("mode_lockdown")
        elif previous is DoorMode.HOLD_OPEN:
            self._lock("mode_normal")
        # Lockdown to normal leaves a running REX pulse alone: it ends on its own.
        if previous is DoorMode.HOLD_OPEN and self._door_open:
            self._opened_at = self._scheduler.now()
            self._arm_held_timer()
        return True

    def shutdown(self) -> None:
        """Stop reacting to inputs and timers and put the strike in ``config.shutdown_state``."""
        if self._stopped:
            return
        self._running = False
        self._stopped = True
        for timer in (self._pulse_timer, self._settle_timer, self._held_timer):
            self._cancel(timer)
        self._pulse_timer = self._settle_timer = self._held_timer = None
        self._pulse_cause = None
        if self._config.shutdown_state == "unlocked":
            self._unlock("shutdown")
        else:
            self._lock("shutdown")

    @property
    def in_service(self) -> bool:
        """True between ``start`` and ``shutdown``; a strike has no fault we can sense."""
        return self._running

    @property
    def mode(self) -> DoorMode:
        """The current mode."""
        return self._mode

    @property
    def locked(self) -> bool:
        """Whether the strike relay is at its locked level."""
        return self._strike.is_active == self._locked_level

    def status(self) -> dict[str, object]:
        """A JSON-serialisable snapshot: mode, locked, door_open (None without a contact),
        active alarms, in_service."""
        return {
            "mode": self._mode.value,
            "locked": self.locked,
            "door_open": self._door_open if self._contact is not None else None,
            "alarms": sorted(self._alarms),
            "in_service": self.in_service,
        }

    # ------------------------------------------------------------------ unlock windows

    def _open_window(self, cause: str) -> None:
        """Unlock for ``config.pulse`` from now, extending a pulse already running."""
        if self._mode is DoorMode.HOLD_OPEN:
            return  # already unlocked until the mode changes
        self._cancel(self._pulse_timer)
        self._pulse_timer = self._scheduler.call_later(self._config.pulse, self._pulse_ended)
        if self._pulse_cause is None:
            self._pulse_cause = cause
            self._unlock(cause)

    def _pulse_ended(self) -> None:
        self._pulse_timer = None
        self._pulse_cause = None
        self._lock("pulse_end")

    def _cancel_pulse(self) -> None:
        self._cancel(self._pulse_timer)
        self._pulse_timer = None
        self._pulse_cause = None

    def _window_cause(self) -> str | None:
        """Why the door may be opened right now, or None when an opening is forced."""
        if self._mode is DoorMode.HOLD_OPEN:
            return "hold_open"
        return self._pulse_cause

    def _unlock(self, cause: str) -> None:
        if self.locked:
            self._strike.set(not self._locked_level)
            self._emit("door_unlocked", {"cause": cause})

    def _lock(self, cause: str) -> None:
        if not self.locked:
            self._strike.set(self._locked_level)
            self._emit("door_locked", {"cause": cause})

    # ------------------------------------------------------------------------- REX

    def _on_rex(self, active: bool) -> None:
        if not self._running:
            return
        now = self._scheduler.now()
        quiet = self._last_rex_edge is None or now - self._last_rex_edge >= REX_QUIET
        self._last_rex_edge = now
        if not active or not quiet:
            return
        self._emit("rex", {"mode": self._mode.value})
        # REX opens in every mode: egress is never blocked, lockdown included.
        self._open_window("rex")

    # ---------------------------------------------------------------------- contact

    def _on_contact(self, active: bool) -> None:
        if not self._running:
            return
        self._contact_raw = active
        if self._settle_timer is None:
            # First edge of a burst: remember whether the door was openable now, so a door
            # pushed just before a pulse ends is not reported as forced 50 ms later.
            self._burst_cause = self._window_cause()
        else:
            self._settle_timer.cancel()
        self._settle_timer = self._scheduler.call_later(CONTACT_SETTLE, self._contact_settled)

    def _contact_settled(self) -> None:
        self._settle_timer = None
        burst_cause, self._burst_cause = self._burst_cause, None
        if self._contact_raw == self._door_open:
            return  # it bounced back: nothing happened
        if self._contact_raw:
            self._opened(burst_cause or self._window_cause())
        else:
            self._closed()

    def _opened(self, cause: str | None) -> None:
        self._door_open = True
        self._opened_at = self._scheduler.now()
        if cause is None:
            self._alarms.add(FORCED_OPEN)
            self._emit(FORCED_OPEN, {}, alarm=True)
        else:
            self._emit("door_opened", {"cause": cause})
        if self._mode is not DoorMode.HOLD_OPEN:
            self._arm_held_timer()

    def _closed(self) -> None:
        self._door_open = False
        self._cancel(self._held_timer)
        self._held_timer = None
        open_for = None
        if self._opened_at is not None:
            open_for = round(self._scheduler.now() - self._opened_at, 3)
        self._opened_at = None
        cleared = sorted(self._alarms)
        self._alarms.clear()
        self._emit("door_closed", {"open_for": open_for, "cleared": cleared})
        if self._pulse_timer is not None:
            # Relock on close: the person is through; the rest of the pulse would only
            # leave a closed door openable.
            self._cancel_pulse()
            self._lock("door_closed")

    def _arm_held_timer(self) -> None:
        self._cancel(self._held_timer)
        self._held_timer = self._scheduler.call_later(self._config.held_open_after,
                                                      self._held_too_long)

    def _held_too_long(self) -> None:
        self._held_timer = None
        if self._door_open and self._mode is not DoorMode.HOLD_OPEN:
            self._alarms.add(HELD_OPEN)
            self._emit(HELD_OPEN, {"after": self._config.held_open_after}, alarm=True)

    @staticmethod
    def _cancel(timer: TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()


__all__ = ["CONTACT_SETTLE", "FORCED_OPEN", "HELD_OPEN", "REX_QUIET", "Door", "DoorMode"]
