"""The sync agent's view of the wall clock's trust, read from the gate's ``clock.json``.

The gate owns the high-water mark of trusted time (edge/time_trust.py) and saves it
periodically; the agent only reads it, with the gate's own rule: a clock more than
``BACKWARDS_TOLERANCE_S`` earlier than the mark is untrusted. Reading the file on every
question keeps the two processes in agreement without any channel between them."""

from __future__ import annotations

import json
from pathlib import Path

from edge.ports import Clock
from edge.time_trust import BACKWARDS_TOLERANCE_S


class ClockTrust:
    """Answers "can the wall clock be believed right now?" from the persisted mark."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock

    def high_water_mark(self) -> float:
        """The saved mark; 0.0 (trust the clock) when missing or unreadable, as the gate does."""
        try:
            return float(json.loads(self.path.read_text())["high_water_mark"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def trusted(self) -> bool:
        """True unless the clock reads clearly earlier than the mark."""
        return self.clock.wall() + BACKWARDS_TOLERANCE_S >= self.high_water_mark()
