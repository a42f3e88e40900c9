"""The one MQTT connection adapter (paho-mqtt 2, MQTT v5), used by the agent on the Pi and by
the hub in the desk service: credentials, TLS, last will, reconnects with exponential
backoff, subscriptions restored on every connect, QoS 1 publishes with their PUBACKs
tracked, and incoming messages acknowledged by hand (paho ``manual_ack``).

The site broker replaces the client id with the username (``use_username_as_clientid``,
sync/broker/config.py), so no other client can connect under this one's id, and a second
connection with the same credentials displaces the first.

Two kinds of session (``LinkSettings.session_expiry_s``):

- **clean** (the agent): a new session on every connect. The broker's queue and paho's
  in-memory session are not storage: what a device missed while away comes back through
  the protocol (a catch-up request on every connect, unacknowledged journal batches sent
  again). While the link is down ``publish`` hands nothing to paho.
- **persistent** (the hub): the broker keeps the session (and queues the devices' messages)
  for ``session_expiry_s`` across disconnects and restarts. A publish while the link is down
  is queued by paho and sent after the reconnect.

Either way an incoming message is acknowledged to the broker only when its receiver calls
``Received.ack``: the agent once it has handled it (with the CONNECT's Receive Maximum,
that holds a broker back that keeps to it), the hub once the message is stored — so a
message the process had not stored when it died is delivered again.

paho's network thread runs the callbacks; they only hand messages over, and a callback's
bug is logged, never allowed to end the network loop."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from sync.mqtt.deliveries import Deliveries, Delivery

log = logging.getLogger(__name__)

KEEPALIVE_S = 30


@dataclass(frozen=True)
class TlsFiles:
    """The CA to check the broker by, and this client's own certificate if it has one."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None


@dataclass(frozen=True)
class LinkSettings:
    """How to reach the broker and what session to keep there."""

    host: str
    port: int
    client_id: str
    username: str | None
    password: str | None
    subscriptions: tuple[str, ...]
    tls: TlsFiles | None = None
    will: tuple[str, str] | None = None  # (topic, payload): retained, QoS 1
    reconnect_delay: tuple[int, int] = (1, 30)  # seconds: first retry, longest backoff
    session_expiry_s: int | None = None  # None: a clean session on every connect
    receive_maximum: int | None = None  # unacknowledged messages the broker may send us
    max_inflight: int | None = None  # our publishes awaiting PUBACK (paho's default: 20)


@dataclass(frozen=True)
class Received:
    """One incoming message; ``ack`` tells the broker it is handled (call it exactly once,
    from any thread)."""

    topic: str
    payload: bytes
    retained: bool
    ack: Callable[[], None]


class MqttLink:
    """One paho client; ``publish`` and ``Received.ack`` may be called from any thread."""

    def __init__(self, settings: LinkSettings, *, on_message: Callable[[Received], None],
                 on_up: Callable[[], None] = lambda: None,
                 on_down: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._online = threading.Event()  # connected (CONNACK)
        self._ready = threading.Event()  # connected and subscribed (SUBACK)
        self._subscribe_mid: int | None = None
        # The filters of each SUBSCRIBE awaiting its SUBACK (the connect's and ``follow``'s),
        # so a refusal names its filter.
        self._subscribing: dict[int, list[str]] = {}
        # Filters subscribed (True) or given up (False) at run time (``follow``), restored
        # on every connect: a persistent session may still hold one given up.
        self._followed: dict[str, bool] = {}
        self._follow_lock = threading.Lock()
        self._deliveries = Deliveries()
        self.generation = 0  # connections made: a message id is only valid in its own
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        client.username_pw_set(settings.username, settings.password)
        if settings.tls is not None:
            tls = settings.tls
            client.tls_set(ca_certs=str(tls.ca_file),
                           certfile=str(tls.cert_file) if tls.cert_file else None,
                           keyfile=str(tls.key_file) if tls.key_file else None)
        if settings.will is not None:
            client.will_set(settings.will[0], settings.will[1], qos=1, retain=True)
        first, longest = settings.reconnect_delay
        client.reconnect_delay_set(first, max(first, longest))
        if settings.max_inflight is not None:
            client.max_inflight_messages_set(settings.max_inflight)
        client.suppress_exceptions = True  # a callback's bug must not end the network loop
        client.on_connect = self._handle_connect
        client.on_subscribe = self._handle_subscribe
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        self.client = client

    @property
    def where(self) -> str:
        """The broker's address, for log lines."""
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._ready.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected and subscribed; False on timeout."""
        return self._ready.wait(timeout)

    def start(self) -> None:
        """Connect in the background; paho's thread keeps reconnecting until ``close``."""
        settings = self.settings
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if settings.receive_maximum is not None:
            props.ReceiveMaximum = settings.receive_maximum
        if settings.session_expiry_s is not None:
            props.SessionExpiryInterval = settings.session_expiry_s
        self.client.connect_async(settings.host, settings.port, keepalive=KEEPALIVE_S,
                                  clean_start=settings.session_expiry_s is None,
                                  properties=props)
        self.client.loop_start()

    def follow(self, filters: Sequence[str], *, subscribed: bool) -> None:
        """Subscribe to ``filters`` (QoS 1), or unsubscribe from them, now if connected and
        again on every connect until told otherwise. Messages already queued for this
        session still arrive after an unsubscribe."""
        with self._follow_lock:
            for topic_filter in filters:
                self._followed[topic_filter] = subscribed
        # Read after the change: a connect that read the old state had set this first, so
        # one of the two sends the new state.
        if not self._online.is_set() or not filters:
            return
        if subscribed:
            result, _mid = self._subscribe(list(filters))
        else:
            result, _mid = self.client.unsubscribe(list(filters))
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            # The next connect sends it (a failure here is the link going down).
            log.warning("%s %s failed: %s", "subscribing to" if subscribed else
                        "unsubscribing from", ", ".join(filters), mqtt.error_string(result))

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False,
                on_done: Callable[[], None] | None = None) -> Delivery | None:
        """Publish at QoS 1; its Delivery (set when the PUBACK arrives, then ``on_done``
        called), or None when nothing was handed to paho (the link is down on a clean
        session, or paho refused)."""
        if self.settings.session_expiry_s is None and not self._ready.is_set():
            return None
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
                # A persistent session keeps it: paho sends it after reconnecting.
                info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
                and self.settings.session_expiry_s is not None):
            return self._deliveries.track(info.mid, on_done)
        log.warning("publish to %s failed: %s", topic, mqtt.error_string(info.rc))
        return None

    def close(self, last_words: tuple[str, str] | None = None, timeout: float = 1.0) -> None:
        """Publish ``last_words`` (topic, payload: retained) if connected and wait up to
        ``timeout`` for its PUBACK, then disconnect and stop the network thread."""
        if last_words is not None and self._ready.is_set():
            delivery = self.publish(last_words[0], last_words[1], retain=True)
            if delivery is None or not delivery.done.wait(timeout):
                log.warning("could not publish the final status to %s", last_words[0])
        self._ready.clear()
        self.client.disconnect()
        self.client.loop_stop()
        self._online.clear()

    # paho callbacks (its network thread)

    def _handle_connect(self, client: mqtt.Client, _userdata: Any, flags: mqtt.ConnectFlags,
                        reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.where, reason)
            return
        self.generation += 1
        self._online.set()
        log.info("connected to %s (session present: %s)", self.where, flags.session_present)
        with self._follow_lock:
            followed = dict(self._followed)
        wanted = [*self.settings.subscriptions, *(f for f, on in followed.items()
                                                  if on and f not in self.settings.subscriptions)]
        given_up = [f for f, on in followed.items() if not on]
        self._subscribing.clear()  # the last connection's SUBACKs never come
        if given_up:
            client.unsubscribe(given_up)
        if not wanted:
            self._ready.set()
            self._on_up()
            return
        result, mid = self._subscribe(wanted)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error("subscribe failed: %s", mqtt.error_string(result))
        self._subscribe_mid = mid

    def _subscribe(self, filters: list[str]) -> tuple[MQTTErrorCode, int | None]:
        """SUBSCRIBE to ``filters`` at QoS 1, noting them for their SUBACK."""
        result, mid = self.client.subscribe([(f, SubscribeOptions(qos=1)) for f in filters])
        if mid is not None:
            self._subscribing[mid] = filters
        return result, mid

    def _handle_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int,
                          reasons: list[ReasonCode], _props: Properties | None) -> None:
        for topic, reason in zip(self._subscribing.pop(mid, []), reasons, strict=False):
            if reason.is_failure:
                log.error("subscription to %s refused: %s", topic, reason)
        if mid != self._subscribe_mid:
            return
        # The broker handles a connection's packets in order, so a request sent from here is
        # answered only once the answer's topic is subscribed.
        self._ready.set()
        self._on_up()

    def _handle_disconnect(self, _client: mqtt.Client, _userdata: Any,
                           _flags: mqtt.DisconnectFlags, reason: ReasonCode,
                           _props: Properties | None) -> None:
        was_ready = self._ready.is_set()
        self._online.clear()
        self._ready.clear()
        if was_ready:
            log.warning("disconnected from %s (%s); reconnecting", self.where, reason)
            self._on_down()

    def _handle_message(self, _client: mqtt.Client, _userdata: Any,
                        message: mqtt.MQTTMessage) -> None:
        ack = functools.partial(self._ack, self.generation, message.mid, message.qos)
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = "(not UTF-8)"
        try:
            self._on_message(Received(topic, bytes(message.payload), bool(message.retain),
                                      ack))
        except Exception:
            log.exception("a message on %s could not be handed over; dropped", topic)
            ack()

    def _ack(self, generation: int, mid: int, qos: int) -> None:
        # After a reconnect the old message ids mean nothing (a clean session dropped those
        # messages; a persistent one delivers them again under new ids); acknowledging one
        # could acknowledge an unrelated new message.
        if qos > 0 and generation == self.generation and self._online.is_set():
            self.client.ack(mid, qos)

    def _handle_publish(self, _client: mqtt.Client, _userdata: Any, mid: int,
                        reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            # MQTT v5 says so when the ACL refuses a publish (v3.1.1 would stay silent).
            log.error("broker refused publish %d: %s", mid, reason)
        try:
            self._deliveries.resolve(mid, reason)
        except Exception:
            log.exception("on_publish failed")

