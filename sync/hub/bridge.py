"""The hub of one site: the desk's changes go out signed, the gates' events come in.

``CentralSync`` is what the desk service holds: the desk API (``record_cards``,
``issue_command``, events and device status) and the life cycle of the parts that do the
work, each on its own thread:

- the link (sync/mqtt/link.py, paho's network thread) only routes: ``_route`` validates
  catch-up and time requests, answers time requests at once, and queues the rest;
- the *ingest* worker (sync/hub/ingest.py) stores event batches (then publishes the
  EventAck) and statuses;
- the *catch-up* worker (sync/hub/catchups.py) answers CatchupRequests, with changes or a
  chunked snapshot, so a million-card snapshot never stalls event acknowledgements;
- the *outbox* publisher (sync/hub/outbox.py) sends what the desk wrote (authorisation
  changes, commands) in order, marking a row published only when the broker's PUBACK for it
  arrived;
- the *booth-list* publisher (sync/hub/booth_lists.py), when the desk gives the hub a way to
  build its booths' lists, keeps each booth's signed list retained on its topic;
- the *site-rules* publisher (sync/hub/site_rules_publisher.py), when the desk gives the hub
  a way to build the site's rules, keeps them signed and retained on the site's rules topic.

Incoming messages are acknowledged to the broker by hand only once stored, and the hub's
session outlives a disconnect, so a batch the central process had not stored when it died
is redelivered by the broker instead of depending on the device. The protocol is
documented in docs/sync-protocol.md."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.card_record import CardRow, WireCard
from sync.hub.booth_lists import BoothListPublisher, BuildBoothLists
from sync.hub.catchups import CATCHUP_WINDOW, AnswerSettings, CatchupAnswers
from sync.hub.ingest import Inbound, Ingest
from sync.hub.ingest_lanes import IngestLanes
from sync.hub.lot_occupancy import LotOccupancy, LotReading
from sync.hub.outbox import OUTBOX_WINDOW, OutboxPublisher
from sync.hub.quotas import DeviceQuotas, QuotaLimits
from sync.hub.site_lease import SiteLease, SoleLease, lease_for
from sync.hub.site_rules_publisher import BuildSiteRules, SiteRulesPublisher
from sync.hub.store import CentralStore
from sync.mqtt.link import LinkSettings, MqttLink, Received, TlsFiles
from sync.wire import topics
from sync.wire.auth_messages import TimeAnswer, TimeRequest, parse_catchup_message
from sync.wire.command import COMMANDS, MAX_COMMAND_LIFETIME_S, Command
from sync.wire.payload import MAX_MESSAGE_BYTES, ProtocolError
from sync.wire.signing import sign
from sync.wire.topics import CENTRAL_USER

log = logging.getLogger(__name__)

# How long the broker keeps the central session (and queues device messages for it). The
# site broker keys sessions by username (the client id is replaced by it), so the session
# is the central user's whatever client id connects, and no device can take it over; one
# central connection per site broker at a time.
SESSION_EXPIRY_S = 7 * 24 * 3600
_INBOUND = ("events", "status", "catchup")


def _check_segment(value: str, what: str) -> None:
    if not value or any(c in value for c in "/+#\0"):
        raise ValueError(f"{what} {value!r} cannot be an MQTT topic level")


class CentralSync:
    """The central sync hub of one site; see the module docstring for its threads."""

    def __init__(self, db_path: Path | str, site: str, signing_key: Ed25519PrivateKey,  # noqa: PLR0917
                 broker_host: str, broker_port: int, username: str = CENTRAL_USER, *,
                 password: str, snapshot_threshold: int = 5000, chunk_size: int = 2000,
                 clock: Callable[[], float] = time.time, client_id: str | None = None,
                 max_inbound_bytes: int = MAX_MESSAGE_BYTES,
                 reconnect_delay: tuple[int, int] = (1, 30),
                 quota: QuotaLimits | None = None, tls: TlsFiles | None = None,
                 booth_lists: BuildBoothLists | None = None,
                 site_rules: BuildSiteRules | None = None,
                 lease: SiteLease | None = None,
                 lease_interval: float = 1.0,
                 ingest_lanes: IngestLanes | None = None,
                 lists_refresh_s: float | None = None) -> None:
        _check_segment(site, "site")
        if snapshot_threshold < 0:
            raise ValueError("snapshot_threshold must not be negative")
        if chunk_size < 1:
            raise ValueError(f"chunk_size {chunk_size}: a chunk holds at least one card")
        self.site, self.key, self.clock = site, signing_key, clock
        # Exactly one worker publishes the site (sync/hub/site_lease.py).
        self.lease = lease if lease is not None else lease_for(db_path, site)
        self.lease_interval = lease_interval
        self._inbound = tuple(topics.device_wildcard(site, leaf) for leaf in _INBOUND)
        # Of a company's desk workers, the one publishing the site also takes its gates'
        # messages in, so a journal's batches are stored in order by one worker (spread over
        # the workers, the second batch of a journal was often stored before the first, and
        # acknowledged only up to the hole until the gate sent both again). Every worker
        # hears every lot count, kept in its memory.
        self.inbound_follows_lease = not isinstance(self.lease, SoleLease)
        self.settings = LinkSettings(
            broker_host, broker_port, client_id or f"{CENTRAL_USER}-{site}", username,
            password, (*(() if self.inbound_follows_lease else self._inbound),
                       topics.lot_wildcard(site)), tls,
            reconnect_delay=reconnect_delay, session_expiry_s=SESSION_EXPIRY_S,
            max_inflight=OUTBOX_WINDOW + 2 * CATCHUP_WINDOW + 32)
        self.max_inbound_bytes = max_inbound_bytes
        self.store = CentralStore(db_path, site, clock)
        self._publishing = False
        self._lease_stop = threading.Event()
        self._lease_thread: threading.Thread | None = None
        self.quotas = DeviceQuotas(quota or QuotaLimits())
        self.ingest = Ingest(self.store, self.quotas, drop=self._drop,
                             over_quota=self._over_quota, lanes=ingest_lanes)
        self.catchups = CatchupAnswers(self.store, signing_key, self.quotas,
                                       AnswerSettings(snapshot_threshold, chunk_size),
                                       clock=clock, over_quota=self._over_quota)
        self.outbox = OutboxPublisher(self.store, signing_key, clock)
        # The desk's booths' lists (issue 11), built by the desk: the hub knows no records.
        # Rebuilt from the desk's records at each round or, given ``lists_refresh_s``, when
        # the desk tells of a change (``desk_changed``) and at least that often.
        self.booth_lists = (BoothListPublisher(self.store, signing_key, booth_lists, clock,
                                               refresh_s=lists_refresh_s)
                            if booth_lists is not None else None)
        # The site's rules for the car park and the calendar (issue 12), built by the desk.
        self.site_rules = (SiteRulesPublisher(self.store, signing_key, site_rules, clock,
                                              refresh_s=lists_refresh_s)
                           if site_rules is not None else None)
        # The car parks' counts as the lanes publish them (issue 12), in memory.
        self.lots = LotOccupancy(site, clock)
        self._link: MqttLink | None = None
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._taken_in = 0  # written on paho's thread only

    # ------------------------------------------------------------ desk API

    def record_card(self, card: CardRow | WireCard) -> int:
        """Log a card's full record and queue its fan-out; its sequence number. Never waits
        for the broker: the outbox delivers it when it can."""
        seq = self.store.record_card(card)
        self.outbox.wake()
        return seq

    def record_cards(self, cards: Iterable[CardRow | WireCard],
                     desk_seqs: Sequence[int] | None = None, *,
                     relayed_upto: int | None = None) -> range:
        """Log many cards in one transaction (all or none); the sequence numbers given. A
        record already in its wire form (the desk's log) is logged and sent as it is;
        ``desk_seqs`` names the desk's entry each card relays, ``relayed_upto`` how far
        the desk's log of the site is relayed with them (CentralStore.record_cards)."""
        seqs = self.store.record_cards(cards, desk_seqs, relayed_upto=relayed_upto)
        self.outbox.wake()
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

    def device_states(self) -> list[dict[str, Any]]:
        """Every device's last status, without the hub's alarms (CentralStore.device_states)."""
        return self.store.device_states()

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
        self.outbox.wake()
        return nonce

    def lot_readings(self) -> list[LotReading]:
        """Each car park's occupancy as its lanes last said (sync/hub/lot_occupancy.py)."""
        return self.lots.readings()

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._link is not None and self._link.connected

    @property
    def taken_in(self) -> int:
        """How many of its gates' messages (events, statuses, catch-ups) this hub took in."""
        return self._taken_in

    @property
    def dropped(self) -> int:
        """How many incoming messages were refused (malformed, oversized, misaddressed)."""
        return self._dropped

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect in the background (retrying with backoff) and start the workers. Returns
        at once: nothing here waits for the broker."""
        if self._link is not None:
            raise RuntimeError("CentralSync is already started")
        link = MqttLink(self.settings, on_message=self._route, on_up=self._wake_publishers,
                        on_down=self._wake_publishers)
        self._link = link
        self.ingest.start(link)
        self.catchups.start(link)
        if self.lease.held():
            self._start_publishers(link)
        elif self.inbound_follows_lease:
            # Not this worker's site (yet): a subscription its session kept from before a
            # crash is given up at the connect.
            link.follow(self._inbound, subscribed=False)
        if not isinstance(self.lease, SoleLease):
            self._lease_stop.clear()
            self._lease_thread = threading.Thread(target=self._watch_lease, args=(link,),
                                                  name=f"lease-{self.site}", daemon=True)
            self._lease_thread.start()
        link.start()

    @property
    def publishing(self) -> bool:
        """Whether this process publishes the site now (holds its lease; a SQLite store's
        one desk process always does, started or not)."""
        return self._publishing or isinstance(self.lease, SoleLease)

    def _start_publishers(self, link: MqttLink) -> None:
        if self.inbound_follows_lease:
            # Subscribed before anything is published: the broker takes a connection's
            # packets in order, so a gate's catch-up asked for what the outbox sends next
            # reaches this worker.
            link.follow(self._inbound, subscribed=True)
        self.outbox.start(link)
        if self.booth_lists is not None:
            self.booth_lists.start(link)
        if self.site_rules is not None:
            self.site_rules.start(link)
        self._publishing = True

    def _stop_publishers(self, link: MqttLink) -> None:
        self._publishing = False
        self.outbox.stop()
        if self.booth_lists is not None:
            self.booth_lists.stop()
        if self.site_rules is not None:
            self.site_rules.stop()
        if self.inbound_follows_lease:
            # Given up before the lease is (the next look): the worker taking the site over
            # subscribes after this worker stopped. What the gates send in between reaches
            # no one and is sent again after their ack timeout.
            link.follow(self._inbound, subscribed=False)
        self.store.close_ended_threads()  # the publishers' connections, not kept idle

    def _watch_lease(self, link: MqttLink) -> None:
        """Publish while the lease is held; take it over when the worker holding it dies."""
        while not self._lease_stop.wait(self.lease_interval):
            try:
                held = self.lease.held()
                if held and not self._publishing:
                    self._start_publishers(link)
                elif not held and self._publishing:
                    log.warning("site %s: no longer this worker's to publish", self.site)
                    self._stop_publishers(link)
            except Exception:  # a dead watcher would leave the site without a publisher
                log.exception("site %s: watching the lease failed; retrying", self.site)

    def stop(self) -> None:
        """Stop the workers and disconnect. Unpublished outbox rows stay for the next start;
        messages taken but not stored are not acknowledged, so the broker redelivers them."""
        link = self._link
        if link is None:
            return
        self._lease_stop.set()
        if self._lease_thread is not None:
            self._lease_thread.join(10)
            self._lease_thread = None
        self.ingest.stop()
        self.catchups.stop()
        if self._publishing:
            self._stop_publishers(link)
        self.lease.release()
        link.close()
        self._link = None

    def close(self) -> None:
        """Stop, then close the database."""
        self.stop()
        self.store.close()

    def desk_changed(self) -> None:
        """The desk may have changed what the site's booth lists or rules hold: rebuild
        them now (central/list_changes.py tells it)."""
        if self.booth_lists is not None:
            self.booth_lists.rebuild()
        if self.site_rules is not None:
            self.site_rules.rebuild()

    def _wake_publishers(self) -> None:
        self.outbox.wake()
        if self.booth_lists is not None:
            self.booth_lists.wake()
        if self.site_rules is not None:
            self.site_rules.wake()

    # ------------------------------------------------------------ routing (paho's thread)

    def _route(self, msg: Received) -> None:
        """Queue or drop one message, acknowledging now what is settled here."""
        if topics.lot_of(msg.topic) is not None:
            self.lots.handle(msg.topic, msg.payload)  # in memory: settled at once
            msg.ack()
            return
        where = topics.device_of(msg.topic)
        if where is None or where[0] != self.site or where[2] not in _INBOUND:
            self._drop("?", "?", f"unexpected topic {msg.topic!r}")
            msg.ack()
            return
        _site, device, leaf = where
        self._taken_in += 1
        if leaf == "status" and not msg.payload:
            msg.ack()  # a retained status being cleared
            return
        if len(msg.payload) > self.max_inbound_bytes:
            self._drop(device, leaf, f"{len(msg.payload)} bytes exceeds "
                       f"{self.max_inbound_bytes}")
            msg.ack()
            return
        if leaf == "catchup":
            self._request(device, msg.payload)
            msg.ack()
            return
        self.ingest.put(Inbound(leaf, device, msg))

    def _request(self, device: str, payload: bytes) -> None:
        try:
            request = parse_catchup_message(payload)
            if request.device != device:
                raise ProtocolError(f"catchup.device {request.device!r} on {device}'s topic")
        except ProtocolError as exc:
            self._drop(device, "catchup", str(exc))
            return
        if isinstance(request, TimeRequest):
            if self.quotas.take(device, "time_answers"):
                self._answer_time(device, request)
            else:
                # Unanswered: the agent asks again within a minute while untrusted.
                try:
                    self._over_quota(device, "time_answers", 1)
                except Exception:
                    log.exception("recording a time-answer quota alarm failed")
            return
        # Several requests from one device while it waits collapse into its latest.
        self.catchups.request(device, request.after_seq)

    def _answer_time(self, device: str, request: TimeRequest) -> None:
        """Central's clock, signed, with the device's nonce: answered at once (here on paho's
        thread) so the time it carries is as fresh as the round trip allows."""
        answer = TimeAnswer(self.site, device, request.nonce, self.clock())
        link = self._link
        if link is not None:
            link.publish(topics.device_auth(self.site, device), sign(self.key, answer.dump()))

    def _drop(self, device: str, leaf: str, why: str) -> None:
        with self._dropped_lock:
            self._dropped += 1
        log.warning("dropped a %s message from %s: %s", leaf, device, why)

    def _over_quota(self, device: str, what: str, n: int) -> None:
        log.debug("%s is over its %s quota: %d refused", device, what, n)
        refused = self.quotas.refused(device, what, n)
        if refused is not None:
            log.warning("%s is over its %s quota (%s); %d refused", device, what,
                        self.quotas.describe(what), refused)
            self.store.raise_alarm(device, "quota_exceeded", what=what, refused=refused,
                                   **self.quotas.describe(what))
