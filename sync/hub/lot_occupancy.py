"""The desk's view of the site's car parks: every lane's newest lot counts as heard on
``menwei/<site>/lot/+/+`` (retained, so the desk has them all at each connect), counted with
the lanes' own recount rule (edge.lot_counts.occupancy_of) against the car park's spaces as
the lanes apply them (they ride in each message).

Held in memory only: the retained messages are the store, and a lane's counters carry their
whole history (they only grow), so nothing is lost by a desk restart. Called on paho's
network thread (``handle``) and read from the desk's request threads (``readings``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.lot_counts import LaneCounters, LotBase, Occupancy, occupancy_of
from edge.site_rules import Lot
from sync.wire import topics
from sync.wire.lot_message import LotCountsMessage
from sync.wire.payload import ProtocolError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LotReading:
    """One car park as the desk hears its lanes now."""

    lot: Lot
    occupancy: Occupancy
    base: LotBase | None  # the newest guard count any lane carries
    heard_at: dict[str, float]  # per lane that spoke: when the desk last heard it


class LotOccupancy:
    """Every lane's newest counts of one site."""

    def __init__(self, site: str, clock: Callable[[], float] = time.time) -> None:
        self.site = site
        self.clock = clock
        self._lock = threading.Lock()
        # (lot id, device) -> (newest message, its counters merged with all before, heard at)
        self._lanes: dict[tuple[str, str], tuple[LotCountsMessage, LaneCounters, float]] = {}
        self.dropped = 0

    def handle(self, topic: str, payload: bytes) -> bool:
        """Keep one lane's message; False when it was not kept (logged)."""
        where = topics.lot_of(topic)
        if where is None or where[0] != self.site:
            return False
        _site, lot_id, device = where
        if not payload:  # a lane withdrew from this car park (moved, or left every lot)
            with self._lock:
                self._lanes.pop((lot_id, device), None)
            return True
        try:
            message = LotCountsMessage.parse(payload)
            if (message.site, message.lot.id, message.device) != (self.site, lot_id, device):
                raise ProtocolError("lot_counts: site, lot and device must be the topic's")
        except ProtocolError as exc:
            self.dropped += 1
            log.warning("dropped a lot message on %s: %s", topic, exc)
            return False
        with self._lock:
            known = self._lanes.get((lot_id, device))
            counters = (message.counters if known is None
                        else known[1].merged(message.counters))
            self._lanes[(lot_id, device)] = (message, counters, self.clock())
        return True

    def readings(self) -> list[LotReading]:
        """Every car park any lane spoke of, by id."""
        now = self.clock()
        with self._lock:
            lanes = dict(self._lanes)
        by_lot: dict[str, list[tuple[str, LotCountsMessage, LaneCounters, float]]] = {}
        for (lot_id, device), (message, counters, heard_at) in lanes.items():
            by_lot.setdefault(lot_id, []).append((device, message, counters, heard_at))
        found = []
        for lot_id in sorted(by_lot):
            said = by_lot[lot_id]
            # The lanes' rules should agree; the newest message's say, when they do not yet.
            lot = max(said, key=lambda s: s[1].at)[1].lot
            bases = [s[1].base for s in said if s[1].base is not None]
            base = max(bases, key=lambda b: b.version) if bases else None
            heard = {device: at for device, _m, _c, at in said}
            occupancy = occupancy_of(lot, base, {d: c for d, _m, c, _a in said}, heard, now)
            found.append(LotReading(lot, occupancy, base, heard))
        return found
