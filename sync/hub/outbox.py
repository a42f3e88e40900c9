"""The hub's outbox publisher: what the desk wrote (authorisation changes, commands) goes to
the broker in order, and a row is marked published only when the broker's PUBACK for it
(for every one of its messages) arrived.

At most ``OUTBOX_WINDOW`` messages await a PUBACK. While the broker is away the rows wait;
after a reconnect paho first re-sends what was in flight, and the publisher waits for those
before sending anything newer, so the order on the topic is kept. A restart re-sends the
rows not marked: delivery is at least once, and a gate ignores a range it already has."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.auth_payloads import changes_payloads, signed
from sync.hub.store import CHANGES_PER_MESSAGE, CentralStore, OutboxRow
from sync.hub.worker import WakeableWorker
from sync.mqtt.deliveries import Delivery
from sync.mqtt.link import MqttLink

log = logging.getLogger(__name__)

OUTBOX_WINDOW = 16  # outbox messages awaiting their PUBACK

# The deliveries of one group of rows (a group of log ranges may take several messages to
# fit) and the row ids they settle.
_InFlight = deque[tuple[list[Delivery], list[int]]]


class OutboxPublisher(WakeableWorker):
    """Publishes the outbox on its own thread while the hub has a link; unpublished rows
    stay for the next start."""

    name = "central-outbox"

    def __init__(self, store: CentralStore, key: Ed25519PrivateKey,
                 clock: Callable[[], float]) -> None:
        super().__init__()
        self.store, self.key, self.clock = store, key, clock

    def _run(self, link: MqttLink) -> None:
        inflight: _InFlight = deque()
        last_id, seen_generation, draining = 0, link.generation, False
        while not self._stopping.is_set():
            self._sleep(0.5)
            try:
                self._settle(inflight)
                if link.generation != seen_generation:
                    seen_generation, draining = link.generation, bool(inflight)
                # After a reconnect paho resends what was in flight, but only after
                # on_connect returns: a new publish now could overtake it.
                draining = draining and bool(inflight)
                if link.connected and not draining:
                    last_id = self._dispatch(link, inflight, last_id)
            except Exception:  # a dead publisher would silently stop every fan-out
                log.exception("outbox: publishing failed; retrying")
                self._stopping.wait(1.0)

    def _settle(self, inflight: _InFlight) -> None:
        pending: _InFlight = deque()
        published: list[int] = []
        while inflight:
            deliveries, ids = inflight.popleft()
            if not all(d.done.is_set() for d in deliveries):
                pending.append((deliveries, ids))
                continue
            refused = [d.reason for d in deliveries if d.refused]
            if refused:
                log.error("broker refused outbox rows %s: %s", ids, refused[0])
                self.store.mark_outbox(ids, f"refused: {refused[0]}")
            else:
                published += ids
        inflight.extend(pending)
        if published:
            self.store.mark_outbox(published, "published")

    def _dispatch(self, link: MqttLink, inflight: _InFlight, last_id: int) -> int:
        while sum(len(deliveries) for deliveries, _ids in inflight) < OUTBOX_WINDOW:
            rows = self.store.pending_outbox(last_id, CHANGES_PER_MESSAGE)
            if not rows:
                break
            group = coalesce(rows)
            ids, first = [r.id for r in group], group[0]
            if first.kind == "command":
                assert first.payload is not None
                if first.expires_at is not None and first.expires_at <= self.clock():
                    log.warning("outbox: command %d expired before the broker took it", first.id)
                    self.store.mark_outbox(ids, "expired")
                    last_id = first.id
                    continue
                payloads = [first.payload]
            else:
                assert first.from_seq is not None and group[-1].to_seq is not None
                entries = self.store.entries(first.from_seq, group[-1].to_seq)
                payloads = [signed(self.key, text) for text in
                            changes_payloads(self.store.site, entries, self.clock())]
            deliveries = []
            for payload in payloads:
                delivery = link.publish(first.topic, payload, on_done=self.wake)
                if delivery is None:
                    break
                deliveries.append(delivery)
            if len(deliveries) < len(payloads):
                # Sent in part: the rows stay pending and go again whole; what did go out
                # is still waited for, so nothing newer overtakes it after a reconnect.
                inflight.append((deliveries, []))
                break
            inflight.append((deliveries, ids))
            last_id = group[-1].id
        return last_id


def coalesce(rows: list[OutboxRow]) -> list[OutboxRow]:
    """The leading rows sent together: a command alone, or consecutive log ranges up to
    CHANGES_PER_MESSAGE entries (one message, or more if their cards need the room)."""
    first = rows[0]
    if first.kind != "auth":
        return [first]
    group, total = [first], _size(first)
    for row in rows[1:]:
        prev = group[-1]
        if (row.kind != "auth" or row.topic != first.topic or prev.to_seq is None
                or row.from_seq != prev.to_seq + 1
                or total + _size(row) > CHANGES_PER_MESSAGE):
            break
        group.append(row)
        total += _size(row)
    return group


def _size(row: OutboxRow) -> int:
    assert row.from_seq is not None and row.to_seq is not None
    return row.to_seq - row.from_seq + 1
