"""Time trust: a Pi has no real-time clock, so the wall clock is a claim.

A high-water mark of trusted wall time is saved every ``hwm_interval``. If the clock ever
reads earlier than the mark (at boot after a power cut, or a jump backwards while running),
the clock is untrusted until it catches up with the mark again (NTP fixed it)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from edge.ports import Clock

log = logging.getLogger(__name__)

# A clock a little behind the mark is ordinary jitter of a synced clock; this much is not.
BACKWARDS_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class TrustChange:
    """The clock's trust changed; journalled as ``clock_trust``."""

    trusted: bool
    wall: float
    high_water_mark: float
    cause: str


class TimeTrust:
    """Tracks whether the wall clock can be believed, persisting the mark in ``path``."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self.high_water_mark = self._load()
        self.trusted = True

    def _load(self) -> float:
        try:
            return float(json.loads(self.path.read_text())["high_water_mark"])
        except FileNotFoundError:
            return 0.0
        except (ValueError, KeyError, TypeError):
            # A torn or corrupt file cannot prove anything about time: start from zero,
            # which trusts the clock, rather than refusing to boot.
            return 0.0

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "w") as fh:
                json.dump({"high_water_mark": self.high_water_mark}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            # A full disk must not stop the gate (egress): the mark stays in memory and the
            # next tick saves it again.
            log.warning("cannot save the clock's high-water mark to %s: %s", self.path, exc)

    def at_boot(self) -> TrustChange | None:
        """Judge the clock at start; returns a change when it is untrusted."""
        wall = self.clock.wall()
        if wall + BACKWARDS_TOLERANCE_S < self.high_water_mark:
            self.trusted = False
            return TrustChange(False, wall, self.high_water_mark, "clock earlier than last boot")
        self.trusted = True
        self.high_water_mark = max(self.high_water_mark, wall)
        self._save()
        return None

    def tick(self) -> TrustChange | None:
        """Called periodically: saves the mark and notices the clock jumping or recovering."""
        wall = self.clock.wall()
        if self.trusted:
            if wall + BACKWARDS_TOLERANCE_S < self.high_water_mark:
                self.trusted = False
                return TrustChange(False, wall, self.high_water_mark, "clock jumped backwards")
            self.high_water_mark = max(self.high_water_mark, wall)
            self._save()
            return None
        if wall >= self.high_water_mark:
            self.trusted = True
            self.high_water_mark = wall
            self._save()
            return TrustChange(True, wall, self.high_water_mark, "clock caught up with mark")
        return None
