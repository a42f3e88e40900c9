"""The site broker's TLS listener with certificates from firmware_config/mosquitto/
make-site-ca.sh: clients that trust the site CA (and, since this listener requires one, show
a client certificate) get in; a client that trusts another CA, reaches the broker under a
name its certificate does not carry, or shows no certificate, does not."""

from __future__ import annotations

import getpass
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.desk_sync import DeskSyncConfigError, load_desk_sync_config
from hardware_sim.local_ports import free_tcp_port
from sync.broker.config import BrokerLayout, write_broker
from sync.hub.bridge import CentralSync
from sync.wire import topics
from sync.wire.signing import generate_key, load_private_key
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import SITE, Broker, MakeSiteCa, Probe
from tests.sync.test_broker_message_size import wait_until

PASSWORDS = {CENTRAL_USER: "central-pw", "dev-a": "pw-dev-a"}


@pytest.fixture
def site_ca(tmp_path: Path, make_site_ca: MakeSiteCa) -> Path:
    # The server certificate names only 127.0.0.1; the central service gets a client
    # certificate like any device, since this listener requires one.
    return make_site_ca(tmp_path / "ca", "127.0.0.1", "dev-a", CENTRAL_USER)


@pytest.fixture
def tls_broker(tmp_path: Path, site_ca: Path) -> Iterator[Broker]:
    layout = BrokerLayout(
        site=SITE, conf_dir=tmp_path / "broker", data_dir=tmp_path / "broker" / "data",
        port=free_tcp_port(), run_as=getpass.getuser() if os.geteuid() == 0 else None,
        tls_port=free_tcp_port(), tls_ca=site_ca / "ca.crt", tls_cert=site_ca / "server.crt",
        tls_key=site_ca / "server.key", tls_require_certificate=True)
    write_broker(layout, PASSWORDS)
    broker = Broker(layout, dict(PASSWORDS))
    broker.start()  # waits for the plain listener; both open before Mosquitto accepts
    yield broker
    broker.stop()


def _client(broker: Broker, username: str, ca: Path, *, cert_of: str | None,
            password: str | None = None, host: str = "127.0.0.1") -> Probe:
    assert broker.layout.tls_port is not None
    cert_dir = ca / "devices"
    return Probe(broker.layout.tls_port, username, password or PASSWORDS[username],
                 client_id=f"tls-{username}", host=host, ca=ca / "ca.crt",
                 cert=cert_dir / f"{cert_of}.crt" if cert_of else None,
                 key=cert_dir / f"{cert_of}.key" if cert_of else None)


def test_publish_and_subscribe_over_tls(tls_broker: Broker, site_ca: Path) -> None:
    device = _client(tls_broker, "dev-a", site_ca, cert_of="dev-a")
    central = _client(tls_broker, CENTRAL_USER, site_ca, cert_of=CENTRAL_USER)
    try:
        for probe in (device, central):
            rc = probe.connect()
            assert rc is not None and not rc.is_failure, rc
            sock = probe.client.socket()
            assert isinstance(sock, ssl.SSLSocket) and sock.version() in ("TLSv1.2", "TLSv1.3")
        assert not device.subscribe(topics.command(SITE, "dev-a")).is_failure
        assert not central.subscribe(topics.device_wildcard(SITE, "events")).is_failure

        assert not central.publish(topics.command(SITE, "dev-a"), b"open").is_failure
        assert not device.publish(topics.events(SITE, "dev-a"), b"batch 1").is_failure

        assert device.wait_for(topics.command(SITE, "dev-a"), b"open")
        assert central.wait_for(topics.events(SITE, "dev-a"), b"batch 1")
        # The ACL applies on the TLS listener as on the plain one.
        forged = device.publish(topics.events(SITE, "dev-b"), b"forged")
        assert forged.is_failure
    finally:
        device.close()
        central.close()


def test_a_client_trusting_another_ca_refuses_the_broker(
        tls_broker: Broker, tmp_path: Path, make_site_ca: MakeSiteCa) -> None:
    other = make_site_ca(tmp_path / "other-ca", "127.0.0.1", "dev-a")
    probe = _client(tls_broker, "dev-a", other, cert_of="dev-a")
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            probe.connect()
        assert probe.connack is None
    finally:
        probe.close()


def test_a_name_the_certificate_does_not_carry_is_refused(tls_broker: Broker,
                                                           site_ca: Path) -> None:
    # 'localhost' reaches the same listener, but the certificate names only 127.0.0.1: this is
    # what happens to a device whose broker_host is not in make-site-ca.sh's name list.
    probe = _client(tls_broker, "dev-a", site_ca, cert_of="dev-a", host="localhost")
    try:
        with pytest.raises(ssl.SSLCertVerificationError, match="localhost"):
            probe.connect()
    finally:
        probe.close()


def test_a_client_without_a_certificate_is_refused(tls_broker: Broker, site_ca: Path) -> None:
    probe = _client(tls_broker, "dev-a", site_ca, cert_of=None)
    try:
        try:
            rc = probe.connect()
        except (ssl.SSLError, ConnectionError):
            rc = None  # TLS 1.2 fails the handshake itself
        # TLS 1.3 completes the handshake before the server reads the (missing) certificate,
        # then closes the connection: no CONNACK either way.
        assert rc is None or rc.is_failure, rc
        assert not probe.client.is_connected()
    finally:
        probe.close()


def test_a_certificate_does_not_replace_the_password(tls_broker: Broker,
                                                     site_ca: Path) -> None:
    probe = _client(tls_broker, "dev-a", site_ca, cert_of="dev-a", password="wrong")
    try:
        rc = probe.connect()
        assert rc is not None and rc.is_failure, rc
    finally:
        probe.close()


def test_the_desk_links_to_its_gates_over_tls(tls_broker: Broker, site_ca: Path,
                                               tmp_path: Path) -> None:
    """The desk's gate link, set up from its config file as an installer writes it, reaches
    the broker over the TLS listener with the site CA and its own certificate (the desk's
    password must never cross the site LAN in clear; before, ``tls_ca_file`` was read and
    ignored, and the link could only use the plain port)."""
    assert tls_broker.layout.tls_port is not None
    generate_key(tmp_path / "central.key")
    (tmp_path / "central.password").write_text(PASSWORDS[CENTRAL_USER] + "\n")
    certs = site_ca / "devices"
    config_file = tmp_path / "desk-sync.toml"
    config_file.write_text(
        f'broker_host = "127.0.0.1"\nbroker_port = {tls_broker.layout.tls_port}\n'
        'password_file = "central.password"\nsigning_key = "central.key"\n'
        f'data_dir = "sync"\nsites = ["{SITE}"]\ntls_ca_file = "{site_ca / "ca.crt"}"\n'
        f'tls_cert_file = "{certs / (CENTRAL_USER + ".crt")}"\n'
        f'tls_key_file = "{certs / (CENTRAL_USER + ".key")}"\n', "utf-8")
    config = load_desk_sync_config(config_file)
    central = CentralSync(config.data_dir / "central.db", SITE,
                          load_private_key(config.signing_key), config.broker_host,
                          config.broker_port, config.username, password=config.password,
                          reconnect_delay=(1, 1), tls=config.tls())
    central.start()
    try:
        wait_until(lambda: central.connected, timeout=20)
    finally:
        central.close()


def test_a_desk_certificate_without_the_site_ca_is_refused(tmp_path: Path) -> None:
    (tmp_path / "central.password").write_text("pw\n")
    (tmp_path / "central.key").write_text("not read here\n")
    config_file = tmp_path / "desk-sync.toml"
    config_file.write_text('password_file = "central.password"\nsigning_key = "central.key"\n'
                           'data_dir = "sync"\nsites = ["s"]\ntls_cert_file = "desk.crt"\n',
                           "utf-8")
    with pytest.raises(DeskSyncConfigError) as refused:
        load_desk_sync_config(config_file)
    assert "tls_cert_file and tls_key_file: give both or neither" in str(refused.value)
    assert "tls_cert_file: needs tls_ca_file" in str(refused.value)
