"""The hub's catch-up worker: answers "send me everything after N" with the missing changes,
or with a chunked snapshot of the whole list when the device is far behind.

Requests are answered one at a time on this thread (not paho's), at most
``CATCHUP_WINDOW`` messages awaiting PUBACK, so a million-card snapshot to one gate never
stalls event acknowledgements. Several requests from one device waiting their turn
collapse into its latest, and a device answered more often than its quota allows waits
(never dropped: a device does not always know it is behind). If the connection drops
during an answer, the answer stops; the device asks again when it reconnects."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.auth_payloads import changes_payloads, signed, snapshot_parts
from sync.hub.quotas import DeviceQuotas
from sync.hub.store import CHANGES_PER_MESSAGE, CentralStore
from sync.hub.worker import LinkWorker, OverQuota
from sync.mqtt.deliveries import Delivery
from sync.mqtt.link import MqttLink
from sync.wire import topics
from sync.wire.auth_messages import SnapshotChunk, snapshot_text

log = logging.getLogger(__name__)

CATCHUP_WINDOW = 8  # catch-up messages awaiting their PUBACK


@dataclass(frozen=True)
class _SnapshotSent:
    upto: int
    started: float
    finished: float


@dataclass(frozen=True)
class AnswerSettings:
    """How a catch-up is answered."""

    snapshot_threshold: int  # further behind than this: a snapshot
    chunk_size: int  # most cards in one snapshot chunk


class CatchupAnswers(LinkWorker):
    """Answers catch-up requests on its own thread while the hub has a link."""

    name = "central-catchup"

    def __init__(self, store: CentralStore, key: Ed25519PrivateKey, quotas: DeviceQuotas,
                 settings: AnswerSettings, *, clock: Callable[[], float],
                 over_quota: OverQuota) -> None:
        super().__init__()
        self.store, self.key, self.quotas, self.settings = store, key, quotas, settings
        self.clock, self._over_quota = clock, over_quota
        self._requests: dict[str, tuple[int, float]] = {}  # device -> (after_seq, received)
        self._cv = threading.Condition()
        self._snapshots: dict[str, _SnapshotSent] = {}

    def request(self, device: str, after_seq: int) -> None:
        """Queue ``device``'s request (from paho's thread); it replaces one still waiting."""
        with self._cv:
            self._requests[device] = (after_seq, time.monotonic())
            self._cv.notify()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop answering; requests still waiting are forgotten (devices ask again)."""
        super().stop(timeout)
        self._requests.clear()

    def _wake_to_stop(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def _run(self, link: MqttLink) -> None:
        over_seen: dict[str, float] = {}  # device -> arrival of its request found over quota
        while True:
            over: list[str] = []
            with self._cv:
                while True:
                    if self._stopping.is_set():
                        return
                    device, wait = self._next(over_seen, over)
                    if device is not None or over:
                        break
                    self._cv.wait(wait)
                if device is not None:
                    after_seq, received = self._requests.pop(device)
                    over_seen.pop(device, None)
            try:
                for late in over:
                    self._over_quota(late, "catchups", 1)
            except Exception:  # an alarm not recorded must not cost a device its answer
                log.exception("recording a catch-up quota alarm failed")
            if device is None:
                continue
            try:
                self._answer(link, device, after_seq, received)
            except Exception:
                log.exception("answering %s's catch-up request failed", device)

    def _next(self, over_seen: dict[str, float],
              over: list[str]) -> tuple[str | None, float | None]:
        """The first waiting device within its catch-up quota; else None and how long until
        one is. A device over it keeps its latest request waiting (answered later, never
        dropped: the device may not know it is behind); each request newly found waiting
        goes to ``over``. Called holding the condition."""
        wait: float | None = None
        for device, (_after, received) in self._requests.items():
            if self.quotas.take(device, "catchups"):
                return device, None
            if over_seen.get(device) != received:
                over_seen[device] = received
                over.append(device)
            until = max(0.01, self.quotas.wait(device, "catchups"))
            wait = until if wait is None else min(wait, until)
        return None, wait

    def _answer(self, link: MqttLink, device: str, after_seq: int, received: float) -> None:
        sent = self._snapshots.get(device)
        if sent and sent.started <= received <= sent.finished and after_seq < sent.upto:
            # Asked while its snapshot was on the way (each change fanned out meanwhile
            # looked like a gap to it): the snapshot and its tail answer this already.
            log.info("%s: catch-up after %d superseded by snapshot up to %d", device,
                     after_seq, sent.upto)
            return
        head, topic = self.store.head_seq(), topics.device_auth(self.store.site, device)
        if after_seq >= head:
            if after_seq > head:
                log.error("%s has applied up to %d but the log ends at %d: refusing to go "
                          "back", device, after_seq, head)
            return
        if head - after_seq <= self.settings.snapshot_threshold:
            self._send_changes(link, topic, after_seq + 1, head)
            return
        started = time.monotonic()
        if not self._send_snapshot(link, device, topic, head):
            return
        # Changes logged while the snapshot was sent follow it on the same topic, so the
        # device continues from upto_seq + 1 without asking again.
        now_head = self.store.head_seq()
        if now_head > head:
            self._send_changes(link, topic, head + 1, now_head)
        self._snapshots[device] = _SnapshotSent(head, started, time.monotonic())

    def _send_changes(self, link: MqttLink, topic: str, from_seq: int, to_seq: int) -> bool:
        def payloads() -> Iterator[bytes]:
            for lo in range(from_seq, to_seq + 1, CHANGES_PER_MESSAGE):
                hi = min(lo + CHANGES_PER_MESSAGE - 1, to_seq)
                entries = self.store.entries(lo, hi)
                if len(entries) != hi - lo + 1:
                    raise RuntimeError(f"auth_log has a hole in {lo}..{hi}")
                for text in changes_payloads(self.store.site, entries, self.clock()):
                    yield signed(self.key, text)

        return self._send_all(link, topic, payloads())

    def _send_snapshot(self, link: MqttLink, device: str, topic: str, upto: int) -> bool:
        # Sent as the list is read (no chunk but the last knows the count): the first chunk
        # leaves after one page, and the device stages a chunk while the next is read, cut
        # and signed here.
        snapshot_id = uuid.uuid4().hex
        sent = [0, 0]  # chunks, cards

        def payloads() -> Iterator[bytes]:
            parts = snapshot_parts(self.store, upto, self.settings.chunk_size)
            for index, (texts, last) in enumerate(parts):
                chunk = SnapshotChunk(self.store.site, snapshot_id, upto, index, last,
                                      self.clock(), ())
                yield signed(self.key, snapshot_text(chunk, texts))
                sent[0], sent[1] = index + 1, sent[1] + len(texts)

        done = self._send_all(link, topic, payloads())
        log.info("%s: snapshot %s, %d cards up to %d in %d chunks%s", device, snapshot_id,
                 sent[1], upto, sent[0], "" if done else " (stopped: connection lost)")
        return done

    def _send_all(self, link: MqttLink, topic: str, payloads: Iterator[bytes]) -> bool:
        """Publish in order with at most CATCHUP_WINDOW awaiting PUBACK. False if the
        connection went away: the device asks again when it reconnects."""
        window: deque[Delivery] = deque()
        for payload in payloads:
            if self._stopping.is_set() or not link.connected:
                return False
            delivery = link.publish(topic, payload)
            if delivery is None:
                return False
            window.append(delivery)
            while len(window) >= CATCHUP_WINDOW:
                if not self._wait(link, window.popleft()):
                    return False
        return True

    def _wait(self, link: MqttLink, delivery: Delivery) -> bool:
        """Wait for a PUBACK; False if stopping or the connection went away meanwhile."""
        while not delivery.done.wait(0.2):
            if self._stopping.is_set() or not link.connected:
                return False
        return True
