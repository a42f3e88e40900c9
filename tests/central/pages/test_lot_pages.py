"""The car parks on the desk's gates page (issue 12, item 8) in a real browser, over real
parts: a real Mosquitto on loopback as the site broker, the desk served with its live link
(CentralSync) and the example site's two car-park lanes publishing their retained lot
counts under their own identities. The guard sees each class's free spaces, the last guard
correction, and — the page refreshing itself, nobody reloads it — a warning once a lane has
not reported for minutes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Page, expect

from central.clock import FixedClock
from edge.lot_counts import LotBase
from sync.hub.bridge import CentralSync
from tests.sync.conftest import Probe

from ..api.live_desk import site_broker
from ..api.lot_lanes import (
    FIXED,
    LANES,
    LOT,
    MONTHLY,
    TEMPORARY,
    connect_lane,
    counters,
    publish_counts,
)
from ..conftest import NOW, SITE
from .conftest import RunningDesk, log_in, running_desk

T0 = NOW.timestamp()
IN, OUT = LANES
SEEN = 15_000  # the page's poll (5 s) and a message through the broker
CORRECTION = LotBase(LOT.id, {TEMPORARY: 16, MONTHLY: 50, FIXED: 18},
                     {IN: counters({TEMPORARY: (23, 0), MONTHLY: (50, 0), FIXED: (18, 0)}),
                      OUT: counters({TEMPORARY: (0, 9)})},
                     guard="张保安", reason="夜间清点", wall=T0 - 600, device=OUT)
IN_COUNTS = {TEMPORARY: (25, 0), MONTHLY: (55, 0), FIXED: (18, 0)}


@dataclass
class LinkedLot:
    """The desk, its link's clock and the lanes' connections."""

    live: RunningDesk
    hub_clock: FixedClock
    lanes: dict[str, Probe]

    def advance(self, delta: timedelta) -> None:
        """Time passes for the desk and its link alike."""
        self.live.clock.advance(delta)
        self.hub_clock.advance(delta)


@pytest.fixture
def site(tmp_path: Path, desk_db_url: str) -> Iterator[LinkedLot]:
    """The linked desk and the two lanes, connected."""
    with site_broker(tmp_path, LANES) as broker:
        hub_clock = FixedClock(NOW)  # when the link heard a lane: the desk's time
        hub = CentralSync(tmp_path / "hub.db", SITE, Ed25519PrivateKey.generate(),
                          "127.0.0.1", broker.port, password="central-pw",
                          reconnect_delay=(1, 1), clock=hub_clock.wall)
        hub.start()
        lanes: dict[str, Probe] = {}
        try:
            end = time.monotonic() + 15
            while not hub.connected:
                assert time.monotonic() < end, "the desk's link did not connect"
                time.sleep(0.05)
            with running_desk(tmp_path, desk_db_url, gate_link=hub) as live:
                lanes.update({device: connect_lane(broker, device) for device in LANES})
                yield LinkedLot(live, hub_clock, lanes)
        finally:
            for probe in lanes.values():
                probe.close()
            hub.close()


def test_the_gates_page_shows_each_car_parks_free_spaces_and_a_silent_lane(
        page: Page, site: LinkedLot, shot: Callable[[Page, str], Path]) -> None:
    log_in(page, site.live, "guard")
    page.goto(f"{site.live.url}/gates")
    expect(page.locator(".car-park")).to_have_count(0)  # no lane has reported yet

    publish_counts(site.lanes[IN], IN, IN_COUNTS, T0)
    publish_counts(site.lanes[OUT], OUT, {TEMPORARY: (0, 9)}, T0, CORRECTION)
    lot = page.locator(".car-park[data-lot='ground']")
    # The guard's count of 16 temporary cars and 2 in since: 18 of 30.
    expect(lot.locator(".car-park-spaces")).to_have_text(
        "地面停车场  临时车位 余12/共30 · 月租 余5/共60 · 固定 余2/共20", timeout=SEEN)
    expect(lot.locator(".car-park-correction")).to_have_text(
        "最近人工校正：张保安，2026-06-09 09:50，夜间清点")
    expect(lot.locator(".car-park-stale")).to_have_count(0)
    shot(page, "gates-car-park")

    # Three minutes on, only the entry lane reports (one more temporary car): the exit
    # lane's silence is shown, and the count goes on.
    site.advance(timedelta(minutes=3))
    publish_counts(site.lanes[IN], IN, {**IN_COUNTS, TEMPORARY: (26, 0)}, T0 + 180)
    expect(lot.locator(".car-park-class[data-class='temporary']")).to_have_text(
        "临时车位 余11/共30", timeout=SEEN)
    stale = lot.locator(".car-park-stale")
    expect(stale).to_have_count(1)
    expect(stale).to_have_text("停车场出口 3分钟未上报，车位数可能不准")
    expect(stale).to_have_attribute("data-lane", OUT)
    shot(page, "gates-car-park-stale")
