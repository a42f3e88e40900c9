"""The car-park barrier: an arm with a raise and a lower motor contact, two limit switches,
an arming loop in front of the arm and a safety loop under it.

A state machine driven only from the gate's control thread: input callbacks and scheduler
timers call into it, and it waits only through ``Scheduler.call_later``. The gate wraps the
outputs and journals their level changes; this module reports meaning (a vehicle passed,
the arm reversed, the arm is stuck).

Decisions worth knowing:

* **Credits.** Every grant (or guard's manual open) adds one credit; a vehicle passing the
  safety loop spends one. The arm stays up while credits remain, so two grants in a row let
  two cars through, and a car passing with no credit raises a ``tailgate`` alarm.
* **A vehicle has passed when the safety loop has been clear for ``passage_gap``**; shorter
  gaps (a detector relay chattering, the drawbar between a tractor and its trailer) belong
  to the same vehicle. A following car that drives onto the loop later than that is a car of
  its own: with the arm held up for it (its own credit) it is counted, its credit spent,
  its presence recorded. The arm lowers only once the safety loop has been clear for the
  longer ``close_delay`` (and no credit is left); a vehicle has backed out when the arming
  loop has been clear for ``close_delay`` without the safety loop having seen it.
* **Never onto a vehicle.** ``_motor`` is the only code that energises ``lower_out`` and it
  reads the safety loop first; the safety loop occupied while lowering reverses the arm.
* **No movement at boot.** ``start`` only reads the limit switches. An arm found open stays
  open until ``max_open`` runs out (a vehicle granted before a restart can still pass); an
  arm found between the limits (power lost mid-travel) is reported and left where it is
  until a grant raises it or a guard resets it.
* **Stuck means stopped.** A limit switch not reached within ``travel_timeout`` turns the
  motor off and takes the barrier out of service; it does not try the other way (something
  may be pinned under the arm). ``reset`` after inspection re-learns the position.

Longer than ~400 lines on purpose: one explicit state machine, whose transitions read
together; split across modules, "never onto a vehicle" would no longer be checkable in one
reading.
"""

from __future__ import annotations

import enum
from typing import Literal

from edge.ports import DigitalInput, DigitalOutput, EventSink, Scheduler, TimerHandle
from firmware_config.schema import BarrierConfig

Direction = Literal["up", "down"]


class BarrierState(enum.StrEnum):
    """Where the arm is, as far as the controller knows."""

    UNKNOWN = "unknown"  # before start, or found between the limit switches
    CLOSED = "closed"
    OPENING = "opening"
    OPEN = "open"
    CLOSING = "closing"
    STUCK = "stuck"  # out of service until a guard resets it
    STOPPED = "stopped"  # after shutdown


class Barrier:
    """An Actuator (edge.ports) for a barrier arm; call every method on the control thread."""

    def __init__(self, config: BarrierConfig, raise_out: DigitalOutput,  # noqa: PLR0917
                 lower_out: DigitalOutput, open_limit: DigitalInput,
                 closed_limit: DigitalInput, arming_loop: DigitalInput,
                 safety_loop: DigitalInput, scheduler: Scheduler, emit: EventSink) -> None:
        self._config = config
        self._raise = raise_out
        self._lower = lower_out
        self._open_limit = open_limit
        self._closed_limit = closed_limit
        self._arming = arming_loop
        self._safety = safety_loop
        self._scheduler = scheduler
        self._emit = emit

        self._state = BarrierState.UNKNOWN
        self._running = False
        self._credits = 0
        self._hold = False
        # Why the arm should come down once credits are spent (None: nothing asked yet).
        self._close_cause: str | None = None
        self._expired = False  # max_open ran out: close even with credits left
        # Whether whatever is on (or just left) the arming loop has reached the safety loop.
        self._forward = False
        # A loop's clear edge counts only after close_delay; these are those waits.
        self._arming_clear: TimerHandle | None = None
        self._safety_clear: TimerHandle | None = None
        # The shorter wait after which a clear safety loop means the vehicle has passed.
        self._passage_clear: TimerHandle | None = None
        self._passage_pending = False  # the safety loop cleared with the arm not down
        self._travel: TimerHandle | None = None
        self._max_open: TimerHandle | None = None

        open_limit.on_change(self._on_open_limit)
        closed_limit.on_change(self._on_closed_limit)
        arming_loop.on_change(self._on_arming)
        safety_loop.on_change(self._on_safety)

    # ----------------------------------------------------------------- Actuator protocol

    def start(self) -> None:
        """Learn the arm's position from the limit switches; drive no motor."""
        if self._running or self._state is BarrierState.STOPPED:
            return
        self._running = True
        self._motor(None)  # both outputs were created inactive: this changes nothing
        self._learn_position("start")

    def grant(self) -> bool:
        """Let one vehicle through; False when out of service."""
        return self._admit("grant")

    def manual_open(self) -> bool:
        """A guard lets one vehicle through (a credit like a grant); False when out of
        service: a stuck arm is inspected and ``reset`` before it is driven again."""
        return self._admit("manual_open")

    def set_mode(self, mode: str) -> bool:
        """Remote modes: ``hold_open`` keeps the arm up; ``normal`` and ``lockdown`` let it
        work normally (the gate refuses cards in lockdown; an arm is never held down)."""
        if mode not in ("normal", "hold_open", "lockdown"):
            raise ValueError(f"unknown mode {mode!r}")
        self.hold_open(mode == "hold_open")
        return self.in_service

    def hold_open(self, on: bool) -> None:
        """Keep the arm up until released (a remote command); nobody passing is a tailgater
        meanwhile. Remembered while stuck and applied after ``reset``."""
        if on == self._hold:
            return
        self._hold = on
        if on:
            self._expired = False
            self._cancel_max_open()
            if self.in_service and self._state is not BarrierState.OPEN:
                self._raise_arm("hold_open")
        elif self._state is BarrierState.OPEN:
            self._close_cause = "hold_released"
            self._restart_max_open()
            self._consider_closing()

    def shutdown(self) -> None:
        """Both motor outputs off, wherever the arm is; it is never lowered at shutdown."""
        self._motor(None)
        for timer in (self._travel, self._max_open, self._arming_clear, self._safety_clear,
                      self._passage_clear):
            if timer is not None:
                timer.cancel()
        self._travel = self._max_open = self._arming_clear = self._safety_clear = None
        self._passage_clear = None
        if self._state is not BarrierState.STOPPED:
            self._transition(BarrierState.STOPPED, "shutdown")
        self._running = False

    def reset(self) -> bool:
        """A guard clears a stuck barrier after inspecting it: the position is learnt again
        from the limit switches. Returns whether the barrier is back in service."""
        if self._state is not BarrierState.STUCK:
            return False
        self._learn_position("reset")
        self._emit("barrier_reset", {"state": self._state.value})
        if self._hold and self.in_service and self.state is not BarrierState.OPEN:
            self._raise_arm("hold_open")
        return self.in_service

    @property
    def state(self) -> BarrierState:
        """The current state."""
        return self._state

    @property
    def in_service(self) -> bool:
        """False when stuck (until reset), before start and after shutdown."""
        return self._running and self._state not in (BarrierState.STUCK, BarrierState.STOPPED)

    def status(self) -> dict[str, object]:
        """A JSON-serialisable snapshot for the booth page and the control socket."""
        motor = "up" if self._raise.is_active else "down" if self._lower.is_active else None
        return {
            "state": self._state.value,
            "in_service": self.in_service,
            "credits": self._credits,
            "hold_open": self._hold,
            "motor": motor,
            "loops": {"arming": self._arming.is_active, "safety": self._safety.is_active},
            "limits": {"open": self._open_limit.is_active, "closed": self._closed_limit.is_active},
        }

    # ----------------------------------------------------------------------- motion

    def _motor(self, direction: Direction | None) -> bool:
        """The only code that changes the motor outputs. Refuses (False) to lower while the
        safety loop is occupied; switches the running contact off before the other one on,
        so the two are never active together."""
        if direction == "down" and self._safety.is_active:
            return False
        if direction != "up":
            self._raise.set(False)
        if direction != "down":
            self._lower.set(False)
        if direction == "up":
            self._raise.set(True)
        elif direction == "down":
            self._lower.set(True)
        return True

    def _raise_arm(self, cause: str) -> None:
        if self._state in (BarrierState.OPENING, BarrierState.OPEN):
            return
        if self._open_limit.is_active:  # e.g. a reversal before the arm left the limit
            self._motor(None)
            self._enter_open(cause)
            return
        self._motor("up")
        self._transition(BarrierState.OPENING, cause)
        self._start_travel("open_limit", "up")

    def _lower_arm(self, cause: str) -> None:
        if not self._motor("down"):
            return  # the safety loop clearing will bring us back here
        self._credits = 0  # unused grants lapse with max_open
        self._expired = False
        self._cancel_max_open()
        self._transition(BarrierState.CLOSING, cause)
        self._start_travel("closed_limit", "down")

    def _stop_travel(self) -> None:
        if self._travel is not None:
            self._travel.cancel()
            self._travel = None

    def _start_travel(self, limit: str, direction: Direction) -> None:
        self._stop_travel()
        self._travel = self._scheduler.call_later(
            self._config.travel_timeout, lambda: self._travel_timed_out(limit, direction))

    def _travel_timed_out(self, limit: str, direction: Direction) -> None:
        self._travel = None
        if self._state in (BarrierState.OPENING, BarrierState.CLOSING):
            self._declare_stuck(limit, direction, "travel_timeout")

    def _declare_stuck(self, limit: str, direction: Direction | None, reason: str) -> None:
        self._motor(None)
        self._stop_travel()
        self._cancel_max_open()
        self._credits = 0
        self._expired = False
        self._close_cause = None
        self._transition(BarrierState.STUCK, reason, alarm=True)
        timeout = self._config.travel_timeout if reason == "travel_timeout" else None
        self._emit("barrier_stuck", {"limit": limit, "direction": direction,
                                     "timeout": timeout, "reason": reason}, alarm=True)

    def _learn_position(self, cause: str) -> None:
        opened, closed = self._open_limit.is_active, self._closed_limit.is_active
        self._credits = 0
        self._expired = False
        self._close_cause = None
        if opened and closed:
            self._declare_stuck("open_limit+closed_limit", None, "both_limits_active")
        elif closed:
            self._enter_closed(cause)
        elif opened:
            self._enter_open(cause)
        else:
            self._transition(BarrierState.UNKNOWN, cause, alarm=True)

    def _enter_open(self, cause: str) -> None:
        self._stop_travel()
        self._transition(BarrierState.OPEN, cause)
        self._expired = False
        self._restart_max_open()
        self._consider_closing()

    def _enter_closed(self, cause: str) -> None:
        self._stop_travel()
        self._cancel_max_open()
        self._close_cause = None
        self._expired = False
        self._transition(BarrierState.CLOSED, cause)
        if self._hold:
            self._raise_arm("hold_open")

    def _transition(self, to: BarrierState, cause: str, *, alarm: bool = False) -> None:
        before, self._state = self._state, to
        self._emit("barrier_state", {"from": before.value, "to": to.value, "cause": cause},
                   alarm=alarm)

    # ------------------------------------------------------------------ open and close

    def _admit(self, cause: str) -> bool:
        if not self.in_service:
            return False
        self._credits += 1
        if self._state is BarrierState.OPEN:
            # A fresh grant gets the whole max_open, as if the arm had just opened.
            self._expired = False
            self._restart_max_open()
        else:
            self._raise_arm(cause)  # reverses a closing arm; nothing to do while opening
        return True

    def _closing_due(self) -> bool:
        if self._state is not BarrierState.OPEN or self._hold:
            return False
        if self._safety.is_active or self._safety_clear is not None:
            return False  # something on the safety loop, or it has not been clear long enough
        return self._expired or (self._credits == 0 and self._close_cause is not None)

    def _consider_closing(self) -> None:
        if self._closing_due():
            self._lower_arm("max_open" if self._expired else self._close_cause or "close")

    def _restart_max_open(self) -> None:
        self._cancel_max_open()
        if self._state is BarrierState.OPEN and not self._hold:
            self._max_open = self._scheduler.call_later(self._config.max_open,
                                                        self._max_open_elapsed)

    def _cancel_max_open(self) -> None:
        if self._max_open is not None:
            self._max_open.cancel()
            self._max_open = None

    def _max_open_elapsed(self) -> None:
        self._max_open = None
        if self._state is BarrierState.OPEN and not self._hold:
            self._expired = True
            self._consider_closing()

    # ------------------------------------------------------------------------ inputs

    def _on_open_limit(self, active: bool) -> None:
        if not self._running or not active:
            return
        # Only the first make of the switch counts; contact bounce arrives in OPEN and is
        # ignored there.
        if self._state is BarrierState.OPENING:
            self._motor(None)
            self._enter_open("open_limit")
        elif self._state is BarrierState.UNKNOWN:  # moved by hand to a known position
            self._enter_open("open_limit")

    def _on_closed_limit(self, active: bool) -> None:
        if not self._running or not active:
            return
        if self._state is BarrierState.CLOSING:
            self._motor(None)
            self._enter_closed("closed_limit")
        elif self._state is BarrierState.UNKNOWN:
            self._enter_closed("closed_limit")

    def _on_arming(self, active: bool) -> None:
        if not self._running:
            return
        if not active:
            if self._arming_clear is not None:
                self._arming_clear.cancel()
            self._arming_clear = self._scheduler.call_later(self._config.close_delay,
                                                            self._arming_cleared)
            return
        if self._arming_clear is not None:
            # Back within close_delay: the same vehicle rolling to and fro at the reader.
            self._arming_clear.cancel()
            self._arming_clear = None
            return
        self._forward = False
        self._emit("vehicle_arrived", {"credits": self._credits})
        if self._state is BarrierState.OPEN:
            self._expired = False
            self._restart_max_open()

    def _arming_cleared(self) -> None:
        self._arming_clear = None
        if self._forward:
            return  # it drove on over the safety loop; that loop reports the passage
        # The vehicle left backwards; the grant it had (if any) goes with it.
        if self._credits > 0:
            self._credits -= 1
        self._emit("vehicle_backed_out", {"credits": self._credits})
        self._close_cause = "vehicle_backed_out"
        self._consider_closing()

    def _on_safety(self, active: bool) -> None:
        if not self._running:
            return
        if not active:
            self._passage_pending = self._state is not BarrierState.CLOSED
            for timer in (self._safety_clear, self._passage_clear):
                if timer is not None:
                    timer.cancel()
            self._passage_clear = self._scheduler.call_later(self._config.passage_gap,
                                                             self._passage_cleared)
            self._safety_clear = self._scheduler.call_later(self._config.close_delay,
                                                            self._safety_cleared)
            return
        if self._arming.is_active or self._arming_clear is not None:
            self._forward = True
        if self._passage_clear is not None:
            self._passage_clear.cancel()  # the same vehicle (or its trailer) is still here
            self._passage_clear = None
        if self._safety_clear is not None:
            self._safety_clear.cancel()  # something on the loop again: not yet to close
            self._safety_clear = None
        if self._state is BarrierState.CLOSING:
            self._raise_arm("safety_reverse")
            self._close_cause = "safety_reverse"
            self._emit("safety_reverse", {"credits": self._credits})

    def _passage_cleared(self) -> None:
        self._passage_clear = None
        if self._passage_pending:
            self._passage_pending = False
            self._vehicle_passed()
        if self._arming.is_active:
            self._forward = False  # what is left on the arming loop has not crossed yet

    def _safety_cleared(self) -> None:
        self._safety_clear = None
        if self._passage_clear is not None:  # passage_gap above close_delay: never, but safe
            self._passage_clear.cancel()
            self._passage_cleared()
        self._consider_closing()

    def _vehicle_passed(self) -> None:
        credited = self._credits > 0
        if credited:
            self._credits -= 1
        self._close_cause = "vehicle_passed"
        self._emit("vehicle_passed", {"credited": credited, "credits": self._credits})
        arm_raised_by_us = self._state in (
            BarrierState.OPENING, BarrierState.OPEN, BarrierState.CLOSING)
        if not credited and not self._hold and arm_raised_by_us:
            self._emit("tailgate", {"state": self._state.value}, alarm=True)


__all__ = ["Barrier", "BarrierState"]
