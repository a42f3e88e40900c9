"""A lane's lot counts shared with the other lanes of its car park (issue 12, lot capacity).

The gate writes this lane's running totals into ``lot.db`` at each passage
(edge/lot_counts.py); this part of the sync agent reads them every ``POLL_S`` and publishes
them retained, QoS 1, on ``menwei/<site>/lot/<lot>/<device>`` when they (or the newest guard
count known here, or the lot itself) changed, at every connect, and every ``HEARTBEAT_S``
(so that silence means a lane or the broker is down: edge.lot_counts.STALE_AFTER_S). It
hears every lane of the site on ``menwei/<site>/lot/+/+`` and keeps in ``lot.db`` what the
lanes of its own car park say (their totals, merged, never lowered; the newest base).

Which car park the lane counts for, and its lanes, come from the site's rules
(``<data_dir>/site-rules.json``, read with edge.site_rules.SiteRulesFile): a lane in no lot
publishes nothing and keeps nothing. A message that does not fit is logged and dropped; the
next one, or the retained copy at the next connect, brings the same totals again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from edge.lot_counts import HEARTBEAT_S, LotCounts
from edge.ports import Clock
from edge.site_rules import Lot, SiteRulesFile
from sync.wire import topics
from sync.wire.lot_message import LotCountsMessage
from sync.wire.payload import ProtocolError

log = logging.getLogger(__name__)

POLL_S = 0.5  # how soon a passage at this lane reaches the others (plus the broker's hop)

# Publishes ``payload`` retained on ``topic``; False when nothing was handed to the broker.
PublishRetained = Callable[[str, str], bool]


class LotExchange:
    """This lane's side of its car park's counts; used from the agent's worker thread."""

    def __init__(self, lot_db: Path, rules_path: Path, *, site: str, device: str,
                 publish: PublishRetained, clock: Clock, poll_s: float = POLL_S,
                 heartbeat_s: float = HEARTBEAT_S) -> None:
        self.site = site
        self.device = device
        self.clock = clock
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.counts = LotCounts(lot_db, device, clock=clock)
        self.rules = SiteRulesFile(rules_path, site)
        self._publish = publish
        self._sent: tuple[str, str] | None = None  # (topic, content) last handed over
        self._sent_at = float("-inf")
        self._next_poll = float("-inf")
        self.dropped = 0

    def close(self) -> None:
        """Close ``lot.db``."""
        self.counts.close()

    def lot(self) -> Lot | None:
        """The car park this lane counts for, by the rules in force."""
        return self.rules.current().lot_of(self.device)

    # ------------------------------------------------------------ out

    def on_connected(self) -> None:
        """Publish at the next tick whatever was sent before: a broker restarted without
        persistence lost the retained copy, and a publish cut by the disconnect is gone."""
        self._sent = None
        self._next_poll = float("-inf")

    def tick(self) -> None:
        """Publish this lane's counts when due (``POLL_S`` at most)."""
        now = self.clock.monotonic()
        if now < self._next_poll:
            return
        self._next_poll = now + self.poll_s
        lot = self.lot()
        if lot is None:
            self._withdraw()
            return
        message = LotCountsMessage(self.site, self.device, 0.0, lot,
                                   self.counts.own_counters(), self.counts.base(lot.id))
        topic, content = topics.lot(self.site, lot.id, self.device), message.dump()
        if (topic, content) == self._sent and now - self._sent_at < self.heartbeat_s:
            return
        if self._sent is not None and self._sent[0] != topic:
            self._withdraw()  # moved to another car park: its old topic would mislead
        stamped = LotCountsMessage(self.site, self.device, self.clock.wall(), lot,
                                   message.counters, message.base)
        if self._publish(topic, stamped.dump()):
            self._sent, self._sent_at = (topic, content), now

    def _withdraw(self) -> None:
        """Clear the retained copy on the topic last published (an empty retained message)."""
        if self._sent is not None and self._publish(self._sent[0], ""):
            self._sent = None

    # ------------------------------------------------------------ in

    @staticmethod
    def wants(topic: str) -> bool:
        """Whether ``topic`` is a lot topic (this part handles it)."""
        return topics.lot_of(topic) is not None

    def handle(self, topic: str, payload: bytes) -> bool:
        """Keep what a lane of this car park says; True when ``lot.db`` changed."""
        where = topics.lot_of(topic)
        if where is None or not payload:
            return False  # not ours, or a retained copy being cleared
        site, lot_id, device = where
        lot = self.lot()
        if site != self.site or lot is None or lot_id != lot.id:
            return False  # another car park's lanes: not counted here
        try:
            message = LotCountsMessage.parse(payload)
            if (message.site, message.lot.id, message.device) != (site, lot_id, device):
                raise ProtocolError(f"lot_counts: site, lot and device must be the topic's "
                                    f"({site}, {lot_id}, {device})")
        except ProtocolError as exc:
            self.dropped += 1
            log.warning("dropped a lot message on %s: %s", topic, exc)
            return False
        if device not in lot.gates:
            # The lane's rules may be older or newer than ours; its count waits until we agree.
            log.info("lot %s: %s is not one of its lanes by the rules here; not counted",
                     lot_id, device)
            return False
        return self.counts.heard(device, message.counters, message.base, self.clock.wall())
