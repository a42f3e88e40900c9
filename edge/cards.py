"""What the gate knows about a card: its record in the whitelist and weekly schedules."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, time

_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
# The day number of a site holiday (edge.site_rules): a schedule's ``Hol`` windows apply on
# holidays, and its weekday windows do not. Never part of a day range such as ``Mon-Sun``.
HOLIDAY = 8


class CardStatus(enum.StrEnum):
    """Where a card stands. Only ``active`` cards can open anything."""

    ACTIVE = "active"
    LOST = "lost"  # reported lost at the desk (rule L1)
    REVOKED = "revoked"


@dataclass(frozen=True)
class TimeWindow:
    """Open on ``days`` (ISO weekdays, Monday = 1) from ``start`` up to, not including, ``end``."""

    days: frozenset[int]
    start: time
    end: time

    def contains(self, weekday: int, at: time) -> bool:
        """Whether local ``weekday``/``at`` falls in this window."""
        return weekday in self.days and self.start <= at < self.end


@dataclass(frozen=True)
class WeeklySchedule:
    """When a card may be used, e.g. renovation workers Mon–Sat 08:00–12:00 and 14:00–18:00."""

    spec: str
    windows: tuple[TimeWindow, ...]

    def allows(self, weekday: int, at: time) -> bool:
        """Whether any window contains local ``weekday``/``at``."""
        return any(w.contains(weekday, at) for w in self.windows)

    def allows_on(self, days: frozenset[int], at: time) -> bool:
        """Whether a window of any of ``days`` contains ``at``: the day numbers a site
        calendar gives a date (edge.site_rules.SiteCalendar.day_numbers), e.g. {8} on a
        holiday, Monday to Friday on a working day moved onto a weekend."""
        return any(w.start <= at < w.end and not w.days.isdisjoint(days)
                   for w in self.windows)


@dataclass(frozen=True)
class ParkingRight:
    """A monthly parking subscription carried on the card (rules P1, P2, P3): the car park's
    access group it opens, paid through ``paid_until`` (inclusive, site-local: through
    23:59:59 that day), decided at the gate itself, with no message from the desk."""

    group: str  # the car park's access group, e.g. "carpark"
    space_kind: str  # "fixed", "floating", "emergency_reserve" (central SpaceKind values)
    space_no: str | None  # the fixed space's number (rule P3)
    plate: str | None  # the vehicle's plate as the desk holds it (粤B12345)
    starts_on: date
    paid_until: date


@dataclass(frozen=True)
class CardRecord:
    """A card's full effective record as the gate needs it for a decision."""

    uid: str
    status: CardStatus
    valid_from: date | None
    valid_until: date | None  # inclusive: valid through 23:59:59 local time that day
    access_groups: frozenset[str]
    schedule: WeeklySchedule | None
    holder_kind: str
    plate: str | None
    # Monthly parking, judged by paid-until at the lane (edge.parking_validity).
    parking: tuple[ParkingRight, ...] = ()


_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in _DAYS or last not in _DAYS:
                raise ValueError(f"unknown day in {part!r}; use Mon Tue Wed Thu Fri Sat Sun")
            a, b = _DAYS[first], _DAYS[last]
            if a > b:
                raise ValueError(f"day range {part!r} runs backwards")
            days.update(range(a, b + 1))
        elif part in _DAYS:
            days.add(_DAYS[part])
        elif part == "hol":
            days.add(HOLIDAY)
        else:
            raise ValueError(f"unknown day {part!r}; use Mon Tue Wed Thu Fri Sat Sun "
                             "(or Hol for the site's holidays)")
    return frozenset(days)


def _parse_time(hh: str, mm: str, allow_24: bool) -> time:
    h, m = int(hh), int(mm)
    if allow_24 and h == 24 and m == 0:
        return time.max
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"{hh}:{mm} is not a time of day")
    return time(h, m)


def parse_schedule(spec: str) -> WeeklySchedule:
    """Parse a schedule written as installers and the desk write it.

    ``"Mon-Sat 08:00-12:00 14:00-18:00; Sun 09:00-11:00"``: groups separated by ``;``, each a
    day list (``Mon-Fri``, ``Sat,Sun``) and one or more time ranges; ``24:00`` ends a day.
    """
    windows: list[TimeWindow] = []
    for group in filter(None, (g.strip() for g in spec.split(";"))):
        day_text, *ranges = group.split()
        if not ranges:
            raise ValueError(f"{group!r} names days but no time range such as 08:00-12:00")
        days = _parse_days(day_text)
        for r in ranges:
            match = _RANGE.match(r)
            if not match:
                raise ValueError(f"{r!r} is not a time range such as 08:00-12:00")
            start = _parse_time(match.group(1), match.group(2), allow_24=False)
            end = _parse_time(match.group(3), match.group(4), allow_24=True)
            if end <= start:
                raise ValueError(f"{r!r} ends before it starts")
            windows.append(TimeWindow(days, start, end))
    if not windows:
        raise ValueError("an empty schedule would never open; leave the schedule out instead")
    return WeeklySchedule(spec.strip(), tuple(windows))
