"""A lane's lot counts as they travel: retained on ``menwei/<site>/lot/<lot>/<device>``
(sync/wire/topics.py), published by the lane's sync agent when they change and every
``HEARTBEAT_S`` (edge/lot_counts.py), heard by the other lanes of the car park and the desk.

Unsigned: a lane can only write its own topic (the broker's ACL), and what it says is its
own count. The car park's spaces and lanes as the lane applies them ride along, so the desk
shows what the lanes decide with::

    {"v": 1, "type": "lot_counts", "site": "garden-court", "device": "carpark-in",
     "at": 1767225600.1,
     "lot": {"id": "main", "name": "地面停车场", "gates": ["carpark-in", "carpark-out"],
             "spaces": {"fixed": 20, "monthly": 60, "temporary": 30}},
     "counters": {"temporary": [12, 9], "monthly": [40, 38]},
     "base": null}

``counters`` are ``[entries, exits]`` per space class, only ever growing; ``base`` is the
newest guard count the lane knows (edge.lot_counts.LotBase), or null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge.lot_counts import LaneCounters, LotBase, LotCountsError
from edge.site_rules import Lot, SpaceClass
from sync.wire.payload import VERSION, ProtocolError, dump, field, list_field, load_object

TYPE = "lot_counts"


@dataclass(frozen=True)
class LotCountsMessage:
    """One lane's counts of one car park, checked."""

    site: str
    device: str
    at: float  # the lane's clock when it published: for the reader's eyes only
    lot: Lot
    counters: LaneCounters
    base: LotBase | None = None

    @staticmethod
    def parse(raw: bytes | str) -> LotCountsMessage:
        """Validate; ProtocolError names the field that does not fit."""
        obj = load_object(raw, TYPE)
        w = TYPE
        lot_obj = field(obj, "lot", dict, w)
        try:
            counters = LaneCounters.from_wire(field(obj, "counters", dict, w), f"{w}.counters")
            base_obj = field(obj, "base", dict, w, optional=True)
            base = None if base_obj is None else LotBase.from_wire(base_obj, f"{w}.base")
        except LotCountsError as exc:
            raise ProtocolError(str(exc)) from exc
        lot = _lot(lot_obj, f"{w}.lot")
        if base is not None and base.lot != lot.id:
            raise ProtocolError(f"{w}.base.lot: {base.lot!r} is not the message's lot")
        return LotCountsMessage(
            site=field(obj, "site", str, w), device=field(obj, "device", str, w),
            at=float(field(obj, "at", (int, float), w)), lot=lot, counters=counters,
            base=base)

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": TYPE, "site": self.site, "device": self.device,
                     "at": self.at, "lot": self.lot.wire(), "counters": self.counters.wire(),
                     "base": None if self.base is None else self.base.wire()})


def _lot(obj: Mapping[str, Any], where: str) -> Lot:
    gates = list_field(obj, "gates", where)
    if not gates or not all(isinstance(g, str) and g for g in gates):
        raise ProtocolError(f"{where}.gates: expected a list of gate ids")
    spaces: dict[SpaceClass, int] = {}
    for key, n in field(obj, "spaces", dict, where).items():
        try:
            space_class = SpaceClass(key)
        except ValueError:
            raise ProtocolError(f"{where}.spaces: {key!r} is not a space class") from None
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ProtocolError(f"{where}.spaces.{key}: expected a count")
        spaces[space_class] = n
    return Lot(id=field(obj, "id", str, where), name=field(obj, "name", str, where),
               gates=tuple(gates), spaces=spaces)
