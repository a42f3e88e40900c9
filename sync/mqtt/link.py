"""The agent's MQTT connection (paho-mqtt 2, MQTT v5): credentials, TLS, last will,
subscriptions, reconnects with exponential backoff up to ``reconnect_max``.

The site broker replaces the client id with the username (``use_username_as_clientid``,
sync/broker/config.py), so no other client can connect under this device's id, and a second
connection with this device's credentials displaces the first.

Sessions start clean on every connect on purpose: the broker's queue and paho's in-memory
session are not storage. What a device missed while away comes back through the protocol
(a catch-up request on every connect, unacknowledged journal batches sent again), so nothing
depends on what a broker restart or a session expiry may have thrown away.

paho's network thread runs the callbacks; they only hand messages over. The one wait is
the agent's flow control below: while its inbox is full, the hand-over waits for room.

Flow control: messages are acknowledged by hand (paho ``manual_ack``) once the agent has
handled them, and the CONNECT asks for a Receive Maximum of ``RECEIVE_MAXIMUM``, so that a
broker that keeps to it holds back the rest of a large snapshot while the worker is busy.
Not every broker does (Mosquitto 2.0.11 sends past it once it has queued messages for the
client), so the agent does not rely on it: its inbox has a byte budget of its own
(``edge_agent._InboxBudget``), and a full inbox stops this thread reading the socket, which
holds the broker back through TCP."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from firmware_config.schema import SyncConfig

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
RECONNECT_MIN_S = 1
RECEIVE_MAXIMUM = 16  # unacknowledged messages the broker may have on their way to us

Ack = Callable[[], None]


class MqttLink:
    """One paho client; ``publish`` may be called from any thread."""

    def __init__(self, sync: SyncConfig, *, client_id: str, subscriptions: Sequence[str],
                 will: tuple[str, str], on_message: Callable[[str, bytes, Ack], None],
                 on_up: Callable[[], None], on_down: Callable[[], None]) -> None:
        self.sync = sync
        self.subscriptions = list(subscriptions)
        self._on_message = on_message
        self._on_up = on_up
        self._on_down = on_down
        self._connected = threading.Event()
        self._subscribe_mid: int | None = None
        self._generation = 0  # counts connections: a message id is only valid in its own
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        client.username_pw_set(sync.username, _password(sync))
        if sync.tls_ca_file is not None:
            client.tls_set(ca_certs=str(sync.tls_ca_file),
                           certfile=str(sync.tls_cert_file) if sync.tls_cert_file else None,
                           keyfile=str(sync.tls_key_file) if sync.tls_key_file else None)
        will_topic, will_payload = will
        client.will_set(will_topic, will_payload, qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, max(RECONNECT_MIN_S,
                                                        round(sync.reconnect_max)))
        client.on_connect = self._handle_connect
        client.on_subscribe = self._handle_subscribe
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        self.client = client

    @property
    def connected(self) -> bool:
        """Connected and subscribed."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected and subscribed; False on timeout."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Connect in the background; paho's thread keeps reconnecting until ``close``."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(self.sync.broker_host, self.sync.broker_port,
                                  keepalive=KEEPALIVE_S, clean_start=True, properties=props)
        self.client.loop_start()

    def publish(self, topic: str, payload: str, *, retain: bool = False) -> bool:
        """Publish at QoS 1; False (nothing sent) while the link is down."""
        if not self._connected.is_set():
            return False
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self, last_words: tuple[str, str] | None = None, timeout: float = 1.0) -> None:
        """Publish ``last_words`` (retained) if connected, then disconnect and stop."""
        if last_words is not None and self._connected.is_set():
            info = self.client.publish(last_words[0], last_words[1], qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish the final status: %s", exc)
        self._connected.clear()
        self.client.disconnect()
        self.client.loop_stop()

    # paho callbacks (its network thread)

    def _handle_connect(self, client: mqtt.Client, _userdata: Any, _flags: mqtt.ConnectFlags,
                        reason: ReasonCode, _props: Properties | None) -> None:
        if reason.is_failure:
            log.error("broker %s:%d refused the connection: %s", self.sync.broker_host,
                      self.sync.broker_port, reason)
            return
        self._generation += 1
        log.info("connected to %s:%d", self.sync.broker_host, self.sync.broker_port)
        result, mid = client.subscribe([(t, SubscribeOptions(qos=1))
                                        for t in self.subscriptions])
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.error("subscribe failed: %s", mqtt.error_string(result))
        self._subscribe_mid = mid

    def _handle_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int,
                          reasons: list[ReasonCode], _props: Properties | None) -> None:
        if mid != self._subscribe_mid:
            return
        for topic, reason in zip(self.subscriptions, reasons, strict=False):
            if reason.is_failure:
                log.error("subscription to %s refused: %s", topic, reason)
        # The broker handles a connection's packets in order, so a catch-up request sent
        # from here is answered only once the answer's topic is subscribed.
        self._connected.set()
        self._on_up()

    def _handle_disconnect(self, _client: mqtt.Client, _userdata: Any,
                           _flags: mqtt.DisconnectFlags, reason: ReasonCode,
                           _props: Properties | None) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            log.warning("disconnected from the broker: %s", reason)
            self._on_down()

    def _handle_message(self, _client: mqtt.Client, _userdata: Any,
                        message: mqtt.MQTTMessage) -> None:
        ack = functools.partial(self._ack, self._generation, message.mid, message.qos)
        self._on_message(message.topic, bytes(message.payload), ack)

    def _ack(self, generation: int, mid: int, qos: int) -> None:
        # After a reconnect the old message ids mean nothing (the clean session dropped
        # those messages); acknowledging one could acknowledge an unrelated new message.
        if qos > 0 and generation == self._generation and self._connected.is_set():
            self.client.ack(mid, qos)

    def _handle_publish(self, _client: mqtt.Client, _userdata: Any, mid: int,
                        reason: ReasonCode, _props: Properties) -> None:
        if reason.is_failure:
            # MQTT v5 says so when the ACL refuses a publish (v3.1.1 would stay silent).
            log.error("broker refused publish %d: %s", mid, reason)


def _password(sync: SyncConfig) -> str | None:
    if sync.password_file is None:
        return None
    # One line; the trailing newline an editor adds is not part of the password.
    return sync.password_file.read_text(encoding="utf-8").strip("\r\n")
