"""The car parks as the desk watches them (issue 12): per car park its spaces, occupied and
free per class (fixed, monthly, temporary), when each lane last reported its counts and
whether it is stale (then the count may be behind by that lane's cars), and the newest
guard correction (who, why, when).

Read from what the desk's link hears of the lanes (central/services/gate_sources.py
``LotSource``; the counting itself is the lanes' own rule, edge/lot_counts.py); the desk
database only authorises the caller and names the lanes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from central.clock import epoch_instant
from central.services.context import Actor, Desk, action
from central.services.gate_sources import LotReading, LotSource
from central.services.gate_status import STATUS_ROLES, gate_names
from edge.lot_counts import LotBase
from edge.site_rules import SpaceClass

# How a guard reads a car park's line: the class temporary cars look for first.
CLASS_ORDER = (SpaceClass.TEMPORARY, SpaceClass.MONTHLY, SpaceClass.FIXED)


@dataclass(frozen=True)
class ClassCount:
    """One space class of a car park. ``spaces`` and ``free`` are None for a class the car
    park has no spaces of (a tailgating car still counts as temporary)."""

    space_class: SpaceClass
    spaces: int | None
    occupied: int
    free: int | None


@dataclass(frozen=True)
class LaneHeard:
    """One lane of a car park: when the desk last heard its counts (None: never since the
    desk started and nothing retained) and whether it is stale (not heard for
    edge.lot_counts.STALE_AFTER_S)."""

    device: str
    name: str  # the gate's name in the site file, else its device name
    last_heard: datetime | None
    silent_s: float | None  # how long since, by the desk's clock
    stale: bool


@dataclass(frozen=True)
class GuardCorrection:
    """A guard's count of a car park, from which the lanes count on."""

    guard: str
    reason: str
    at: datetime | None  # by the lane's clock where the guard made it
    device: str
    occupied: Mapping[SpaceClass, int]


@dataclass(frozen=True)
class CarPark:
    """One car park as its lanes last said."""

    id: str
    name: str
    classes: tuple[ClassCount, ...]
    lanes: tuple[LaneHeard, ...]
    correction: GuardCorrection | None

    @property
    def stale_lanes(self) -> tuple[LaneHeard, ...]:
        """The lanes whose cars the count may be missing."""
        return tuple(lane for lane in self.lanes if lane.stale)


def _car_park(reading: LotReading, names: Mapping[str, str], now: float) -> CarPark:
    lot, occupancy = reading.lot, reading.occupancy
    classes = tuple(
        ClassCount(c, lot.spaces.get(c), occupancy.occupied.get(c, 0), occupancy.free(c))
        for c in CLASS_ORDER if c in lot.spaces or occupancy.occupied.get(c, 0) > 0)
    lanes = []
    for device in lot.gates:
        heard = reading.heard_at.get(device)
        lanes.append(LaneHeard(device, names.get(device, device), epoch_instant(heard),
                               None if heard is None else max(0.0, now - heard),
                               device in occupancy.stale_lanes))
    return CarPark(lot.id, lot.name, classes, tuple(lanes), _correction(reading.base))


def _correction(base: LotBase | None) -> GuardCorrection | None:
    if base is None:
        return None
    return GuardCorrection(base.guard, base.reason, epoch_instant(base.wall), base.device,
                           dict(base.occupied))


def site_car_parks(desk: Desk, actor: Actor, source: LotSource) -> list[CarPark]:
    """Every car park of the caller's site any lane reported (gate watchers and the
    administrator, as the gates' state), by id."""
    with action(desk) as act:
        act.authorise(actor, STATUS_ROLES)
        now = act.now.timestamp()
    names = gate_names(desk, actor)
    return [_car_park(r, names, now) for r in source.lot_readings()]
