"""The car parks as the desk service reads them (central/services/car_parks.py), from the
hub's real LotOccupancy fed the lanes' messages as the link hands them over: a lane that
never reported is stale with no time, a class the car park has no spaces of still shows its
cars, and only the gate watchers read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from central.clock import FixedClock
from central.refusals import DeskError
from central.services.car_parks import ClassCount, site_car_parks
from central.services.context import Desk
from edge.lot_counts import LaneCounters
from edge.site_rules import Lot, SpaceClass
from sync.hub.lot_occupancy import LotOccupancy, LotReading
from sync.wire import topics
from sync.wire.lot_message import LotCountsMessage

from .conftest import SITE, Staffs

IN, OUT = "carpark-in", "carpark-out"
# A car park for monthly cars only: a tailgater still counts as temporary.
LOT = Lot(id="b1", name="地下车库", gates=(IN, OUT), spaces={SpaceClass.MONTHLY: 40})


class Link:
    """What CentralSync.lot_readings hands the desk: its LotOccupancy's readings."""

    def __init__(self, heard: LotOccupancy) -> None:
        self.site = heard.site
        self.heard = heard

    def lot_readings(self) -> list[LotReading]:
        """Every car park any lane spoke of."""
        return self.heard.readings()


def test_a_silent_lane_and_a_class_without_spaces(desk: Desk, staff: Staffs,
                                                  clock: FixedClock) -> None:
    heard = LotOccupancy(SITE, clock.wall)
    message = LotCountsMessage(SITE, IN, clock.wall(), LOT, LaneCounters(
        {SpaceClass.MONTHLY: 12, SpaceClass.TEMPORARY: 1}, {SpaceClass.MONTHLY: 2}))
    assert heard.handle(topics.lot(SITE, LOT.id, IN), message.dump().encode())
    clock.advance(timedelta(seconds=30))

    link = Link(heard)
    [park] = site_car_parks(desk, staff.guard, link)
    assert (park.id, park.name) == ("b1", "地下车库")
    assert park.classes == (ClassCount(SpaceClass.TEMPORARY, None, 1, None),
                            ClassCount(SpaceClass.MONTHLY, 40, 10, 30))
    entry, exit_lane = park.lanes
    assert (entry.name, entry.stale, entry.silent_s) == ("停车场入口", False, 30.0)
    # The exit lane never reported: its cars may be missing, since when nobody knows.
    assert (exit_lane.name, exit_lane.stale, exit_lane.last_heard, exit_lane.silent_s) == \
        ("停车场出口", True, None, None)
    assert park.stale_lanes == (exit_lane,) and park.correction is None

    assert site_car_parks(desk, staff.admin, link)[0].id == "b1"
    with pytest.raises(DeskError):
        site_car_parks(desk, staff.clerk, link)
