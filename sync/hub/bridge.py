"""The central side of sync: the desk's changes go out signed, the gates' events come in.

``CentralSync`` owns one MQTT connection to the site broker and four threads:

- paho's network thread only routes: it validates catch-up requests and queues the rest;
- the *ingest* worker stores event batches (then publishes the EventAck) and statuses;
- the *catch-up* worker answers CatchupRequests, with changes or a chunked snapshot, so a
  million-card snapshot never stalls event acknowledgements;
- the *outbox* publisher sends what the desk wrote (authorisation changes, commands) in
  order, marking a row published only when the broker's PUBACK for it arrived.

Incoming messages are acknowledged to the broker by hand (paho ``manual_ack``) only once
stored, and the central session outlives a disconnect, so a batch the central process had
not stored when it died is redelivered by the broker instead of depending on the device.
The protocol is documented in docs/sync-protocol.md."""

from __future__ import annotations

import logging
import queue
import secrets
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.auth_store import CardRow
from sync.broker.config import CENTRAL_USER
from sync.hub.auth_payloads import changes_payloads, plan_snapshot, signed, snapshot_payload
from sync.hub.quotas import DeviceQuotas, QuotaLimits
from sync.hub.store import CHANGES_PER_MESSAGE, CentralStore, OutboxRow
from sync.wire import topics
from sync.wire.messages import (
    COMMANDS,
    MAX_COMMAND_LIFETIME_S,
    MAX_MESSAGE_BYTES,
    Command,
    DeviceStatus,
    EventAck,
    EventBatch,
    ProtocolError,
    SnapshotChunk,
    TimeAnswer,
    TimeRequest,
    parse_catchup_message,
)
from sync.wire.signing import sign

log = logging.getLogger(__name__)

OUTBOX_WINDOW = 16  # outbox messages awaiting their PUBACK
CATCHUP_WINDOW = 8  # catch-up messages awaiting their PUBACK
# How long the broker keeps the central session (and queues device messages for it). The
# site broker keys sessions by username (the client id is replaced by it), so the session
# is the central user's whatever client id connects, and no device can take it over; one
# central connection per site broker at a time.
SESSION_EXPIRY_S = 7 * 24 * 3600
_INBOUND = ("events", "status", "catchup")


def _check_segment(value: str, what: str) -> None:
    if not value or any(c in value for c in "/+#\0"):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")


@dataclass
class _Delivery:
    """One QoS 1 publish; ``done`` is set when the broker's PUBACK arrived."""

    done: threading.Event = field(default_factory=threading.Event)
    reason: ReasonCode | None = None

    def resolve(self, reason: ReasonCode) -> None:
        self.reason = reason
        self.done.set()


class _Deliveries:
    """PUBACKs by message id. paho may report a PUBACK before ``publish`` has returned its
    mid to the caller, so an early one is parked until the caller tracks it. (No lock is held
    while calling paho: paho calls on_publish holding its own message lock.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, _Delivery] = {}
        self._early: dict[int, ReasonCode] = {}

    def track(self, mid: int) -> _Delivery:
        delivery = _Delivery()
        with self._lock:
            reason = self._early.pop(mid, None)
            if reason is None:
                self._waiting[mid] = delivery
        if reason is not None:
            delivery.resolve(reason)
        return delivery

    def resolve(self, mid: int, reason: ReasonCode) -> None:
        with self._lock:
            delivery = self._waiting.pop(mid, None)
            if delivery is None:
                self._early[mid] = reason
        if delivery is not None:
            delivery.resolve(reason)


@dataclass(frozen=True)
class _Inbound:
    leaf: str
    device: str
    payload: bytes
    retained: bool
    mid: int
    qos: int
    generation: int


@dataclass(frozen=True)
class _SnapshotSent:
    upto: int
    started: float
    finished: float


class CentralSync:
    """The central sync bridge of one site; see the module docstring for its threads."""

    def __init__(self, db_path: Path, site: str, signing_key: Ed25519PrivateKey,  # noqa: PLR0917
                 broker_host: str, broker_port: int, username: str = CENTRAL_USER, *,
                 password: str, snapshot_threshold: int = 5000, chunk_size: int = 2000,
                 clock: Callable[[], float] = time.time, client_id: str | None = None,
                 max_inbound_bytes: int = MAX_MESSAGE_BYTES,
                 reconnect_delay: tuple[int, int] = (1, 30),
                 quota: QuotaLimits | None = None) -> None:
        _check_segment(site, "site")
        if snapshot_threshold < 0:
            raise ValueError("snapshot_threshold must not be negative")
        if chunk_size < 1:
            raise ValueError(f"chunk_size {chunk_size}: a chunk holds at least one card")
        self.site, self.key, self.clock = site, signing_key, clock
        self.host, self.port, self.username, self.password = (broker_host, broker_port,
                                                              username, password)
        self.snapshot_threshold, self.chunk_size = snapshot_threshold, chunk_size
        self.client_id = client_id or f"{CENTRAL_USER}-{site}"
        self.max_inbound_bytes = max_inbound_bytes
        self.reconnect_delay = reconnect_delay
        self.store = CentralStore(db_path, site, clock)
        self.quotas = DeviceQuotas(quota or QuotaLimits())
        self._client: mqtt.Client | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._wake = threading.Event()  # the outbox publisher has something to look at
        self._deliveries = _Deliveries()
        self._inbox: queue.Queue[_Inbound | None] = queue.Queue()
        self._catchups: dict[str, tuple[int, float]] = {}  # device -> (after_seq, received)
        self._catchup_cv = threading.Condition()
        self._snapshots: dict[str, _SnapshotSent] = {}
        self._generation = 0  # connections made; an ack for an older one would be wrong
        self._disconnects = 0
        self._dropped = 0
        self._dropped_lock = threading.Lock()

    # ------------------------------------------------------------ desk API

    def record_card(self, card: CardRow) -> int:
        """Log a card's full record and queue its fan-out; its sequence number. Never waits
        for the broker: the outbox delivers it when it can."""
        seq = self.store.record_card(card)
        self._wake.set()
        return seq

    def record_cards(self, cards: Iterable[CardRow]) -> range:
        """Log many cards in one transaction (all or none); the sequence numbers given."""
        seqs = self.store.record_cards(cards)
        self._wake.set()
        return seqs

    def current_cards(self) -> list[CardRow]:
        """Every card's latest record, in UID order."""
        return self.store.current_cards()

    def head_seq(self) -> int:
        """The newest sequence number of the authorisation log."""
        return self.store.head_seq()

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored gate events matching the filters (see CentralStore.events_for)."""
        return self.store.events_for(device, uid=uid, since=since, until=until,
                                     granted=granted, limit=limit)

    def count_events(self, device: str | None = None) -> int:
        """How many events are stored for ``device`` (or for all)."""
        return self.store.count_events(device)

    def device_status(self) -> list[dict[str, Any]]:
        """Every device's last status, with ``behind`` = head_seq - applied_seq."""
        return self.store.device_status()

    def issue_command(self, device: str, command: str, issued_by: str,
                      lifetime_s: float = 10, *, hold_for_s: float | None = None) -> str:
        """Sign a remote command for ``device`` and queue it (QoS 1, never retained); its
        nonce. It expires ``lifetime_s`` (at most 30 s) after now: a command the broker
        could not take before then is never sent. ``hold_for_s`` makes a hold_open or
        lockdown end by itself that long after now (else it lasts until released)."""
        _check_segment(device, "device")
        if command not in COMMANDS:
            raise ValueError(f"command {command!r} is not one of {', '.join(COMMANDS)}")
        if not 0 < lifetime_s <= MAX_COMMAND_LIFETIME_S:
            raise ValueError(f"lifetime_s must be in (0, {MAX_COMMAND_LIFETIME_S:.0f}]")
        if not issued_by:
            raise ValueError("issued_by must name who issued the command")
        now, nonce = self.clock(), secrets.token_hex(16)
        until = None if hold_for_s is None else now + hold_for_s
        text = Command(self.site, device, command, nonce, now, now + lifetime_s,
                       issued_by, until).dump()
        Command.parse(text)  # the gate runs this check; refuse here what it would refuse
        self.store.add_command(topics.command(self.site, device), sign(self.key, text),
                               now + lifetime_s)
        self._wake.set()
        return nonce

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected.is_set()

    @property
    def dropped(self) -> int:
        """How many incoming messages were refused (malformed, oversized, misaddressed)."""
        return self._dropped

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start the workers. Returns
        at once: nothing here waits for the broker."""
        if self._client is not None:
            raise RuntimeError("CentralSync is already started")
        self._stopping.clear()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5)
        client.username_pw_set(self.username, self.password)
        client.reconnect_delay_set(*self.reconnect_delay)
        client.max_inflight_messages_set(OUTBOX_WINDOW + 2 * CATCHUP_WINDOW + 32)
        client.manual_ack_set(True)
        client.suppress_exceptions = True  # a callback's bug must not end the network loop
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                             properties=props)
        self._client = client
        self._threads = [threading.Thread(target=target, name=name, daemon=True)
                         for name, target in (("central-ingest", self._ingest_loop),
                                              ("central-catchup", self._catchup_loop),
                                              ("central-outbox", self._outbox_loop))]
        for thread in self._threads:
            thread.start()
        client.loop_start()

    def stop(self) -> None:
        """Stop the workers and disconnect. Unpublished outbox rows stay for the next start;
        messages taken but not stored are not acknowledged, so the broker redelivers them."""
        client = self._client
        if client is None:
            return
        self._stopping.set()
        self._wake.set()
        self._inbox.put(None)
        with self._catchup_cv:
            self._catchup_cv.notify_all()
        for thread in self._threads:
            thread.join(15)
            if thread.is_alive():
                log.error("%s did not stop within 15 s", thread.name)
        client.disconnect()
        client.loop_stop()
        self._connected.clear()
        self._client = None
        self._inbox = queue.Queue()
        self._deliveries = _Deliveries()
        self._catchups.clear()

    def close(self) -> None:
        """Stop, then close the database."""
        self.stop()
        self.store.close()

    # ------------------------------------------------------------ paho callbacks
    # They run on paho's network thread: each does little, and catches what it raises.

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the connection: %s", self.host, self.port, reason)
            return
        try:
            self._generation += 1
            leaves = [(topics.device_wildcard(self.site, leaf), SubscribeOptions(qos=1))
                      for leaf in _INBOUND]
            client.subscribe(leaves)
            log.info("connected to %s:%d (session present: %s)", self.host, self.port,
                     flags.session_present)
            self._connected.set()
            self._wake.set()
        except Exception:
            log.exception("on_connect failed")

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any,
                       _flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       _props: Properties | None) -> None:
        self._connected.clear()
        self._disconnects += 1
        self._wake.set()
        if not self._stopping.is_set():
            log.warning("disconnected from %s:%d (%s); reconnecting", self.host, self.port,
                        reason)

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode,
                    _props: Properties | None) -> None:
        try:
            self._deliveries.resolve(mid, reason)
            self._wake.set()
        except Exception:
            log.exception("on_publish failed")

    def _on_message(self, client: mqtt.Client, _userdata: Any,
                    msg: mqtt.MQTTMessage) -> None:
        try:
            if self._route(msg):
                client.ack(msg.mid, msg.qos)
        except Exception:
            log.exception("a message could not be routed; dropped")
            client.ack(msg.mid, msg.qos)

    def _route(self, msg: mqtt.MQTTMessage) -> bool:
        """Queue or drop one message; whether it is settled (to be acknowledged now)."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = "(not UTF-8)"
        where = topics.device_of(topic)
        if where is None or where[0] != self.site or where[2] not in _INBOUND:
            self._drop("?", "?", f"unexpected topic {topic!r}")
            return True
        _site, device, leaf = where
        payload = bytes(msg.payload)
        if leaf == "status" and not payload:
            return True  # a retained status being cleared
        if len(payload) > self.max_inbound_bytes:
            self._drop(device, leaf, f"{len(payload)} bytes exceeds {self.max_inbound_bytes}")
            return True
        if leaf == "catchup":
            try:
                request = parse_catchup_message(payload)
                if request.device != device:
                    raise ProtocolError(f"catchup.device {request.device!r} on {device}'s topic")
            except ProtocolError as exc:
                self._drop(device, leaf, str(exc))
                return True
            if isinstance(request, TimeRequest):
                if self.quotas.take(device, "time_answers"):
                    self._answer_time(device, request)
                else:
                    # Unanswered: the agent asks again within a minute while untrusted.
                    try:
                        self._over_quota(device, "time_answers", 1)
                    except Exception:
                        log.exception("recording a time-answer quota alarm failed")
                return True
            with self._catchup_cv:
                # Several requests from one device while it waits collapse into its latest.
                self._catchups[device] = (request.after_seq, time.monotonic())
                self._catchup_cv.notify()
            return True
        self._inbox.put(_Inbound(leaf, device, payload, bool(msg.retain), msg.mid, msg.qos,
                                 self._generation))
        return False

    def _answer_time(self, device: str, request: TimeRequest) -> None:
        """Central's clock, signed, with the device's nonce: answered at once (here on paho's
        thread) so the time it carries is as fresh as the round trip allows."""
        answer = TimeAnswer(self.site, device, request.nonce, self.clock())
        self._publish(topics.device_auth(self.site, device), sign(self.key, answer.dump()))

    def _drop(self, device: str, leaf: str, why: str) -> None:
        with self._dropped_lock:
            self._dropped += 1
        log.warning("dropped a %s message from %s: %s", leaf, device, why)

    def _publish(self, topic: str, payload: bytes | str) -> _Delivery | None:
        client = self._client
        if client is None:
            return None
        info = client.publish(topic, payload, qos=1, retain=False)
        # NO_CONN still queues a QoS 1 message: paho sends it after reconnecting.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, mqtt.error_string(info.rc))
            return None
        return self._deliveries.track(info.mid)

    def _await(self, delivery: _Delivery) -> bool:
        """Wait for a PUBACK; False if stopping or the connection went away meanwhile."""
        while not delivery.done.wait(0.2):
            if self._stopping.is_set() or not self._connected.is_set():
                return False
        return True

    # ------------------------------------------------------------ ingest worker

    def _ingest_loop(self) -> None:
        while (item := self._inbox.get()) is not None:
            try:
                if item.leaf == "events":
                    self._ingest_events(item.device, item.payload)
                else:
                    status = DeviceStatus.parse(item.payload)
                    if status.device != item.device:
                        raise ProtocolError(f"status.device {status.device!r} on "
                                            f"{item.device}'s topic")
                    self.store.update_status(status, item.retained)
            except ProtocolError as exc:
                self._drop(item.device, item.leaf, str(exc))
            except sqlite3.Error:
                # Not acknowledged: the broker redelivers it after the next reconnect.
                log.exception("storing a %s message from %s failed", item.leaf, item.device)
                continue
            except Exception:
                log.exception("a %s message from %s broke the ingest; dropped", item.leaf,
                              item.device)
            client = self._client
            if client is not None and item.generation == self._generation:
                client.ack(item.mid, item.qos)

    def _ingest_events(self, device: str, payload: bytes) -> None:
        batch = EventBatch.parse(payload)
        if batch.device != device:
            raise ProtocolError(f"events.device {batch.device!r} on {device}'s topic")
        if not self.quotas.take(device, "events", len(batch.events)):
            # Neither stored nor acknowledged: the device sends it again after its ack
            # timeout, so the quota delays events and never loses them.
            self._over_quota(device, "events", len(batch.events))
            return
        upto = self.store.store_events(device, batch.events, batch.acked_seq,
                                       journal_id=batch.journal_id)
        if upto < batch.last_seq:
            log.warning("%s: stored events up to %d, but not all of those before; "
                        "acknowledging only %d", device, batch.last_seq, upto)
        # Only now, with the transaction committed, may the device forget these events; the
        # ack names the journal, so it never counts for another journal of the device.
        self._publish(topics.ack(self.site, device),
                      EventAck(device, upto, batch.journal_id).dump())

    def _over_quota(self, device: str, what: str, n: int) -> None:
        log.debug("%s is over its %s quota: %d refused", device, what, n)
        refused = self.quotas.refused(device, what, n)
        if refused is not None:
            log.warning("%s is over its %s quota (%s); %d refused", device, what,
                        self.quotas.describe(what), refused)
            self.store.raise_alarm(device, "quota_exceeded", what=what, refused=refused,
                                   **self.quotas.describe(what))

    # ------------------------------------------------------------ catch-up worker

    def _catchup_loop(self) -> None:
        over_seen: dict[str, float] = {}  # device -> arrival of its request found over quota
        while True:
            over: list[str] = []
            with self._catchup_cv:
                while True:
                    if self._stopping.is_set():
                        return
                    device, wait = self._next_catchup(over_seen, over)
                    if device is not None or over:
                        break
                    self._catchup_cv.wait(wait)
                if device is not None:
                    after_seq, received = self._catchups.pop(device)
                    over_seen.pop(device, None)
            try:
                for late in over:
                    self._over_quota(late, "catchups", 1)
            except Exception:  # an alarm not recorded must not cost a device its answer
                log.exception("recording a catch-up quota alarm failed")
            if device is None:
                continue
            try:
                self._answer_catchup(device, after_seq, received)
            except Exception:
                log.exception("answering %s's catch-up request failed", device)

    def _next_catchup(self, over_seen: dict[str, float],
                      over: list[str]) -> tuple[str | None, float | None]:
        """The first waiting device within its catch-up quota; else None and how long until
        one is. A device over it keeps its latest request waiting (answered later, never
        dropped: the device may not know it is behind); each request newly found waiting
        goes to ``over``. Called holding the condition."""
        wait: float | None = None
        for device, (_after, received) in self._catchups.items():
            if self.quotas.take(device, "catchups"):
                return device, None
            if over_seen.get(device) != received:
                over_seen[device] = received
                over.append(device)
            until = max(0.01, self.quotas.wait(device, "catchups"))
            wait = until if wait is None else min(wait, until)
        return None, wait

    def _answer_catchup(self, device: str, after_seq: int, received: float) -> None:
        sent = self._snapshots.get(device)
        if sent and sent.started <= received <= sent.finished and after_seq < sent.upto:
            # Asked while its snapshot was on the way (each change fanned out meanwhile
            # looked like a gap to it): the snapshot and its tail answer this already.
            log.info("%s: catch-up after %d superseded by snapshot up to %d", device,
                     after_seq, sent.upto)
            return
        head, topic = self.store.head_seq(), topics.device_auth(self.site, device)
        if after_seq >= head:
            if after_seq > head:
                log.error("%s has applied up to %d but the log ends at %d: refusing to go "
                          "back", device, after_seq, head)
            return
        if head - after_seq <= self.snapshot_threshold:
            self._send_changes(topic, after_seq + 1, head)
            return
        started = time.monotonic()
        if not self._send_snapshot(device, topic, head):
            return
        # Changes logged while the snapshot was sent follow it on the same topic, so the
        # device continues from upto_seq + 1 without asking again.
        now_head = self.store.head_seq()
        if now_head > head:
            self._send_changes(topic, head + 1, now_head)
        self._snapshots[device] = _SnapshotSent(head, started, time.monotonic())

    def _send_changes(self, topic: str, from_seq: int, to_seq: int) -> bool:
        def payloads() -> Iterator[bytes]:
            for lo in range(from_seq, to_seq + 1, CHANGES_PER_MESSAGE):
                hi = min(lo + CHANGES_PER_MESSAGE - 1, to_seq)
                entries = self.store.entries(lo, hi)
                if len(entries) != hi - lo + 1:
                    raise RuntimeError(f"auth_log has a hole in {lo}..{hi}")
                for text in changes_payloads(self.site, entries, self.clock()):
                    yield signed(self.key, text)

        return self._send_all(topic, payloads())

    def _send_snapshot(self, device: str, topic: str, upto: int) -> bool:
        # Chunks are cut by bytes (at most chunk_size cards each), so the list is measured
        # first: every chunk carries the count.
        plan = plan_snapshot(self.store, upto, self.chunk_size)
        snapshot_id = uuid.uuid4().hex
        log.info("%s: snapshot %s, %d cards up to %d in %d chunks", device, snapshot_id,
                 sum(n for _a, n in plan), upto, len(plan))

        def payloads() -> Iterator[bytes]:
            for index, (after, cards) in enumerate(plan):
                page = self.store.current_page(upto, after, cards) if cards else []
                if len(page) != cards:
                    raise RuntimeError(f"snapshot page after {after!r} changed under it")
                chunk = SnapshotChunk(self.site, snapshot_id, upto, index, len(plan),
                                      self.clock(), ())
                yield signed(self.key, snapshot_payload(chunk, [t for _u, _s, t in page]))

        return self._send_all(topic, payloads())

    def _send_all(self, topic: str, payloads: Iterator[bytes]) -> bool:
        """Publish in order with at most CATCHUP_WINDOW awaiting PUBACK. False if the
        connection went away: the device asks again when it reconnects."""
        window: deque[_Delivery] = deque()
        for payload in payloads:
            if self._stopping.is_set() or not self._connected.is_set():
                return False
            delivery = self._publish(topic, payload)
            if delivery is None:
                return False
            window.append(delivery)
            while len(window) >= CATCHUP_WINDOW:
                if not self._await(window.popleft()):
                    return False
        return True

    # ------------------------------------------------------------ outbox publisher

    def _outbox_loop(self) -> None:
        # Each item: the deliveries of one group of rows (a group of log ranges may take
        # several messages to fit) and the row ids they settle.
        inflight: deque[tuple[list[_Delivery], list[int]]] = deque()
        last_id, seen_disconnects, draining = 0, self._disconnects, False
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._settle(inflight)
                if self._disconnects != seen_disconnects:
                    seen_disconnects, draining = self._disconnects, bool(inflight)
                # After a reconnect paho resends what was in flight, but only after
                # on_connect returns: a new publish now could overtake it.
                draining = draining and bool(inflight)
                if self._connected.is_set() and not draining:
                    last_id = self._dispatch(inflight, last_id)
            except Exception:  # a dead publisher would silently stop every fan-out
                log.exception("outbox: publishing failed; retrying")
                self._stopping.wait(1.0)

    def _settle(self, inflight: deque[tuple[list[_Delivery], list[int]]]) -> None:
        pending: deque[tuple[list[_Delivery], list[int]]] = deque()
        published: list[int] = []
        while inflight:
            deliveries, ids = inflight.popleft()
            if not all(d.done.is_set() for d in deliveries):
                pending.append((deliveries, ids))
                continue
            refused = [d.reason for d in deliveries
                       if d.reason is not None and d.reason.is_failure]
            if refused:
                log.error("broker refused outbox rows %s: %s", ids, refused[0])
                self.store.mark_outbox(ids, f"refused: {refused[0]}")
            else:
                published += ids
        inflight.extend(pending)
        if published:
            self.store.mark_outbox(published, "published")

    def _dispatch(self, inflight: deque[tuple[list[_Delivery], list[int]]],
                  last_id: int) -> int:
        while sum(len(deliveries) for deliveries, _ids in inflight) < OUTBOX_WINDOW:
            rows = self.store.pending_outbox(last_id, CHANGES_PER_MESSAGE)
            if not rows:
                break
            group = _coalesce(rows)
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
                payloads = [signed(self.key, text)
                            for text in changes_payloads(self.site, entries, self.clock())]
            deliveries = []
            for payload in payloads:
                delivery = self._publish(first.topic, payload)
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


def _coalesce(rows: list[OutboxRow]) -> list[OutboxRow]:
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
