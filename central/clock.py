"""The desk's clock, a port: every action reads "now" once from it, and site-local dates
come from that instant in the site's time zone (domain-rules.md conventions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Where "now" comes from."""

    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """Aware UTC now."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved: for tests and for replaying a day's work."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        """The set instant."""
        return self._at

    def set(self, at: datetime) -> None:
        """Move to ``at`` (forwards or backwards)."""
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def advance(self, delta: timedelta) -> None:
        """Move by ``delta``."""
        self._at += delta


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of a site's time zone name (cached: sites share a handful)."""
    return ZoneInfo(name)


def local_date(at: datetime, timezone: str) -> date:
    """The calendar date of instant ``at`` in ``timezone``."""
    return at.astimezone(zone(timezone)).date()
