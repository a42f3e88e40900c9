"""The edge's sync agent (``menwei-sync run``): keeps ``auth.db`` in step with the central
authorisation log, keeps the site's rules from the desk in ``site-rules.json``
(``site_rules_reception``), ships the gate's journal upstream, relays remote commands to the
gate and publishes the device's status. The gate never waits on it. On a booth (``device.role =
"booth"``) it also keeps the booth's list from the desk (``booth_list_reception``), ships the
booth's records the same way (they are journal events of ``events.db``), and refuses
commands, since a booth has no gate of its own.

Threads:

- paho's network thread (``MqttLink``) runs the MQTT callbacks, which only hand messages
  over: commands to the command relay, everything else to the worker's inbox. The inbox
  holds at most ``INBOX_BYTES`` of messages; past that the network thread waits for the
  worker, so the broker's backlog (a snapshot, a burst of changes) stays in the broker and
  in TCP's window instead of in this process (see ``InboxBudget``).
- the worker (``sync-worker``) owns ``auth.db`` (and the snapshot staged in it) and the journal
  uplink: it applies authorisation messages, handles acks, polls the journal for new events
  every ``poll_interval`` (at once after an ack), and publishes status. One thread, so none
  of that state needs a lock.
- the command relay (``sync-commands``) verifies and delivers commands on its own, so a
  snapshot being applied on the worker never delays a door.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from booth.list_file import FILE_NAME as BOOTH_LIST_FILE
from edge.auth_store import AuthStore
from edge.clock_trust import AgentClockTrust
from edge.journal import Journal
from edge.ports import Clock, ClockSync, SystemClock
from edge.site_rules import FILE_NAME as SITE_RULES_FILE
from edge.storage_check import describe, is_damage, is_storage_error
from firmware_config.controller_tables import Role
from firmware_config.schema import EdgeConfig, SyncConfig
from sync.agent.auth_apply import AuthApplier, Outcome
from sync.agent.booth_list_reception import BoothListReception
from sync.agent.central_clock import CentralClock
from sync.agent.command_relay import CommandRelay, NonceStore
from sync.agent.files import AgentFiles
from sync.agent.inbox import Down, InboxBudget, Item, Message, Stop, Up
from sync.agent.journal import AgentJournal
from sync.agent.journal_uplink import DEFAULT_ACK_TIMEOUT_S, JournalUplink
from sync.agent.lot_exchange import LotExchange
from sync.agent.site_rules_reception import SiteRulesReception
from sync.agent.snapshot_staging import SnapshotStaging, open_staging_connection
from sync.agent.sync_db import open_sync_db
from sync.mqtt.link import LinkSettings, MqttLink, Received, TlsFiles
from sync.wire import topics
from sync.wire.auth_messages import CatchupRequest
from sync.wire.device_messages import DeviceStatus, EventAck
from sync.wire.payload import MAX_MESSAGE_BYTES, ProtocolError
from sync.wire.signing import parse_public_key

log = logging.getLogger(__name__)

POLL_S = 0.1  # how soon a new journal event is noticed when nothing else wakes the worker
CATCHUP_RETRY_S = 5.0  # while behind: one catch-up request per applied_seq per this long
SNAPSHOT_QUIET_S = 30.0  # no gap catch-ups while a snapshot is arriving: it brings them
STATUS_MIN_GAP_S = 1.0  # a draining backlog changes constantly; report it at most this often
HOUSEKEEPING_S = 60.0
# Bytes of received messages waiting for (or being handled by) the worker before paho's
# network thread is made to wait. A few snapshot chunks (~400 kB each for 2000 cards): enough
# that the worker never starves on a fast link, small next to the Pi's 1 GB.
INBOX_BYTES = 8 * 1024 * 1024
# The worker is hung if it has not gone round its loop for this long. Generous: applying a
# snapshot of a million cards on a Pi's SD card can take a minute, and a watchdog that
# killed that apply would only see it restarted (it resumes) and killed again.
HEALTHY_WITHIN_S = 300.0
RECONNECT_MIN_S = 1
RECEIVE_MAXIMUM = 16  # unacknowledged messages the broker may have on their way to us


class EdgeAgent:
    """The sync agent of one gate; ``start`` and ``stop`` it, or ``run`` it as a process."""

    def __init__(self, config: EdgeConfig, *, clock: Clock | None = None,
                 ack_timeout: float = DEFAULT_ACK_TIMEOUT_S, poll_interval: float = POLL_S,
                 client_id: str | None = None, clock_sync: ClockSync | None = None) -> None:
        if config.sync is None:
            raise ValueError(f"{config.source}: no [sync] table")
        self.config = config
        self.sync: SyncConfig = config.sync
        self.site = config.site.id
        self.device = config.device.id
        self.clock = clock or SystemClock()
        if clock_sync is None:
            from edge.kernel_clock import clock_sync_for  # noqa: PLC0415 - ctypes, Linux

            clock_sync = clock_sync_for(config.clock.trust_ntp)
        self.clock_sync = clock_sync
        self.public_key = parse_public_key(self.sync.central_public_key)
        self.ack_timeout = ack_timeout
        self.poll_interval = poll_interval
        self.client_id = client_id or f"menwei-sync-{self.device}"
        # Unbounded as a queue (control items must never wait); _budget bounds the messages.
        self._inbox: queue.Queue[Item] = queue.Queue()
        self._budget = InboxBudget(INBOX_BYTES)
        self._worker: threading.Thread | None = None
        self._running = False
        self._last_tick = time.monotonic()
        self._last_catchup: tuple[int, float] | None = None  # (after_seq, monotonic)
        self._snapshot_arriving_at = float("-inf")
        self._last_status: tuple[int, int, bool] | None = None
        self._last_status_at = float("-inf")
        self._next_housekeeping = 0.0
        self.files = AgentFiles(config)
        self.needs_restart = False  # a held file must be replaced: ``run`` restarts the agent
        self.started = False
        self.auth_topics = (topics.auth_changes(self.site),
                            topics.device_auth(self.site, self.device))
        self.ack_topic = topics.ack(self.site, self.device)
        self.command_topic = topics.command(self.site, self.device)
        self.status_topic = topics.status(self.site, self.device)
        self.rules_topic = topics.site_rules(self.site)
        # A booth (device.role = "booth") also receives its list from the desk, and has no
        # gate of its own behind a control socket: commands for it are refused.
        self.is_booth = config.device.role is Role.BOOTH
        self.booth_list_topic = (topics.booth_list(self.site, self.device) if self.is_booth
                                 else None)

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Hold the files, open the stores, start the worker and the command relay, connect
        in background. A storage fault raises with nothing left open (``run`` retries)."""
        self.files.acquire()
        try:
            self._open_stores()
        except BaseException:
            self._close_stores()
            self.files.release()
            raise
        for moved in self.files.take_moved():
            self._journal_safely("storage_damaged", moved.as_event())
        config = self.config
        self.link = MqttLink(self._link_settings(), on_message=self._on_message,
                             on_up=lambda: self._inbox.put(Up()),
                             on_down=lambda: self._inbox.put(Down()))
        self._running = self.started = True
        self.relay.start()
        self._worker = threading.Thread(target=self._run, name="sync-worker", daemon=True)
        self._worker.start()
        self.link.start()
        log.info("sync agent of %s: whitelist at %d", config.device.id,
                 self.applier.applied_seq)

    def _journal_safely(self, kind: str, data: dict[str, object]) -> None:
        try:
            self.journal.event(kind, data, alarm=True)
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            log.error("could not journal %s %s: %s", kind, data, describe(exc))

    def _open_stores(self) -> None:
        config = self.config
        self.store = AuthStore(config.auth_db)
        self.trust = AgentClockTrust(config.clock_state, self.clock, self.clock_sync,
                                skew=self.sync.clock_tolerance,
                                list_issued_at=self.store.list_issued_at)
        self._sync_conns = [open_staging_connection(config.auth_db),
                            open_sync_db(config.sync_db)]
        max_events = config.journal.max_events
        self.journal = AgentJournal(Journal(config.events_db, self.clock,
                                            max_events=max_events), self.trust)
        self.central_clock = CentralClock(site=self.site, device=self.device,
                                          trust=self.trust, journal=self.journal,
                                          publish=self._publish)
        self.applier = AuthApplier(
            self.store, SnapshotStaging(self._sync_conns[0], self.clock), self.journal,
            self.trust, site=self.site, public_key=self.public_key,
            tolerance=self.sync.clock_tolerance, central_clock=self.central_clock)
        self.uplink = JournalUplink(
            Journal(config.events_db, self.clock, max_events=max_events), self.device,
            topics.events(self.site, self.device), self._publish, self.sync.batch_size,
            ack_timeout=self.ack_timeout)
        self.relay = CommandRelay(
            site=self.site, device=self.device, public_key=self.public_key,
            journal=self.journal, trust=self.trust, nonces=NonceStore(self._sync_conns[1]),
            tolerance=self.sync.clock_tolerance,
            control_socket=None if self.is_booth else config.control_socket)
        # A barrier lane shares its car park's counts with the other lanes (issue 12).
        self.lot_exchange = (LotExchange(
            config.lane.lot_db, config.device.data_dir / SITE_RULES_FILE, site=self.site,
            device=self.device, clock=self.clock,
            publish=lambda t, p: self.link.publish(t, p, retain=True) is not None)
            if config.lane is not None else None)
        self.booth_lists = (BoothListReception(
            config.device.data_dir / BOOTH_LIST_FILE, self.public_key, self.journal,
            site=self.site, booth=self.device) if self.is_booth else None)
        self.site_rules = SiteRulesReception(config.device.data_dir / SITE_RULES_FILE,
                                             self.public_key, self.journal, site=self.site)

    def _close_stores(self) -> None:
        """Close every connection opened so far (also after a start that failed midway)."""
        for name in ("store", "journal", "lot_exchange"):
            if getattr(self, name, None) is not None:
                getattr(self, name).close()
        if hasattr(self, "uplink"):
            self.uplink.journal.close()
        for conn in getattr(self, "_sync_conns", []):
            conn.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Publish an offline status, disconnect and close everything (within ~timeout)."""
        if not self._running:
            return
        self._running = False
        deadline = time.monotonic() + timeout
        self._budget.close()
        if self._worker is not None:
            self._inbox.put(Stop())
            # A snapshot apply in progress finishes (or the process exits around it: the
            # transaction makes either outcome safe).
            self._worker.join(max(0.1, deadline - time.monotonic() - 0.5))
        self.relay.stop(0.5)
        busy = self._worker is not None and self._worker.is_alive()
        # The stores belong to the worker; while it is still busy, say only "offline".
        goodbye = (DeviceStatus(self.device, online=False, at=self.clock.wall()) if busy
                   else self._status(online=False))
        self.link.close((self.status_topic, goodbye.dump()),
                        timeout=max(0.1, deadline - time.monotonic()))
        if busy:
            log.warning("the worker is still busy; leaving its files to the process exit")
            return
        self._worker = None
        self._close_stores()
        # Only now, with no connection left: the gate may move a file once we let go.
        self.files.release()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Block until the link is connected and subscribed."""
        return self.link.wait_connected(timeout)

    def healthy(self) -> bool:
        """The worker went round its loop recently (for the systemd watchdog)."""
        return time.monotonic() - self._last_tick < HEALTHY_WITHIN_S

    # ------------------------------------------------------------ paho thread

    def _link_settings(self) -> LinkSettings:
        """A clean session on every connect (see sync/mqtt/link.py), the retained last will
        "offline", and a Receive Maximum so that a broker keeping to it holds back what the
        worker has not handled yet (the inbox budget bounds the rest)."""
        sync = self.sync
        tls = None if sync.tls_ca_file is None else TlsFiles(sync.tls_ca_file,
                                                             sync.tls_cert_file,
                                                             sync.tls_key_file)
        subscriptions: tuple[str, ...] = (*self.auth_topics, self.ack_topic, self.command_topic,
                                          self.rules_topic)
        if self.booth_list_topic is not None:
            subscriptions += (self.booth_list_topic,)
        if self.config.lane is not None:
            subscriptions += (topics.lot_wildcard(self.site),)
        return LinkSettings(
            sync.broker_host, sync.broker_port, self.client_id, sync.username,
            _password(sync), subscriptions, tls,
            will=(self.status_topic, DeviceStatus(self.device, online=False).dump()),
            reconnect_delay=(RECONNECT_MIN_S, max(RECONNECT_MIN_S, round(sync.reconnect_max))),
            receive_maximum=RECEIVE_MAXIMUM)

    def _on_message(self, msg: Received) -> None:
        topic, payload = msg.topic, msg.payload
        if len(payload) > MAX_MESSAGE_BYTES:
            log.warning("dropped a message of %d bytes on %s", len(payload), topic)
            msg.ack()
        elif topic == self.command_topic:
            # Commands are few and small; the relay's own queue is their buffer.
            self.relay.submit(payload)
            msg.ack()
        elif self._budget.take(len(payload)):
            self._inbox.put(Message(topic, payload, msg.ack))
        # else: stopping. Left unacknowledged; the clean session drops it and the catch-up
        # at the next connect brings whatever it carried.

    def _publish(self, topic: str, payload: str) -> bool:
        return self.link.publish(topic, payload) is not None

    # ------------------------------------------------------------ worker thread

    def _run(self) -> None:
        try:
            if self.applier.resume() is Outcome.SNAPSHOT_APPLIED:
                self._request_catchup(force=True)
        except Exception:
            # Not fatal: the staging stays, and the next start (or snapshot) tries again.
            log.exception("could not resume the staged snapshot")
        while True:
            try:
                item = self._inbox.get(timeout=self.poll_interval)
            except queue.Empty:
                item = None
            if isinstance(item, Stop):
                return
            try:
                if item is not None:
                    self._dispatch(item)
                self._tick()
            except Exception as exc:
                # One bad message or a transient database error must not end the agent.
                log.exception("sync worker: error handling %r", type(item).__name__)
                if is_damage(exc) and self.files.find_damage(exc):
                    self.needs_restart = True
            self._last_tick = time.monotonic()
            if self.needs_restart:
                # ``run`` restarts the agent: every connection closed, the damaged file
                # moved aside, a new one opened, and (new auth.db) a catch-up from 0.
                return

    def _dispatch(self, item: Item) -> None:
        if isinstance(item, Up):
            self.uplink.on_connected()
            self._request_catchup(force=True)
            self.central_clock.ask()
            self._publish_status(force=True)
            if self.lot_exchange is not None:
                self.lot_exchange.on_connected()
        elif isinstance(item, Down):
            self.uplink.on_disconnected()
        elif isinstance(item, Message):
            try:
                self._message(item.topic, item.payload)
            finally:
                item.ack()
                self._budget.give_back(len(item.payload))

    def _message(self, topic: str, payload: bytes) -> None:
        if topic in self.auth_topics:
            outcome = self.applier.handle(payload)
            if outcome is Outcome.STAGED:
                self._snapshot_arriving_at = time.monotonic()
            elif outcome is Outcome.SNAPSHOT_APPLIED:
                self._snapshot_arriving_at = float("-inf")
                # Entries issued while the snapshot travelled were gaps then; fetch them now.
                self._request_catchup(force=True)
        elif topic == self.ack_topic:
            try:
                ack = EventAck.parse(payload)
            except ProtocolError as exc:
                log.warning("dropped a malformed ack: %s", exc)
                return
            if ack.device != self.device:
                log.warning("dropped an ack for device %r", ack.device)
                return
            self.uplink.on_ack(ack.journal_id, ack.upto_seq)
        elif topic == self.rules_topic:
            self.site_rules.handle(payload)
        elif topic == self.booth_list_topic and self.booth_lists is not None:
            self.booth_lists.handle(payload)
        elif self.lot_exchange is not None and LotExchange.wants(topic):
            self.lot_exchange.handle(topic, payload)
        else:
            log.warning("message on unexpected topic %s dropped", topic)

    def _tick(self) -> None:
        if self.files.replacement_requested():
            log.warning("a file this agent holds is to be replaced: restarting")
            self.needs_restart = True
            return
        self.uplink.pump()
        if self.applier.catchup_wanted:
            self.applier.catchup_wanted = False
            self._request_catchup(force=True)
        if (self.applier.behind
                and time.monotonic() - self._snapshot_arriving_at > SNAPSHOT_QUIET_S):
            # A gap, or a catch-up answer that did not cover everything seen since.
            self._request_catchup()
        if self.link.connected:
            self.central_clock.ask_if_due()
        self._publish_status()
        if self.lot_exchange is not None:
            self.lot_exchange.tick()
        now = time.monotonic()
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + HOUSEKEEPING_S
            self.applier.housekeeping()

    def _request_catchup(self, *, force: bool = False) -> None:
        """Ask central for every entry after applied_seq.

        Gap requests are rate-limited per applied_seq (a burst of broadcasts while behind
        asks once, then again every CATCHUP_RETRY_S until caught up). Forced ones (connect,
        snapshot applied) always go and do not count, so a gap right after them still asks.
        """
        after = self.applier.applied_seq
        now = time.monotonic()
        if (not force and self._last_catchup is not None and self._last_catchup[0] == after
                and now - self._last_catchup[1] < CATCHUP_RETRY_S):
            return
        if self._publish(topics.catchup(self.site, self.device),
                         CatchupRequest(self.device, after).dump()):
            self._last_catchup = None if force else (after, now)
            log.info("asked for a catch-up after %d", after)

    def _status(self, *, online: bool) -> DeviceStatus:
        return DeviceStatus(self.device, online, self.applier.applied_seq,
                            self.uplink.backlog(), self.trust.trusted(), self.clock.wall())

    def _publish_status(self, *, force: bool = False) -> None:
        """Retained status at connect, on change and every ``status_interval``."""
        if not self.link.connected:
            return
        status = self._status(online=True)
        assert status.applied_seq is not None and status.backlog is not None
        key = (status.applied_seq, status.backlog, bool(status.clock_trusted))
        now = time.monotonic()
        since = now - self._last_status_at
        last = self._last_status
        due = (force or since >= self.sync.status_interval or last is None
               or key[0] != last[0] or key[2] != last[2]
               or (key[1] != last[1] and since >= STATUS_MIN_GAP_S))
        if due and self.link.publish(self.status_topic, status.dump(), retain=True) is not None:
            self._last_status, self._last_status_at = key, now


def _password(sync: SyncConfig) -> str | None:
    if sync.password_file is None:
        return None
    # One line; the trailing newline an editor adds is not part of the password.
    return sync.password_file.read_text(encoding="utf-8").strip("\r\n")
