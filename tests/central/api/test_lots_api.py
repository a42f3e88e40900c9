"""The car parks' occupancy through the API (issue 12, item 8), over the desk's real link
(CentralSync) to a real Mosquitto on loopback, with the example site's two car-park lanes
publishing their retained lot counts under their own identities: per class the spaces,
occupied and free by the lanes' recount rule from the newest guard correction, each lane's
last report and staleness, and a clear 503 when the desk has no link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from central.clock import FixedClock
from central.services.context import Desk
from edge.lot_counts import LotBase
from sync.hub.bridge import CentralSync
from tests.sync.conftest import Broker, Probe

from ..conftest import NOW, Staffs
from .conftest import API, TestClient, login
from .live_desk import linked_api, linked_hub, site_broker, wait_until
from .lot_lanes import FIXED, LANES, LOT, MONTHLY, TEMPORARY, connect_lane, counters, publish_counts

T0 = NOW.timestamp()
IN, OUT = LANES
# Ten minutes ago a guard counted 16 temporary cars where the lanes made 14 (two cars the
# loops missed); the lanes count on from there.
CORRECTION = LotBase(LOT.id, {TEMPORARY: 16, MONTHLY: 50, FIXED: 18},
                     {IN: counters({TEMPORARY: (23, 0), MONTHLY: (50, 0), FIXED: (18, 0)}),
                      OUT: counters({TEMPORARY: (0, 9)})},
                     guard="张保安", reason="夜间清点", wall=T0 - 600, device=OUT)
IN_COUNTS = {TEMPORARY: (25, 0), MONTHLY: (55, 0), FIXED: (18, 0)}
OUT_COUNTS = {TEMPORARY: (0, 9)}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """The example site's broker with the desk's account and the two lanes'."""
    with site_broker(tmp_path, LANES) as b:
        yield b


@pytest.fixture
def hub(broker: Broker, tmp_path: Path, clock: FixedClock) -> Iterator[CentralSync]:
    """The desk's link to the site, on the desk's clock (when it heard a lane)."""
    with linked_hub(tmp_path, broker, clock.wall) as sync:
        yield sync


@pytest.fixture
def linked(db_url: str, desk: Desk, staff: Staffs, clock: FixedClock,
           hub: CentralSync) -> Iterator[TestClient]:
    """The API with the desk's live link to the site."""
    with linked_api(db_url, hub, clock) as client:
        yield client


@pytest.fixture
def lanes(broker: Broker) -> Iterator[dict[str, Probe]]:
    """The two lanes' agents' connections."""
    made = {device: connect_lane(broker, device) for device in LANES}
    yield made
    for probe in made.values():
        probe.close()


def lots(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get(f"{API}/lots", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["link"] == "connected"
    found: list[dict[str, Any]] = body["lots"]
    return found


def test_the_lanes_counts_show_per_class_from_the_guards_correction(
        linked: TestClient, lanes: dict[str, Probe], clock: FixedClock) -> None:
    guard = login(linked, "guard")
    assert lots(linked, guard) == []  # no lane has reported yet
    publish_counts(lanes[IN], IN, IN_COUNTS, T0)
    publish_counts(lanes[OUT], OUT, OUT_COUNTS, T0, CORRECTION)
    wait_until(lambda: any(p["correction"] for p in lots(linked, guard)), "both lanes' counts")

    [lot] = lots(linked, guard)
    assert (lot["id"], lot["name"]) == ("ground", "地面停车场")
    assert lot["classes"] == {  # the guard's 16 + 2 entries since; not the lanes' raw 16
        "temporary": {"spaces": 30, "occupied": 18, "free": 12},
        "monthly": {"spaces": 60, "occupied": 55, "free": 5},
        "fixed": {"spaces": 20, "occupied": 18, "free": 2}}
    assert list(lot["classes"]) == ["temporary", "monthly", "fixed"]
    assert lot["stale"] is False
    assert [(lane["device"], lane["name"], lane["stale"], lane["silent_s"])
            for lane in lot["lanes"]] == [(IN, "停车场入口", False, 0.0),
                                         (OUT, "停车场出口", False, 0.0)]
    assert all(lane["last_heard"].startswith("2026-06-09T02:00:00") for lane in lot["lanes"])
    correction = lot["correction"]
    assert (correction["guard"], correction["reason"], correction["device"]) == \
        ("张保安", "夜间清点", OUT)
    assert correction["at"].startswith("2026-06-09T01:50:00")
    assert correction["occupied"] == {"temporary": 16, "monthly": 50, "fixed": 18}

    # Three minutes on, only the entry lane reports again: the exit lane is stale, and the
    # count may be missing its cars since.
    clock.advance(timedelta(minutes=3))
    publish_counts(lanes[IN], IN, {**IN_COUNTS, TEMPORARY: (26, 0)}, T0 + 180)
    wait_until(lambda: lots(linked, guard)[0]["classes"]["temporary"]["occupied"] == 19,
               "the entry lane's new count")
    [lot] = lots(linked, guard)
    assert lot["stale"] is True
    by_device = {lane["device"]: lane for lane in lot["lanes"]}
    assert (by_device[IN]["stale"], by_device[IN]["silent_s"]) == (False, 0.0)
    assert (by_device[OUT]["stale"], by_device[OUT]["silent_s"]) == (True, 180.0)
    assert lot["classes"]["temporary"] == {"spaces": 30, "occupied": 19, "free": 11}

    admin = login(linked, "admin")  # the administrator watches the devices too
    assert lots(linked, admin)[0]["id"] == "ground"
    clerk = linked.get(f"{API}/lots", headers=login(linked, "clerk"))
    assert clerk.status_code == 403


def test_without_a_link_to_the_broker_the_desk_says_the_counts_are_not_connected(
        client: TestClient) -> None:
    refused = client.get(f"{API}/lots", headers=login(client, "guard"))
    assert refused.status_code == 503
    body = refused.json()
    assert body["error"] == "unavailable"
    assert "停车场车位统计" in body["message_zh"] and "car park occupancy" in body["message_en"]
    # Who may not read the gates hears that first, not that nothing is linked.
    assert client.get(f"{API}/lots", headers=login(client, "clerk")).status_code == 403
