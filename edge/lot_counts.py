"""Lot capacity (issue 12): the spaces per class of a car park, counted from its lanes' own
entries and exits, shared by every lane of the car park through the site broker.

Each lane keeps its own cumulative counters (entries and exits per space class, only ever
growing) in ``lot.db``; the sync agent publishes them retained and writes the other lanes'
counters it hears into the same file. Occupancy = the last guard count (a base, with the
counters it was taken against) + every lane's counts since that base. Counters that only
grow make the recount rule simple: after an outage, the newest counters of each lane are the
whole truth about it.

STUB (issue 12 foundation): the signatures are the contract; helper H3 implements them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.site_rules import Lot, SpaceClass


@dataclass(frozen=True)
class Occupancy:
    """The lot as this lane knows it now."""

    lot: str
    occupied: Mapping[SpaceClass, int]
    spaces: Mapping[SpaceClass, int]
    # Lanes whose counters this lane has not heard for a while (the broker down): the count
    # may be behind by their cars.
    stale_lanes: tuple[str, ...] = ()

    def free(self, space_class: SpaceClass) -> int | None:
        """Spaces left in ``space_class`` (never below 0); None when the class is not counted."""
        if space_class not in self.spaces:
            return None
        return max(0, self.spaces[space_class] - self.occupied.get(space_class, 0))


class LotCounts:
    """A lane's ``lot.db``. Used from the gate's control thread (its own counters) and the
    sync agent (the other lanes' counters, the base)."""

    def __init__(self, path: Path, device: str) -> None:
        raise NotImplementedError

    def record_passage(self, entering: bool, space_class: SpaceClass, wall: float) -> None:
        """Count one vehicle that passed this lane (on the loops, not at the grant)."""
        raise NotImplementedError

    def occupancy(self, lot: Lot) -> Occupancy:
        """The lot's occupancy as this lane knows it."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the file."""
        raise NotImplementedError
