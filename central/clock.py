"""The desk's time, read from the one clock interface of the project (``edge.ports.Clock``:
wall and monotonic seconds): every action reads "now" once, as an aware instant
(``utc_now``), and site-local dates come from that instant in the site's time zone
(domain-rules.md conventions). ``FixedClock`` is a Clock a test or a replay moves by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from edge.ports import Clock


def utc_now(clock: Clock) -> datetime:
    """The clock's wall time as an aware UTC instant."""
    return datetime.fromtimestamp(clock.wall(), UTC)


class FixedClock:
    """A Clock that stands still until moved: for tests and for replaying a day's work.

    Its monotonic time moves with every step forward and stands still on a step back,
    as a machine's does when its wall clock is set back."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)
        self._monotonic = 0.0

    def wall(self) -> float:
        """The set instant, in seconds since the epoch."""
        return self._at.timestamp()

    def monotonic(self) -> float:
        """Seconds moved forward since the clock was made."""
        return self._monotonic

    def set(self, at: datetime) -> None:
        """Move to ``at`` (forwards or backwards)."""
        at = _aware(at)
        self._monotonic += max(0.0, (at - self._at).total_seconds())
        self._at = at

    def advance(self, delta: timedelta) -> None:
        """Move by ``delta`` (negative: back)."""
        self.set(self._at + delta)


def epoch_instant(epoch: object) -> datetime | None:
    """Epoch seconds from a gate or the sync store as an aware UTC instant; None for what no
    clock says (null, a flag, a value out of range)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | float):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("FixedClock needs an aware datetime")
    return at


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of a site's time zone name (cached: sites share a handful)."""
    return ZoneInfo(name)


def local_date(at: datetime, timezone: str) -> date:
    """The calendar date of instant ``at`` in ``timezone``."""
    return at.astimezone(zone(timezone)).date()
