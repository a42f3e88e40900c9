"""The temporary-parking fee (rule P6): worked examples a guard can check by hand with the
site's tariff, and the properties every tariff keeps (never negative, never less for a
longer stay, never more than the cap times the days touched)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booth.parking_tariff import days_touched, fee, is_night, local_moment, lost_ticket_fee
from booth.refusals import BoothRefusal
from sync.wire.booth_list import ParkingTariff

TZ = "Asia/Shanghai"
# 15 free minutes, 5 yuan an hour by day, 2 yuan by night (22:00-07:00), 40 yuan a day at most.
TARIFF = ParkingTariff(free_minutes=15, day_per_hour_fen=500, night_per_hour_fen=200,
                       night_start="22:00", night_end="07:00", daily_cap_fen=4000)
DAY = date(2026, 12, 3)


def at(clock: str, day: date = DAY) -> float:
    """Site-local ``HH:MM`` on ``day`` as seconds since the epoch."""
    return local_moment(day, clock, TZ)


def local_dt(clock: str) -> datetime:
    """A site-local datetime on DAY at ``clock``."""
    return datetime.fromtimestamp(at(clock), ZoneInfo(TZ))


def test_fourteen_minutes_and_fifteen_are_free() -> None:
    assert fee(at("10:00"), at("10:14"), TARIFF, TZ).fen == 0
    free = fee(at("10:00"), at("10:15") + 59, TARIFF, TZ)
    assert (free.fen, free.minutes, free.free) == (0, 15, True)


def test_sixteen_minutes_are_one_started_hour_from_the_entry() -> None:
    charged = fee(at("10:00"), at("10:16"), TARIFF, TZ)
    assert (charged.fen, charged.hours, charged.free) == (500, 1, False)


def test_two_hours_ten_by_day_are_three_started_hours_at_five_yuan() -> None:
    charged = fee(at("09:00"), at("11:10"), TARIFF, TZ)
    assert charged.fen == 1500
    assert charged.minutes == 130
    assert [(d.day, d.day_hours, d.night_hours, d.fen) for d in charged.days] == [
        (DAY, 3, 0, 1500)]


def test_exactly_two_hours_are_two_hours() -> None:
    assert fee(at("09:00"), at("11:00"), TARIFF, TZ).fen == 1000


def test_overnight_twenty_to_eight_charges_night_hours_at_night_rate_per_day() -> None:
    # 3 Dec: 20:00 and 21:00 by day (2 x 5), 22:00 and 23:00 by night (2 x 2) = 14 yuan;
    # 4 Dec: 00:00-06:00 by night (7 x 2), 07:00 by day (5) = 19 yuan.  Total 33 yuan.
    charged = fee(at("20:00"), at("08:00", date(2026, 12, 4)), TARIFF, TZ)
    assert [(d.day.day, d.day_hours, d.night_hours, d.fen) for d in charged.days] == [
        (3, 2, 2, 1400), (4, 1, 7, 1900)]
    assert charged.fen == 3300


def test_a_day_is_capped() -> None:
    # 08:00-18:00: ten hours by day would be 50 yuan; the cap is 40.
    charged = fee(at("08:00"), at("18:00"), TARIFF, TZ)
    assert charged.fen == 4000
    assert charged.days[0].uncapped_fen == 5000 and charged.days[0].capped


def test_each_calendar_day_has_its_own_cap() -> None:
    # 3 Dec 08:00 to 5 Dec 09:00: 3 Dec capped (40), 4 Dec capped (40),
    # 5 Dec 00:00-06:00 night (7 x 2) + 07:00, 08:00 by day (2 x 5) = 24 yuan.
    charged = fee(at("08:00"), at("09:00", date(2026, 12, 5)), TARIFF, TZ)
    assert [d.fen for d in charged.days] == [4000, 4000, 2400]
    assert charged.fen == 10400


def test_the_hour_is_priced_by_when_it_starts() -> None:
    # 21:30 entry: the hours start 21:30 (day) and 22:30 (night).
    assert fee(at("21:30"), at("23:20"), TARIFF, TZ).fen == 700
    # 06:30 entry: 06:30 is night, 07:30 is day.
    assert fee(at("06:30"), at("08:00"), TARIFF, TZ).fen == 700


def test_equal_night_times_mean_no_night_rate() -> None:
    no_night = replace(TARIFF, night_start="00:00", night_end="00:00", daily_cap_fen=0)
    assert fee(at("20:00"), at("08:00", date(2026, 12, 4)), no_night, TZ).fen == 12 * 500
    assert not is_night(local_dt("23:00"), no_night)


def test_a_night_that_does_not_cross_midnight() -> None:
    siesta = replace(TARIFF, night_start="12:00", night_end="14:00")
    assert is_night(local_dt("12:00"), siesta) and is_night(local_dt("13:59"), siesta)
    assert not is_night(local_dt("14:00"), siesta) and not is_night(local_dt("23:00"), siesta)
    assert fee(at("11:00"), at("15:00"), siesta, TZ).fen == 500 + 200 + 200 + 500


def test_no_cap_means_no_cap() -> None:
    uncapped = replace(TARIFF, daily_cap_fen=0)
    assert fee(at("08:00"), at("18:00"), uncapped, TZ).fen == 5000


def test_exit_before_entry_is_refused() -> None:
    with pytest.raises(BoothRefusal) as refused:
        fee(at("10:00"), at("09:59"), TARIFF, TZ)
    assert "早于入场" in refused.value.message_zh


def test_a_stay_of_more_than_a_year_is_refused_as_a_mistyped_entry() -> None:
    with pytest.raises(BoothRefusal, match="366 days"):
        fee(at("10:00", date(2016, 12, 3)), at("10:00"), TARIFF, TZ)


def test_a_lost_ticket_without_entry_time_pays_the_daily_cap_or_a_whole_day() -> None:
    assert lost_ticket_fee(at("10:00"), TARIFF, TZ).fen == 4000
    uncapped = replace(TARIFF, daily_cap_fen=0)
    # 24 hours back from 10:00: 10:00-21:00 by day (12 x 5), 22:00-06:00 night (9 x 2),
    # 07:00-09:00 by day (3 x 5).
    assert lost_ticket_fee(at("10:00"), uncapped, TZ).fen == 6000 + 1800 + 1500


clocks = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))
tariffs = st.builds(ParkingTariff, free_minutes=st.integers(0, 60),
                    day_per_hour_fen=st.integers(0, 2000),
                    night_per_hour_fen=st.integers(0, 2000), night_start=clocks,
                    night_end=clocks, daily_cap_fen=st.integers(0, 10000))
entries = st.floats(min_value=at("00:00", date(2026, 1, 1)),
                    max_value=at("00:00", date(2027, 1, 1)), allow_nan=False)
stays = st.integers(0, 5 * 86400)


@settings(max_examples=200, deadline=None)
@given(tariffs, entries, stays, st.integers(0, 2 * 86400))
def test_never_negative_never_less_for_a_longer_stay_never_over_cap_times_days(
        tariff: ParkingTariff, entered: float, stay: int, longer: int) -> None:
    shorter = fee(entered, entered + stay, tariff, TZ)
    later = fee(entered, entered + stay + longer, tariff, TZ)
    assert shorter.fen >= 0
    assert later.fen >= shorter.fen
    assert shorter.fen == sum(d.fen for d in shorter.days)
    if tariff.daily_cap_fen > 0:
        assert later.fen <= tariff.daily_cap_fen * days_touched(entered, entered + stay + longer,
                                                                TZ)
    if stay // 60 <= tariff.free_minutes:
        assert shorter.fen == 0


@settings(max_examples=100, deadline=None)
@given(tariffs, entries, st.integers(1, 3 * 86400))
def test_every_started_hour_is_charged_at_one_of_the_two_rates(
        tariff: ParkingTariff, entered: float, stay: int) -> None:
    charged = fee(entered, entered + stay, tariff, TZ)
    if charged.free:
        return
    assert charged.hours == -(-(stay // 60) // 60)
    for day in charged.days:
        assert day.uncapped_fen == (day.day_hours * tariff.day_per_hour_fen
                                    + day.night_hours * tariff.night_per_hour_fen)
