"""A real Mosquitto on loopback, configured exactly as a site broker is (sync.broker.config)."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hardware_sim.local_ports import free_tcp_port
from hardware_sim.local_postgres import LocalPostgres
from hardware_sim.site_broker import LocalBroker
from sync.broker.config import BrokerLayout, write_broker
from sync.wire.topics import CENTRAL_USER

SITE = "test-site"


class Broker(LocalBroker):
    """The site broker of a test; ``restart`` and ``stop`` keep its persistence directory."""

    def add_device(self, device: str) -> str:
        """Give ``device`` a broker account (password ``pw-<device>``); returns it."""
        password = f"pw-{device}"
        self.add_user(device, password)
        return password


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """A fresh central signing key: what a test's central signs with and its gates pin."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A site broker with the central user and two devices, dev-a and dev-b."""
    if shutil.which("mosquitto") is None:
        pytest.fail("mosquitto is not installed: run the README's test command, which "
                    "installs it")
    layout = BrokerLayout(site=SITE, conf_dir=tmp_path / "broker", data_dir=tmp_path / "broker"
                          / "data", port=free_tcp_port(),
                          run_as=getpass.getuser() if os.geteuid() == 0 else None)
    users = {CENTRAL_USER: "central-pw", "dev-a": "pw-dev-a", "dev-b": "pw-dev-b"}
    write_broker(layout, users)
    b = Broker(layout, dict(users))
    b.start()
    yield b
    b.stop()


# --- MQTT v5 test clients (appended for the ACL, provisioning and TLS tests) ----------------
# Imported here rather than at the top so that this section is a pure addition to the file.

import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.reasoncodes import ReasonCode  # noqa: E402


@dataclass(frozen=True)
class Received:
    """A message a Probe received."""

    topic: str
    payload: bytes
    retain: bool


class Probe:
    """One MQTT v5 client for tests. ``publish`` and ``subscribe`` wait for the broker's
    acknowledgement and return its reason code: with v5, Mosquitto answers a publish the ACL
    denies with PUBACK 0x87 'Not authorized' (v3.1.1 would acknowledge it as a success)."""

    def __init__(self, port: int, username: str | None, password: str | None, *,
                 client_id: str, host: str = "127.0.0.1", ca: Path | None = None,
                 cert: Path | None = None, key: Path | None = None) -> None:
        self.host, self.port = host, port
        # No automatic reconnection: a test sees a refusal or a disconnection as it happened
        # (and the network thread ends at once instead of sleeping before a retry).
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca), certfile=str(cert) if cert else None,
                                keyfile=str(key) if key else None)
        self._cond = threading.Condition()
        self.connack: ReasonCode | None = None
        self.closed = False
        self.acks: dict[int, ReasonCode] = {}  # mid -> PUBACK / SUBACK reason code
        self.received: list[Received] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: ReasonCode,
                    _p: Properties | None) -> None:
        with self._cond:
            self.connack = rc
            self._cond.notify_all()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, _rc: ReasonCode,
                       _p: Properties | None) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: ReasonCode,
                    _p: Properties) -> None:
        with self._cond:
            self.acks[mid] = rc
            self._cond.notify_all()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, mid: int, rcs: list[ReasonCode],
                      _p: Properties | None) -> None:
        with self._cond:
            self.acks[mid] = rcs[0]
            self._cond.notify_all()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    def _wait(self, done: Callable[[], bool], timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(done, timeout)

    def connect(self) -> ReasonCode | None:
        """The CONNACK reason code, or None when the broker closed the connection without
        one (a TLS client certificate refused). TLS verification errors raise here."""
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None or self.closed)
        return self.connack

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1; the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self._wait(lambda: info.mid in self.acks), f"no PUBACK for {topic}"
        return self.acks[info.mid]

    def subscribe(self, topic: str) -> ReasonCode:
        """Subscribe at QoS 1; the SUBACK reason code."""
        _rc, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        assert self._wait(lambda: mid in self.acks), f"no SUBACK for {topic}"
        return self.acks[mid]

    def on(self, topic: str) -> list[bytes]:
        """Payloads received on ``topic`` so far, in order."""
        with self._cond:
            return [m.payload for m in self.received if m.topic == topic]

    def wait_for(self, topic: str, payload: bytes, timeout: float = 5.0) -> bool:
        """Whether ``payload`` arrives on ``topic`` within ``timeout``."""
        return self._wait(lambda: payload in [m.payload for m in self.received
                                              if m.topic == topic], timeout)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


ConnectProbe = Callable[..., Probe]


@pytest.fixture
def mqtt_clients() -> Iterator[ConnectProbe]:
    """A factory of connected Probes, ``connect(port, username, password, **kw)`` (kw as for
    Probe); asserts the broker accepted the connection, and closes every client at the end."""
    made: list[Probe] = []

    def connect(port: int, username: str | None, password: str | None, **kw: object) -> Probe:
        kw.setdefault("client_id", f"probe-{username}-{len(made)}")
        probe = Probe(port, username, password, **kw)  # type: ignore[arg-type]
        made.append(probe)
        rc = probe.connect()
        assert rc is not None and not rc.is_failure, f"{username} refused: {rc}"
        return probe

    yield connect
    for probe in made:
        probe.close()


# --- the site CA script (appended for the TLS and provisioning tests) -----------------------

MAKE_SITE_CA = Path(__file__).resolve().parents[2] / "firmware_config" / "mosquitto" / \
    "make-site-ca.sh"
MakeSiteCa = Callable[..., Path]


@pytest.fixture
def make_site_ca() -> MakeSiteCa:
    """Runs firmware_config/mosquitto/make-site-ca.sh: ``make_site_ca(folder, "127.0.0.1",
    *device_ids)`` returns ``folder`` holding ca.crt, server.crt/.key, devices/<id>.crt/.key."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (Debian package 'openssl')")

    def run(folder: Path, names: str, *devices: str) -> Path:
        result = subprocess.run(["sh", str(MAKE_SITE_CA), str(folder), names, *devices],
                                capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return folder

    return run


@pytest.fixture
def url(postgres: LocalPostgres) -> Iterator[str]:
    """A database of its own on the run's PostgreSQL cluster (a module may mean another
    database by ``url``: test_site_lease's is the cluster's maintenance one)."""
    name = f"hub_{uuid.uuid4().hex[:12]}"
    yield postgres.create_database(name)
    postgres.drop_database(name)
