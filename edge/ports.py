"""The small interfaces between the gate's domain code and the world.

Domain modules (decision, door, barrier, journal) depend only on these protocols; the
adapters that wrap nfcpy, pyserial and gpiozero live in their own modules, and tests and
the simulator plug in at the same seams.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Wall and monotonic time. The wall clock of a Pi is a claim, not a fact (see clock_trust)."""

    def wall(self) -> float:
        """Seconds since the epoch, as the system clock says."""
        ...

    def monotonic(self) -> float:
        """Seconds on CLOCK_MONOTONIC: never jumps, shared by every process on the machine."""
        ...


class SystemClock:
    """The real clocks of this machine."""

    def wall(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def monotonic(self) -> float:
        """CLOCK_MONOTONIC seconds."""
        return time.monotonic()


class ClockSync(Protocol):
    """Whether the operating system says its wall clock is synchronised (NTP). A synchronised
    clock is a trusted source: it may lower a high-water mark that a bad boot pushed ahead
    (see clock_trust)."""

    def synchronised(self) -> bool:
        """True only while the clock is synchronised to a time source within a small error."""
        ...


class TimerHandle(Protocol):
    """A pending call that can be cancelled; cancelling twice or after it ran is harmless."""

    def cancel(self) -> None:
        """Stop the call from happening."""
        ...


class Scheduler(Protocol):
    """Runs callbacks later, on the gate's single control thread.

    Door and barrier state machines are only ever called from that thread, so they need no
    locks; timers are how they wait.
    """

    def now(self) -> float:
        """Monotonic seconds, the time base of every delay."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now."""
        ...


class DigitalOutput(Protocol):
    """A relay or motor contact. ``active`` means energised as the wiring defines it."""

    @property
    def name(self) -> str:
        """What the output drives, e.g. ``strike`` or ``barrier_raise``."""
        ...

    @property
    def is_active(self) -> bool:
        """Whether the output is currently active."""
        ...

    def set(self, active: bool) -> None:
        """Drive the output; setting the state it already has is a no-op."""
        ...


class DigitalInput(Protocol):
    """A contact, button or loop detector. ``active`` is the logical state (button pressed,
    door open, vehicle present) after the configured active level is applied."""

    @property
    def name(self) -> str:
        """What the input senses, e.g. ``rex`` or ``safety_loop``."""
        ...

    @property
    def is_active(self) -> bool:
        """The current logical state."""
        ...

    def on_change(self, callback: Callable[[bool], None]) -> None:
        """Register ``callback(active)`` for every change; it runs on the control thread."""
        ...


class EventSink(Protocol):
    """Where domain code reports what happened; the gate writes it to the journal."""

    def __call__(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> None:
        """Record an event of ``kind`` with ``data``; alarms are never dropped by overflow."""
        ...


class Actuator(Protocol):
    """What a gate opens: a door or a barrier. Called only on the control thread."""

    def start(self) -> None:
        """Bring outputs to their idle state without any pulse."""
        ...

    def grant(self) -> bool:
        """Let one person or vehicle through; returns False when out of service."""
        ...

    def manual_open(self) -> bool:
        """Open by hand for a guard (the caller journals who and why)."""
        ...

    def set_mode(self, mode: str) -> bool:
        """Remote modes ``normal``, ``hold_open``, ``lockdown``; False when out of service."""
        ...

    def reset(self) -> bool:
        """A guard puts a faulted actuator back in service after checking it (a stuck arm
        freed); returns whether it is in service now."""
        ...

    def shutdown(self) -> None:
        """Put every output in its configured safe state."""
        ...

    @property
    def in_service(self) -> bool:
        """False when the hardware has faulted (e.g. a stuck barrier arm)."""
        ...

    def status(self) -> Mapping[str, object]:
        """A JSON-serialisable snapshot for the booth page and the control socket."""
        ...


class CardReader(Protocol):
    """A card reader adapter. It runs its own thread, normalises UIDs (edge.uid), debounces a
    card held on the reader, and survives the device vanishing (retry with backoff)."""

    def start(self, on_card: Callable[[str], None], emit: EventSink) -> None:
        """Begin reading; ``on_card(uid)`` and ``emit`` are called from the reader's thread."""
        ...

    def stop(self) -> None:
        """Stop reading and release the device; returns within about a second."""
        ...


@dataclass(frozen=True)
class LaneMessage:
    """What a lane's LED display shows and its voice module says (edge.lane_messages)."""

    lines: tuple[str, ...]  # one per display row, top first; Chinese as residents read it
    voice: str | None = None  # spoken once; None for silence
    # How long the lines stay before the display goes back to its idle text.
    hold_s: float = 8.0


class LaneDisplay(Protocol):
    """A lane's LED display and voice module (edge.displays.serial_display on a serial line).
    ``show`` never blocks the control thread: the adapter writes from its own thread, and a
    newer message replaces one not yet written."""

    def show(self, message: LaneMessage) -> None:
        """Show ``message`` (and say its voice line) as soon as the device takes it."""
        ...

    def close(self) -> None:
        """Stop writing and release the device; returns within about a second."""
        ...


@dataclass(frozen=True)
class PlateRead:
    """One recognition event of a lane's plate camera, validated by the adapter."""

    plate: str  # as the camera read it, normalised (edge.plates.normalize_plate)
    confidence: int  # 0..100 as the camera reports it
    camera: str  # the camera's own id or address, for the journal


class PlateCamera(Protocol):
    """A lane's licence-plate camera (edge.readers.plate_camera: the camera pushes events
    over HTTP). Like a CardReader it runs its own thread and survives bad input."""

    def start(self, on_plate: Callable[[PlateRead], None], emit: EventSink) -> None:
        """Begin receiving; ``on_plate`` and ``emit`` are called from the adapter's thread."""
        ...

    def stop(self) -> None:
        """Stop receiving and release the port; returns within about a second."""
        ...
