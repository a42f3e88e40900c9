"""Reader garbage, coalesced: what a noisy line may cost the journal.

A reader that sends lines which are not card numbers (a wrong ``uid_format``, a bridge that
chatters, noise on a long cable) must not write one fsynced journal event per line: a
flood of them would wear the SD card, push real events out of a full journal and hide them
in the uplink. So the first bad line after a quiet spell is reported at once (an installer
trying a reader sees it), the ones after it are counted, and at most one event per
``interval`` carries their count and the first of them as a sample. Whatever is still
counted when the reader stops is reported then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# At most one garbage event per reader per this many seconds, after the first.
GARBAGE_INTERVAL_S = 60.0


@dataclass(frozen=True)
class GarbageReport:
    """``count`` bad lines, the first of which was ``line`` (refused for ``error``), seen
    over ``seconds`` (0 for a line reported on its own)."""

    count: int
    line: str
    error: str
    seconds: float


class GarbageCounter:
    """Decides when garbage is reported. Not thread-safe: one reader thread calls it."""

    def __init__(self, interval: float, now: Callable[[], float]) -> None:
        self._interval = interval
        self._now = now
        self._window_end: float | None = None  # None: quiet, the next line is reported at once
        self._count = 0
        self._first: tuple[str, str, float] | None = None  # line, error, seen at

    def add(self, line: str, error: str) -> GarbageReport | None:
        """Count one bad line; the report to make now, if any."""
        report = self.due()
        now = self._now()
        if self._window_end is None:
            self._window_end = now + self._interval
            return report or GarbageReport(1, line, error, 0.0)
        if self._count == 0:
            self._first = (line, error, now)
        self._count += 1
        return report

    def due(self) -> GarbageReport | None:
        """The report of the interval that has just ended, if it counted anything."""
        if self._window_end is None or self._now() < self._window_end:
            return None
        report = self.flush()
        # Still noisy: the next interval starts now. Quiet: the next line is news again.
        self._window_end = self._now() + self._interval if report else None
        return report

    def flush(self) -> GarbageReport | None:
        """Whatever is counted and not yet reported (at stop)."""
        if self._count == 0 or self._first is None:
            return None
        line, error, since = self._first
        report = GarbageReport(self._count, line, error, round(self._now() - since, 3))
        self._count, self._first = 0, None
        return report


__all__ = ["GARBAGE_INTERVAL_S", "GarbageCounter", "GarbageReport"]
