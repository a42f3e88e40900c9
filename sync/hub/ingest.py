"""The hub's ingest worker: stores the gates' event batches and statuses, and acknowledges a
batch to its device only once it is committed.

A batch is stored idempotently on (device, journal id, seq), in one transaction with the
other batches found waiting beside it (up to ``GROUP_MESSAGES``: one fsync'd commit for
several batches of a draining device); the ``ack`` of each names the journal and the highest
seq below which every event of it is stored, and goes out only after that commit. The MQTT
message itself is acknowledged to the broker (``Received.ack``) only after the store: a
database error leaves it unacknowledged, so the broker delivers it again after the next
reconnect. A batch over its device's quota is neither stored nor acknowledged: the device
sends it again after its ack timeout, so the quota delays events and never loses them."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sync.hub.ingest_lanes import IngestLanes
from sync.hub.quotas import DeviceQuotas
from sync.hub.store import CentralStore
from sync.hub.worker import OverQuota
from sync.mqtt.link import MqttLink, Received
from sync.wire import topics
from sync.wire.device_messages import DeviceStatus, EventAck, EventBatch
from sync.wire.payload import ProtocolError

log = logging.getLogger(__name__)

# (device, leaf, why): a message refused as malformed or misaddressed.
Drop = Callable[[str, str, str], None]

# At most this many waiting messages are taken together, their event batches stored in one
# transaction: most of what one commit per batch cost goes at 4, and a transaction of 4 full
# batches holds the store's write lock (the outbox and the desk wait behind it) for tens of
# milliseconds, not a fraction of a second.
GROUP_MESSAGES = 4


@dataclass(frozen=True)
class Inbound:
    """An ``events`` or ``status`` message of ``device``, waiting to be stored."""

    leaf: str
    device: str
    message: Received


class Ingest:
    """Stores what the devices of one site report while the hub has a link, on a lane of
    ``lanes`` (sync/hub/ingest_lanes.py: a desk worker's threads shared by its sites), or
    on a thread of its own when given none."""

    def __init__(self, store: CentralStore, quotas: DeviceQuotas, *, drop: Drop,
                 over_quota: OverQuota, lanes: IngestLanes | None = None) -> None:
        self.store, self.quotas = store, quotas
        self._drop, self._over_quota = drop, over_quota
        self._own_lanes = lanes is None
        self._lanes = lanes if lanes is not None else IngestLanes(1)
        self._lane = self._lanes.assign()
        self._inbox: queue.Queue[Inbound] = queue.Queue()
        self._link: MqttLink | None = None
        self._in_line = False  # waiting in its lane's line, or in a round
        self._line_lock = threading.Lock()
        self._round_lock = threading.Lock()

    def start(self, link: MqttLink) -> None:
        """Store and acknowledge through ``link`` until ``stop``."""
        if self._own_lanes:
            self._lanes.start()
        with self._round_lock:
            self._link = link
        self._line_up_if_waiting()

    def put(self, item: Inbound) -> None:
        """Queue a message (from paho's thread)."""
        self._inbox.put(item)
        self._line_up_if_waiting()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the round at hand and stop; what is queued and not stored stays
        unacknowledged, so the broker delivers it again."""
        with self._round_lock:  # the round at hand ends first
            self._link = None
            self._inbox = queue.Queue()
        if self._own_lanes:
            self._lanes.stop(timeout)

    def _line_up_if_waiting(self) -> None:
        with self._line_lock:
            if self._in_line or self._inbox.empty() or self._link is None:
                return
            self._in_line = True
        self._lanes.line_up(self._lane, self)

    def run_round(self) -> None:
        """Store what waits, at most GROUP_MESSAGES messages (the lane's other sites are
        served before the rest); back in line if more waits."""
        with self._round_lock:
            link = self._link
            waiting: list[Inbound] = []
            while link is not None and len(waiting) < GROUP_MESSAGES:
                # What else is already waiting goes with the first: a device draining a
                # backlog keeps several batches queued, and one commit for them all is one
                # fsync, not one each.
                try:
                    waiting.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            if link is not None and waiting:
                self._handle(link, waiting)
        with self._line_lock:
            self._in_line = False
        self._line_up_if_waiting()

    def _handle(self, link: MqttLink, waiting: list[Inbound]) -> None:
        batches = []
        for message in waiting:
            if message.leaf != "events":
                self._status(message)
            elif (batch := self._checked(message)) is not None:
                batches.append((message, batch))
        if batches:
            self._store(link, batches)

    def _status(self, item: Inbound) -> None:
        """Store a status, then acknowledge it to the broker unless the database failed (the
        broker delivers it again after the next reconnect)."""
        try:
            status = DeviceStatus.parse(item.message.payload)
            if status.device != item.device:
                raise ProtocolError(f"status.device {status.device!r} on "
                                    f"{item.device}'s topic")
            self.store.update_status(status, item.message.retained)
        except ProtocolError as exc:
            self._drop(item.device, item.leaf, str(exc))
        except self.store.db.failures:
            log.exception("storing a status message from %s failed", item.device)
            return
        except Exception:
            log.exception("a status message from %s broke the ingest; dropped", item.device)
        item.message.ack()

    def _checked(self, item: Inbound) -> EventBatch | None:
        """The message's batch, if it is one to store; otherwise it is handled here (dropped
        as malformed, or held back over its device's quota) and None."""
        try:
            batch = EventBatch.parse(item.message.payload)
            if batch.device != item.device:
                raise ProtocolError(f"events.device {batch.device!r} on {item.device}'s topic")
        except ProtocolError as exc:
            self._drop(item.device, item.leaf, str(exc))
            item.message.ack()
            return None
        if not self.quotas.take(item.device, "events", len(batch.events)):
            # Neither stored nor acknowledged: the device sends it again after its ack
            # timeout, so the quota delays events and never loses them.
            self._over_quota(item.device, "events", len(batch.events))
            item.message.ack()
            return None
        return batch

    def _store(self, link: MqttLink, batches: list[tuple[Inbound, EventBatch]]) -> None:
        """Store the batches in one transaction, then acknowledge each: to its device (only
        now, with the transaction committed, may the device forget those events) and to the
        broker."""
        try:
            uptos = self.store.store_event_batches([(m.device, b) for m, b in batches])
        except self.store.db.failures:
            log.exception("storing %d event batches failed", len(batches))
            return  # not acknowledged: delivered again
        except Exception:
            if len(batches) > 1:
                # One of them breaks the store: each on its own, so only that one is lost.
                for one in batches:
                    self._store(link, [one])
                return
            log.exception("an events message from %s broke the ingest; dropped",
                          batches[0][0].device)
            batches[0][0].message.ack()
            return
        for (item, batch), upto in zip(batches, uptos, strict=True):
            if upto < batch.last_seq:
                log.warning("%s: stored events up to %d, but not all of those before; "
                            "acknowledging only %d", item.device, batch.last_seq, upto)
            # The ack names the journal, so it never counts for another journal of the
            # device.
            link.publish(topics.ack(self.store.site, item.device),
                         EventAck(item.device, upto, batch.journal_id).dump())
            item.message.ack()
