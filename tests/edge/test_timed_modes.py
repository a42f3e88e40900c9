"""Timed modes in force at a gate, decided offline from the site's rules and calendar: the
lobby held open on working mornings, the lane monthly-only at night, the untrusted clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.cards import parse_schedule
from edge.site_rules import DEFAULT, DayKind, SiteRules, TimedMode, TimedModeKind
from edge.timed_modes import modes_in_force, seconds_to_next_change

TZ = ZoneInfo("Asia/Shanghai")
HOLD_OPEN = TimedModeKind.HOLD_OPEN
MONTHLY_ONLY = TimedModeKind.MONTHLY_ONLY
RULES = SiteRules(
    site="garden-court", version=1, issued_at=0.0,
    holidays={date(2026, 10, 1): DayKind.HOLIDAY, date(2026, 10, 10): DayKind.WORKDAY},
    timed_modes=(
        TimedMode("b1-lobby", parse_schedule("Mon-Fri 07:00-09:00; Hol 10:00-11:00"), HOLD_OPEN),
        TimedMode("carpark-in", parse_schedule("Mon-Sun,Hol 00:00-06:00 22:00-24:00"),
                  MONTHLY_ONLY),
    ))


def at(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TZ)


def in_force(gate: str, when: datetime, trusted: bool = True) -> frozenset[TimedModeKind]:
    return modes_in_force(RULES, gate, when, clock_trusted=trusted)


@pytest.mark.parametrize(("when", "held"), [
    (at(2, 6, 59, 59), False),  # Friday 2 October
    (at(2, 7), True),
    (at(2, 8, 59, 59), True),
    (at(2, 9), False),
    (at(3, 8), False),  # an ordinary Saturday
    (at(10, 8), True),  # a Saturday worked
    (at(1, 8), False),  # a holiday Thursday: its Hol window only
    (at(1, 10, 30), True),
])
def test_lobby_held_open_on_working_mornings(when: datetime, held: bool) -> None:
    assert in_force("b1-lobby", when) == (frozenset({HOLD_OPEN}) if held else frozenset())


@pytest.mark.parametrize(("when", "monthly_only"), [
    (at(2, 21, 59, 59), False),
    (at(2, 22), True),
    (at(2, 23, 59, 59), True),
    (at(3, 0), True),
    (at(3, 5, 59), True),
    (at(3, 6), False),
    (at(1, 23), True),  # a holiday night too
])
def test_lane_monthly_only_at_night(when: datetime, monthly_only: bool) -> None:
    assert in_force("carpark-in", when) == (
        frozenset({MONTHLY_ONLY}) if monthly_only else frozenset())


def test_other_gates_and_no_rules_have_no_modes() -> None:
    assert in_force("b2-lobby", at(2, 8)) == frozenset()
    assert modes_in_force(DEFAULT, "b1-lobby", at(2, 8), clock_trusted=True) == frozenset()


def test_untrusted_clock_never_holds_open_and_assumes_monthly_only() -> None:
    assert in_force("b1-lobby", at(2, 8), trusted=False) == frozenset()
    assert in_force("carpark-in", at(2, 12), trusted=False) == frozenset({MONTHLY_ONLY})
    assert in_force("b2-lobby", at(2, 12), trusted=False) == frozenset()


@pytest.mark.parametrize(("gate", "when", "seconds"), [
    ("b1-lobby", at(2, 6, 59, 30), 30.0),  # the window starts at 07:00
    ("b1-lobby", at(2, 8, 59, 59), 1.0),  # and ends at 09:00
    ("b1-lobby", at(2, 7), 60.0),  # just started: look again within a minute
    ("carpark-in", at(2, 23, 59, 50), 10.0),  # midnight (24:00 ends a window)
    ("b2-lobby", at(2, 12), 60.0),  # no modes
    ("b2-lobby", at(2, 23, 59, 59), 1.0),  # midnight: the calendar may change the day
])
def test_seconds_to_next_change(gate: str, when: datetime, seconds: float) -> None:
    assert seconds_to_next_change(RULES, gate, when) == pytest.approx(seconds)


def test_next_change_lands_on_the_change() -> None:
    when = at(2, 6, 58, 30)
    while not in_force("b1-lobby", when):
        before = when
        when = when + timedelta(
            seconds=seconds_to_next_change(RULES, "b1-lobby", when))
        assert when > before
    assert when == at(2, 7)
