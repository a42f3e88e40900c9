"""The hub's ingest worker: stores the gates' event batches and statuses, and acknowledges a
batch to its device only once it is committed.

A batch is stored in one transaction, idempotently on (device, journal id, seq); the
``ack`` names the journal and the highest seq below which every event of it is stored. The
MQTT message itself is acknowledged to the broker (``Received.ack``) only after the store:
a database error leaves it unacknowledged, so the broker delivers it again after the next
reconnect. A batch over its device's quota is neither stored nor acknowledged: the device
sends it again after its ack timeout, so the quota delays events and never loses them."""

from __future__ import annotations

import logging
import queue
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from sync.hub.quotas import DeviceQuotas
from sync.hub.store import CentralStore
from sync.hub.worker import LinkWorker, OverQuota
from sync.mqtt.link import MqttLink, Received
from sync.wire import topics
from sync.wire.device_messages import DeviceStatus, EventAck, EventBatch
from sync.wire.payload import ProtocolError

log = logging.getLogger(__name__)

# (device, leaf, why): a message refused as malformed or misaddressed.
Drop = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Inbound:
    """An ``events`` or ``status`` message of ``device``, waiting to be stored."""

    leaf: str
    device: str
    message: Received


class Ingest(LinkWorker):
    """Stores what the devices report, on its own thread while the hub has a link."""

    name = "central-ingest"

    def __init__(self, store: CentralStore, quotas: DeviceQuotas, *, drop: Drop,
                 over_quota: OverQuota) -> None:
        super().__init__()
        self.store, self.quotas = store, quotas
        self._drop, self._over_quota = drop, over_quota
        self._inbox: queue.Queue[Inbound | None] = queue.Queue()

    def put(self, item: Inbound) -> None:
        """Queue a message (from paho's thread)."""
        self._inbox.put(item)

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the message at hand and stop; what is queued and not stored stays
        unacknowledged, so the broker delivers it again."""
        super().stop(timeout)
        self._inbox = queue.Queue()

    def _wake_to_stop(self) -> None:
        self._inbox.put(None)

    def _run(self, link: MqttLink) -> None:
        inbox = self._inbox
        while (item := inbox.get()) is not None:
            try:
                if item.leaf == "events":
                    self._events(link, item.device, item.message.payload)
                else:
                    status = DeviceStatus.parse(item.message.payload)
                    if status.device != item.device:
                        raise ProtocolError(f"status.device {status.device!r} on "
                                            f"{item.device}'s topic")
                    self.store.update_status(status, item.message.retained)
            except ProtocolError as exc:
                self._drop(item.device, item.leaf, str(exc))
            except sqlite3.Error:
                # Not acknowledged: the broker redelivers it after the next reconnect.
                log.exception("storing a %s message from %s failed", item.leaf, item.device)
                continue
            except Exception:
                log.exception("a %s message from %s broke the ingest; dropped", item.leaf,
                              item.device)
            item.message.ack()

    def _events(self, link: MqttLink, device: str, payload: bytes) -> None:
        batch = EventBatch.parse(payload)
        if batch.device != device:
            raise ProtocolError(f"events.device {batch.device!r} on {device}'s topic")
        if not self.quotas.take(device, "events", len(batch.events)):
            # Neither stored nor acknowledged: the device sends it again after its ack
            # timeout, so the quota delays events and never loses them.
            self._over_quota(device, "events", len(batch.events))
            return
        upto = self.store.store_events(device, batch.events, batch.acked_seq,
                                       journal_id=batch.journal_id, values=batch.values)
        if upto < batch.last_seq:
            log.warning("%s: stored events up to %d, but not all of those before; "
                        "acknowledging only %d", device, batch.last_seq, upto)
        # Only now, with the transaction committed, may the device forget these events; the
        # ack names the journal, so it never counts for another journal of the device.
        link.publish(topics.ack(self.store.site, device),
                     EventAck(device, upto, batch.journal_id).dump())
