"""The desk reads time through the project's one clock interface (``edge.ports.Clock``, as
the gate does): an action's "now" and the site's date come from the clock's wall time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from central.clock import FixedClock, utc_now
from central.models import Role
from central.services.context import Desk, action
from edge.ports import Clock

from .conftest import NOW, Staffs


def test_an_action_reads_now_and_the_site_date_from_the_clocks_wall_time(
        desk: Desk, clock: FixedClock, staff: Staffs) -> None:
    port: Clock = clock  # the gate's interface: wall() and monotonic()
    clock.advance(timedelta(hours=15))  # 17:00 UTC on 9 June is 01:00 on 10 June in Shanghai
    with action(desk) as act:
        act.authorise(staff.clerk, frozenset(Role))
        assert act.now == datetime.fromtimestamp(port.wall(), UTC) == NOW + timedelta(hours=15)
        assert act.today == date(2026, 6, 10)


def test_a_fixed_clock_moves_both_ways_but_its_monotonic_time_only_forwards() -> None:
    clock = FixedClock(NOW)
    clock.advance(timedelta(seconds=90))
    clock.set(NOW - timedelta(days=1))  # the wall clock set back a day
    assert utc_now(clock) == NOW - timedelta(days=1)
    assert clock.monotonic() == 90.0
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 6, 9, 10, 0))
