"""The fee of a temporary car's stay (rule P6), from the site's tariff in the booth list
(``sync.wire.booth_list.ParkingTariff``): a pure function of the entry and exit times, with
the breakdown the receipt prints.

The rules, as a guard checks them by hand:

- the stay is counted in whole minutes (seconds dropped: the receipt shows minutes, and a
  guard never charges for a minute the receipt does not show);
- a stay of at most ``free_minutes`` is free, all of it;
- otherwise every started hour, counted from the entry, is charged: at the night rate when
  the hour starts between ``night_start`` (inclusive) and ``night_end`` (exclusive), site
  local time, the night crossing midnight when it ends before it starts; equal times mean
  there is no night rate; at the day rate otherwise;
- each calendar day's charge (the site-local day in which the hour starts) is capped at
  ``daily_cap_fen`` (0: no cap).

So the fee never goes down when the car stays longer, and never exceeds the cap times the
number of calendar days the stay touches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from booth.refusals import BoothRefusal
from sync.wire.booth_list import ParkingTariff

HOUR_S = 3600
# A car stays at most this long before the booth refuses to price it: a typo in a lost
# ticket's entry time (2016 for 2026) must not be priced as ten years of parking.
MAX_STAY_DAYS = 366


@dataclass(frozen=True)
class DayCharge:
    """What one site-local calendar day of the stay costs."""

    day: date
    day_hours: int
    night_hours: int
    uncapped_fen: int
    fen: int

    @property
    def capped(self) -> bool:
        """Whether the daily cap lowered this day's charge."""
        return self.fen < self.uncapped_fen


@dataclass(frozen=True)
class Fee:
    """The fee of a stay and how it was reached (for the receipt)."""

    fen: int
    minutes: int
    free: bool
    days: tuple[DayCharge, ...]

    @property
    def hours(self) -> int:
        """The hours charged (started hours; 0 when free)."""
        return sum(d.day_hours + d.night_hours for d in self.days)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def is_night(local: datetime, tariff: ParkingTariff) -> bool:
    """Whether an hour starting at ``local`` (site-local) is charged at the night rate."""
    start, end = _clock(tariff.night_start), _clock(tariff.night_end)
    now = local.time().replace(second=0, microsecond=0)
    if start == end:
        return False
    if start < end:
        return start <= now < end
    return now >= start or now < end


def fee(entered_at: float, exited_at: float, tariff: ParkingTariff, timezone: str) -> Fee:
    """The fee of a stay from ``entered_at`` to ``exited_at`` (seconds since the epoch) under
    ``tariff`` in the site's ``timezone``; refused when the exit is before the entry or the
    stay is longer than a year (a mistyped entry time)."""
    if exited_at < entered_at:
        raise BoothRefusal("出场时间早于入场时间，请核对入场时间",
                           "the exit is before the entry: check the entry time", "entered_at")
    if exited_at - entered_at > MAX_STAY_DAYS * 86400:
        raise BoothRefusal(f"停车超过 {MAX_STAY_DAYS} 天，请核对入场时间",
                           f"a stay of more than {MAX_STAY_DAYS} days: check the entry time",
                           "entered_at")
    minutes = int(exited_at - entered_at) // 60
    if minutes <= tariff.free_minutes:
        return Fee(0, minutes, True, ())
    hours = -(-minutes // 60)
    zone = ZoneInfo(timezone)
    per_day: dict[date, list[int]] = {}
    for k in range(hours):
        # Absolute time first, then local: an hour is an hour even across a DST change.
        local = datetime.fromtimestamp(entered_at + k * HOUR_S, zone)
        counts = per_day.setdefault(local.date(), [0, 0])
        counts[1 if is_night(local, tariff) else 0] += 1
    days = []
    for day, (day_hours, night_hours) in sorted(per_day.items()):
        uncapped = day_hours * tariff.day_per_hour_fen + night_hours * tariff.night_per_hour_fen
        capped = min(uncapped, tariff.daily_cap_fen) if tariff.daily_cap_fen > 0 else uncapped
        days.append(DayCharge(day, day_hours, night_hours, uncapped, capped))
    return Fee(sum(d.fen for d in days), minutes, False, tuple(days))


def lost_ticket_fee(exited_at: float, tariff: ParkingTariff, timezone: str) -> Fee:
    """The fee of a car whose entry time nobody knows (lost ticket): one day's cap, or, for a
    tariff without a cap, a whole day's stay ending now."""
    day = datetime.fromtimestamp(exited_at, ZoneInfo(timezone)).date()
    if tariff.daily_cap_fen > 0:
        cap = tariff.daily_cap_fen
        return Fee(cap, 0, False, (DayCharge(day, 0, 0, cap, cap),))
    whole_day = fee(exited_at - 24 * HOUR_S, exited_at, tariff, timezone)
    return Fee(whole_day.fen, 0, False, whole_day.days)


def days_touched(entered_at: float, exited_at: float, timezone: str) -> int:
    """How many site-local calendar days a stay touches (for the cap's bound)."""
    zone = ZoneInfo(timezone)
    first = datetime.fromtimestamp(entered_at, zone).date()
    last = datetime.fromtimestamp(exited_at, zone).date()
    return (last - first).days + 1


def local_moment(day: date, clock: str, timezone: str) -> float:
    """Seconds since the epoch of ``clock`` (``HH:MM``) on ``day``, site-local."""
    moment = datetime.combine(day, _clock(clock), ZoneInfo(timezone))
    return moment.timestamp()

