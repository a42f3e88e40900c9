"""What one device may cost the central side: token buckets per device for the events it
ships and for the catch-up requests it makes.

A bucket holds up to ``burst`` tokens and gains ``per_minute / 60`` a second. An event batch
takes one token per event; a catch-up answer takes one. Over the quota central neither
stores nor answers the excess, and the device's own retry brings it back later (see
docs/sync-protocol.md, *Quotas*), so nothing is lost and other devices are untouched: each
device has its own buckets. The hub alarm that says so is raised at most once per
``alarm_interval_s`` per device and kind."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# A busy lane journals a few events a minute and a burst of a few a second at peak; reader
# garbage is coalesced. 100 events/s sustained is far above any real lane and still bounds
# what one device adds to the store (8.6 M rows a day). The burst covers a genuine backlog:
# ~two weeks offline at a very busy lane (10-15 k events a day), drained at full speed
# (bench/backlog.py measures about 50,000 events/s for 100,000 events on 2 cores).
EVENTS_PER_MINUTE = 6_000
EVENTS_BURST = 200_000
# A device asks at connect, after applying a snapshot, and every 5 s while a gap stays
# open; an answer can be a snapshot of every card. Ten at once, then one per 15 s.
CATCHUPS_PER_MINUTE = 4
CATCHUPS_BURST = 10
# A device asks central's time at connect, every minute while its clock is untrusted and
# hourly otherwise; each answer is a signature made on the broker link's thread.
TIME_ANSWERS_PER_MINUTE = 6
TIME_ANSWERS_BURST = 20
ALARM_INTERVAL_S = 900.0


@dataclass(frozen=True)
class QuotaLimits:
    """The per-device quotas of one central sync bridge."""

    events_per_minute: float = EVENTS_PER_MINUTE
    events_burst: int = EVENTS_BURST
    catchups_per_minute: float = CATCHUPS_PER_MINUTE
    catchups_burst: int = CATCHUPS_BURST
    time_answers_per_minute: float = TIME_ANSWERS_PER_MINUTE
    time_answers_burst: int = TIME_ANSWERS_BURST
    alarm_interval_s: float = ALARM_INTERVAL_S

    def __post_init__(self) -> None:
        for name in ("events_per_minute", "events_burst", "catchups_per_minute",
                     "catchups_burst", "time_answers_per_minute", "time_answers_burst",
                     "alarm_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")


class TokenBucket:
    """``burst`` tokens at most, refilled at ``per_s`` a second; starts full."""

    def __init__(self, per_s: float, burst: int, now: float) -> None:
        self.per_s, self.burst = per_s, burst
        self._tokens, self._at = float(burst), now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = max(self._at, now)

    def take(self, n: int, now: float) -> bool:
        """Take ``n`` tokens if there are that many; whether it did. More than ``burst`` is
        taken from a full bucket (leaving it in debt), or a batch that large would never
        pass."""
        self._refill(now)
        if n > self._tokens and self._tokens < self.burst:
            return False
        self._tokens -= n
        return True

    def wait(self, n: int, now: float) -> float:
        """Seconds until ``n`` tokens are there (0 if they are now)."""
        self._refill(now)
        return max(0.0, (min(n, self.burst) - self._tokens) / self.per_s)


@dataclass
class _Over:
    """Refusals of one device and kind since its last alarm."""

    refused: int = 0
    alarmed_at: float | None = None


class DeviceQuotas:
    """Every device's buckets; safe to use from several threads."""

    def __init__(self, limits: QuotaLimits,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._over: dict[tuple[str, str], _Over] = {}

    def _bucket(self, device: str, what: str, now: float) -> TokenBucket:
        bucket = self._buckets.get((device, what))
        if bucket is None:
            quota = self.describe(what)
            per_minute, burst = float(quota["per_minute"]), int(quota["burst"])
            bucket = self._buckets[device, what] = TokenBucket(per_minute / 60, burst, now)
        return bucket

    def take(self, device: str, what: str, n: int = 1) -> bool:
        """Charge ``n`` to ``device``'s ``what`` ("events", "catchups" or "time_answers");
        False, charging
        nothing, when that is over its quota."""
        with self._lock:
            now = self._monotonic()
            return self._bucket(device, what, now).take(n, now)

    def wait(self, device: str, what: str, n: int = 1) -> float:
        """Seconds until ``take(device, what, n)`` would succeed."""
        with self._lock:
            now = self._monotonic()
            return self._bucket(device, what, now).wait(n, now)

    def refused(self, device: str, what: str, n: int) -> int | None:
        """Count ``n`` refused; the number refused since the last alarm when an alarm is
        due now (at most once per ``alarm_interval_s``), else None."""
        with self._lock:
            now = self._monotonic()
            over = self._over.setdefault((device, what), _Over())
            over.refused += n
            if over.alarmed_at is not None \
                    and now - over.alarmed_at < self.limits.alarm_interval_s:
                return None
            count, over.refused, over.alarmed_at = over.refused, 0, now
            return count

    def describe(self, what: str) -> dict[str, float | int]:
        """The quota of ``what``, for an alarm's detail."""
        lim = self.limits
        if what == "events":
            return {"per_minute": lim.events_per_minute, "burst": lim.events_burst}
        if what == "time_answers":
            return {"per_minute": lim.time_answers_per_minute, "burst": lim.time_answers_burst}
        return {"per_minute": lim.catchups_per_minute, "burst": lim.catchups_burst}
