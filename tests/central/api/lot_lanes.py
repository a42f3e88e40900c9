"""The example site's car park as its two lanes report it to the desk (issue 12): each
lane's retained lot counts published straight to the site broker under the lane's own
identity, as its sync agent publishes them (sync/wire/lot_message.py), for the desk's
occupancy tests (API and page)."""

from __future__ import annotations

from collections.abc import Mapping

from edge.lot_counts import LaneCounters, LotBase
from edge.site_rules import Lot, SpaceClass
from sync.wire import topics
from sync.wire.lot_message import LotCountsMessage
from tests.sync.conftest import Broker, Probe

from ..conftest import SITE

FIXED, MONTHLY, TEMPORARY = SpaceClass.FIXED, SpaceClass.MONTHLY, SpaceClass.TEMPORARY
LANES = ("carpark-in", "carpark-out")  # the example site's car-park gates
LOT = Lot(id="ground", name="地面停车场", gates=LANES,
          spaces={FIXED: 20, MONTHLY: 60, TEMPORARY: 30})
Counts = Mapping[SpaceClass, tuple[int, int]]


def counters(counts: Counts) -> LaneCounters:
    """``{class: (entries, exits)}`` as a lane's running totals."""
    return LaneCounters({c: n[0] for c, n in counts.items()},
                        {c: n[1] for c, n in counts.items()})


def connect_lane(broker: Broker, device: str) -> Probe:
    """The lane's sync agent's connection to the site broker (its own account)."""
    probe = Probe(broker.port, device, f"pw-{device}", client_id=f"{device}-lot")
    rc = probe.connect()
    assert rc is not None and not rc.is_failure, f"{device} refused: {rc}"
    return probe


def publish_counts(lane: Probe, device: str, counts: Counts, at: float,
                   base: LotBase | None = None) -> None:
    """The lane publishes its retained counts of LOT, as its agent does; the broker must
    take them (the lane writes only its own topic)."""
    message = LotCountsMessage(SITE, device, at, LOT, counters(counts), base)
    rc = lane.publish(topics.lot(SITE, LOT.id, device), message.dump().encode(), retain=True)
    assert not rc.is_failure, f"the broker refused {device}'s counts: {rc}"
