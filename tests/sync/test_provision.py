"""``menwei-sync keygen``, ``broker-config``, ``provision`` and ``revoke``, run as an installer
runs them, with the broker then started from exactly the files they wrote.

Longer than ~400 lines on purpose: the four commands are one installer's sequence, each case
starting from the files the previous steps wrote."""

from __future__ import annotations

import getpass
import os
import stat
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from firmware_config.schema import ConfigError, SyncConfig, iter_profiles, parse_config
from hardware_sim.local_ports import free_tcp_port
from sync.broker.config import render_acl
from sync.broker.provision import load_site
from sync.cli import main
from sync.wire import signing, topics
from sync.wire.topics import CENTRAL_USER
from tests.sync.conftest import Broker, ConnectProbe, MakeSiteCa, Probe

SITE = "garden-court"
DEVICE = "door-b1-lobby"
# Mosquitto started as root drops to 'mosquitto', which cannot read a root-only tmp_path.
RUN_AS = ["--user", getpass.getuser()] if os.geteuid() == 0 else []
NOT_AUTHORIZED = 0x87


def _run(capfd: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capfd.readouterr()
    return rc, out, err


@pytest.fixture
def public_key(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> str:
    rc, out, _ = _run(capfd, "keygen", "--out", str(tmp_path / "keys" / "central.key"))
    assert rc == 0
    return out.strip()


def _broker_config(capfd: pytest.CaptureFixture[str], folder: Path, *extra: str) -> Path:
    directory = folder / "broker"
    rc, _, err = _run(capfd, "broker-config", "--site", SITE, "--dir", str(directory),
                      "--port", str(free_tcp_port()), "--data-dir", str(folder / "data"),
                      *RUN_AS, *extra)
    assert rc == 0, err
    return directory


def _provision(capfd: pytest.CaptureFixture[str], broker_dir: Path, public_key: str,
               out: Path, *extra: str, device: str = DEVICE) -> str:
    rc, _, err = _run(capfd, "provision", "--site", SITE, "--device", device,
                      "--broker-dir", str(broker_dir), "--public-key", public_key,
                      "--broker-host", "127.0.0.1", "--out", str(out), *extra)
    assert rc == 0, err
    return out.read_text()


def _device_sync(fragment: str, folder: Path, device: str = DEVICE) -> SyncConfig:
    """The [sync] table as the device reads it: the fragment pasted into a real profile
    saved in ``folder`` (where provision put the files the fragment names)."""
    profile = next(p for p in iter_profiles() if p.name == "door.toml")
    data = tomllib.loads(profile.read_text())
    data["device"]["id"] = device
    data["site"]["id"] = SITE
    data.update(tomllib.loads(fragment))
    config = parse_config(data, folder / f"{device}.toml")
    assert config.sync is not None
    return config.sync


@pytest.fixture
def started() -> Iterator[list[Broker]]:
    brokers: list[Broker] = []
    yield brokers
    for broker in brokers:
        broker.stop()


def _start(broker_dir: Path, started: list[Broker]) -> Broker:
    broker = Broker(load_site(broker_dir).layout)
    broker.start()
    started.append(broker)
    return broker


def _connect_as_device(sync: SyncConfig, port: int | None = None,
                       client_id: str = "device") -> Probe:
    assert sync.password_file is not None
    password = sync.password_file.read_text().strip("\r\n")
    return Probe(port or sync.broker_port, sync.username, password, client_id=client_id,
                 host=sync.broker_host, ca=sync.tls_ca_file, cert=sync.tls_cert_file,
                 key=sync.tls_key_file)


def _after_reload(make: Callable[[], Probe], *, accepted: bool) -> Probe:
    """Connect with fresh clients from ``make`` until the broker, reloading after SIGHUP
    (it does so between two network events, not at once), answers as ``accepted``; return that
    client, connected or refused."""
    deadline = time.monotonic() + 5
    while True:
        probe = make()
        rc = probe.connect()
        if (rc is not None and not rc.is_failure) == accepted:
            return probe
        probe.close()
        assert time.monotonic() < deadline, f"still {rc} after the reload"
        time.sleep(0.02)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- keygen ------------------------------------------------------------------------------------


def test_keygen_prints_the_public_half_of_the_key_it_writes(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "central.key"
    rc, out, _ = _run(capfd, "keygen", "--out", str(key))
    assert rc == 0
    assert out.strip() == signing.public_key_text(signing.load_private_key(key))
    assert _mode(key) == 0o600
    assert (tmp_path / "central.key.pub").read_text().strip() == out.strip()


def test_keygen_never_replaces_a_key(tmp_path: Path,
                                     capfd: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "central.key"
    assert _run(capfd, "keygen", "--out", str(key))[0] == 0
    before = key.read_bytes()
    rc, out, err = _run(capfd, "keygen", "--out", str(key))
    assert rc == 2 and out == ""
    assert "refusing to replace" in err
    assert key.read_bytes() == before


# --- broker-config -------------------------------------------------------------------------


def test_broker_config_writes_the_site_broker(tmp_path: Path,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    directory = _broker_config(capfd, tmp_path)
    layout = load_site(directory).layout
    assert layout.acl.read_text() == render_acl(SITE)
    conf = layout.conf.read_text()
    assert f"listener {layout.port} 127.0.0.1\n" in conf
    assert "allow_anonymous false\n" in conf and f"acl_file {layout.acl}\n" in conf
    central = directory / "central.password"
    assert _mode(central) == 0o600
    assert layout.passwd.read_text().startswith(f"{CENTRAL_USER}:")

    # Run again: the central password stays, so the central service keeps working.
    password = central.read_text()
    _run(capfd, "broker-config", "--site", SITE, "--dir", str(directory),
         "--data-dir", str(tmp_path / "data"))
    assert central.read_text() == password


def test_broker_config_refuses_a_folder_of_another_site(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    directory = _broker_config(capfd, tmp_path)
    acl = (directory / "acl").read_text()
    rc, _, err = _run(capfd, "broker-config", "--site", "other-court", "--dir", str(directory))
    assert rc == 2
    assert "site 'garden-court', not 'other-court'" in err
    assert (directory / "acl").read_text() == acl


def test_broker_config_needs_all_tls_files(tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(capfd, "broker-config", "--site", SITE, "--dir", str(tmp_path / "b"),
                      "--tls-port", "8883", "--ca", str(tmp_path / "ca.crt"))
    assert rc == 2
    assert "--tls-port needs --ca, --cert and --key" in err
    assert not (tmp_path / "b").exists()


# --- provision -----------------------------------------------------------------------------

BAD_IDS = ["door/1", "door+", "door#", "door 1", "-door", ".door", "门1", ""]


@pytest.mark.parametrize("device", BAD_IDS)
def test_provision_refuses_an_invalid_device_id(tmp_path: Path, public_key: str, device: str,
                                                capfd: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _broker_config(capfd, tmp_path)
    passwd = (directory / "passwd").read_text()
    monkeypatch.chdir(tmp_path)
    # --device=ID: an id starting with '-' would otherwise be read as an option.
    rc, out, err = _run(capfd, "provision", "--site", SITE, f"--device={device}",
                        "--broker-dir", str(directory), "--public-key", public_key)
    assert rc == 2 and out == ""
    assert f"device id {device!r} may only hold letters, digits" in err
    assert (directory / "passwd").read_text() == passwd
    assert list(tmp_path.glob("*.password")) == []
    # The device config refuses the same ids: provision never makes a fragment for a device
    # whose config could not load.
    profile = next(p for p in iter_profiles() if p.name == "door.toml")
    data = tomllib.loads(profile.read_text())
    data["device"]["id"] = device
    with pytest.raises(ConfigError):
        parse_config(data, profile)


def test_provision_refuses_the_central_user_name(tmp_path: Path, public_key: str,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    directory = _broker_config(capfd, tmp_path)
    central = (directory / "passwd").read_text()
    rc, _, err = _run(capfd, "provision", "--site", SITE, "--device", CENTRAL_USER,
                      "--broker-dir", str(directory), "--public-key", public_key)
    assert rc == 2
    assert "central service's broker user" in err
    assert (directory / "passwd").read_text() == central


def test_provision_refuses_a_key_that_is_not_a_public_key(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    directory = _broker_config(capfd, tmp_path)
    rc, _, err = _run(capfd, "provision", "--site", SITE, "--device", DEVICE,
                      "--broker-dir", str(directory), "--public-key", "bm90IGEga2V5")
    assert rc == 2
    assert "not an Ed25519 public key" in err


def test_provision_prints_the_fragment_without_out(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _broker_config(capfd, tmp_path)
    monkeypatch.chdir(tmp_path)
    rc, out, _ = _run(capfd, "provision", "--site", SITE, "--device", DEVICE,
                      "--broker-dir", str(directory), "--public-key", public_key,
                      "--broker-host", "127.0.0.1")
    assert rc == 0
    assert tomllib.loads(out)["sync"]["username"] == DEVICE
    assert _mode(tmp_path / f"{DEVICE}.password") == 0o600


def test_fragment_merged_into_a_device_config_parses(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str]) -> None:
    directory = _broker_config(capfd, tmp_path)
    device_dir = tmp_path / "etc-menwei"
    fragment = _provision(capfd, directory, public_key, device_dir / "sync.toml")

    sync = _device_sync(fragment, device_dir)

    assert sync.username == DEVICE
    assert sync.broker_host == "127.0.0.1"
    assert sync.broker_port == load_site(directory).layout.port
    assert sync.central_public_key == public_key
    assert sync.password_file == device_dir / f"{DEVICE}.password"
    assert _mode(sync.password_file) == 0o600
    assert sync.tls_ca_file is None  # no CA in this broker folder: no tls_* lines
    # The public key may also be given as keygen's .pub file.
    again = _provision(capfd, directory, str(tmp_path / "keys" / "central.key.pub"),
                       device_dir / "sync.toml")
    assert _device_sync(again, device_dir).central_public_key == public_key


def test_provisioned_device_connects_and_is_confined(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        started: list[Broker], mqtt_clients: ConnectProbe) -> None:
    directory = _broker_config(capfd, tmp_path)
    broker = _start(directory, started)
    # Provisioned while the broker runs: it learns the new user on SIGHUP (systemctl reload).
    sync = _device_sync(_provision(capfd, directory, public_key, tmp_path / "d" / "s.toml"),
                        tmp_path / "d")
    assert broker.proc is not None
    broker.proc.send_signal(1)

    device = _after_reload(lambda: _connect_as_device(sync), accepted=True)
    try:
        central = mqtt_clients(broker.port, CENTRAL_USER,
                               (directory / "central.password").read_text().strip())
        assert not central.subscribe(topics.device_wildcard(SITE, "events")).is_failure
        assert not device.subscribe(topics.command(SITE, DEVICE)).is_failure

        assert not device.publish(topics.events(SITE, DEVICE), b"batch 1").is_failure
        assert central.wait_for(topics.events(SITE, DEVICE), b"batch 1")
        forged = device.publish(topics.events(SITE, "door-b2"), b"forged")
        assert forged.is_failure and forged.value == NOT_AUTHORIZED
        assert not central.publish(topics.command(SITE, DEVICE), b"open").is_failure
        assert device.wait_for(topics.command(SITE, DEVICE), b"open")
    finally:
        device.close()


def test_provisioning_again_replaces_the_password(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        started: list[Broker]) -> None:
    directory = _broker_config(capfd, tmp_path)
    out = tmp_path / "d" / "s.toml"
    first = _device_sync(_provision(capfd, directory, public_key, out), tmp_path / "d")
    assert first.password_file is not None
    old_password = first.password_file.read_text()
    broker = _start(directory, started)

    second = _device_sync(_provision(capfd, directory, public_key, out), tmp_path / "d")
    assert second.password_file is not None
    assert second.password_file.read_text() != old_password
    passwd = (directory / "passwd").read_text().splitlines()
    assert [line.split(":")[0] for line in passwd].count(DEVICE) == 1
    assert broker.proc is not None
    broker.proc.send_signal(1)

    stale = _after_reload(lambda: Probe(broker.port, DEVICE, old_password.strip(),
                                        client_id="stale"), accepted=False)
    stale.close()
    fresh = _connect_as_device(second)
    try:
        rc = fresh.connect()
        assert rc is not None and not rc.is_failure, rc
    finally:
        fresh.close()


def test_revoked_device_is_refused_until_provisioned_again(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        started: list[Broker]) -> None:
    directory = _broker_config(capfd, tmp_path)
    out = tmp_path / "d" / "s.toml"
    _provision(capfd, directory, public_key, out)
    rc, _, err = _run(capfd, "revoke", "--device", DEVICE, "--broker-dir", str(directory))
    assert rc == 0, err
    assert f"user {DEVICE}\ntopic deny menwei/{SITE}/#\n" in (directory / "acl").read_text()
    broker = _start(directory, started)
    sync = _device_sync(out.read_text(), out.parent)
    refused = _connect_as_device(sync, client_id="revoked")
    try:
        rc_connect = refused.connect()
        assert rc_connect is not None and rc_connect.is_failure, rc_connect
    finally:
        refused.close()

    sync = _device_sync(_provision(capfd, directory, public_key, out), out.parent)
    assert "topic deny" not in (directory / "acl").read_text()
    assert broker.proc is not None
    broker.proc.send_signal(1)
    back = _after_reload(lambda: _connect_as_device(sync, client_id="back"), accepted=True)
    try:
        assert not back.publish(topics.status(SITE, DEVICE), b"online").is_failure
    finally:
        back.close()


def test_provision_refuses_a_folder_of_another_site(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str]) -> None:
    directory = _broker_config(capfd, tmp_path)
    rc, _, err = _run(capfd, "provision", "--site", "other-court", "--device", DEVICE,
                      "--broker-dir", str(directory), "--public-key", public_key)
    assert rc == 2
    assert "broker folder of site 'garden-court', not 'other-court'" in err
    rc, _, err = _run(capfd, "provision", "--site", SITE, "--device", DEVICE,
                      "--broker-dir", str(tmp_path / "nowhere"), "--public-key", public_key)
    assert rc == 2
    assert "run `menwei-sync broker-config` first" in err


# --- with TLS ------------------------------------------------------------------------------


def _tls_broker(capfd: pytest.CaptureFixture[str], tmp_path: Path, ca: Path,
                *extra: str) -> Path:
    return _broker_config(capfd, tmp_path, "--tls-port", str(free_tcp_port()),
                          "--tls-bind", "127.0.0.1", "--ca", str(ca / "ca.crt"),
                          "--cert", str(ca / "server.crt"), "--key", str(ca / "server.key"),
                          *extra)


def test_tls_fragment_connects_over_tls_with_a_client_certificate(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        make_site_ca: MakeSiteCa, started: list[Broker]) -> None:
    ca = make_site_ca(tmp_path / "ca", "127.0.0.1", DEVICE)
    directory = _tls_broker(capfd, tmp_path, ca, "--require-client-cert")
    layout = load_site(directory).layout
    assert (directory / "ca.crt").read_bytes() == (ca / "ca.crt").read_bytes()
    assert layout.tls_port is not None

    out = tmp_path / "d" / "s.toml"
    fragment = _provision(capfd, directory, public_key, out,
                          "--tls-cert", str(ca / "devices" / f"{DEVICE}.crt"),
                          "--tls-key", str(ca / "devices" / f"{DEVICE}.key"))
    sync = _device_sync(fragment, out.parent)
    assert sync.broker_port == layout.tls_port
    assert sync.tls_ca_file == out.parent / f"{SITE}-ca.crt"
    assert sync.tls_cert_file == out.parent / f"{DEVICE}.crt"
    assert sync.tls_key_file == out.parent / f"{DEVICE}.key"
    assert _mode(sync.tls_key_file) == 0o600

    broker = _start(directory, started)
    device = _connect_as_device(sync)
    try:
        rc = device.connect()
        assert rc is not None and not rc.is_failure, rc
        assert device.client.socket().__class__.__name__ == "SSLSocket"
        forged = device.publish(topics.events(SITE, "door-b2"), b"forged")
        assert forged.is_failure and forged.value == NOT_AUTHORIZED
        assert not device.publish(topics.events(SITE, DEVICE), b"batch").is_failure
    finally:
        device.close()
    assert broker.proc is not None and broker.proc.poll() is None


def test_tls_broker_without_client_certificates_gets_a_ca_only_fragment(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        make_site_ca: MakeSiteCa) -> None:
    ca = make_site_ca(tmp_path / "ca", "127.0.0.1")
    directory = _tls_broker(capfd, tmp_path, ca)
    out = tmp_path / "d" / "s.toml"
    sync = _device_sync(_provision(capfd, directory, public_key, out), out.parent)
    assert sync.tls_ca_file is not None and sync.tls_ca_file.is_file()
    assert sync.tls_cert_file is None and sync.tls_key_file is None

    # Re-running broker-config without the TLS options turns TLS off: said, not silent.
    rc, _, err = _run(capfd, "broker-config", "--site", SITE, "--dir", str(directory),
                      "--data-dir", str(tmp_path / "data"))
    assert rc == 0
    assert "had a TLS listener" in err
    assert "cafile" not in (directory / "mosquitto.conf").read_text()


def test_tls_provision_refuses_what_the_device_would_refuse(
        tmp_path: Path, public_key: str, capfd: pytest.CaptureFixture[str],
        make_site_ca: MakeSiteCa) -> None:
    ca = make_site_ca(tmp_path / "ca", "127.0.0.1", DEVICE, "door-b2")
    directory = _tls_broker(capfd, tmp_path, ca, "--require-client-cert")
    common = ["provision", "--site", SITE, "--device", DEVICE, "--broker-dir", str(directory),
              "--public-key", public_key, "--out", str(tmp_path / "d" / "s.toml")]
    own = ["--tls-cert", str(ca / "devices" / f"{DEVICE}.crt"),
           "--tls-key", str(ca / "devices" / f"{DEVICE}.key")]

    # A host name the broker's certificate does not carry.
    rc, _, err = _run(capfd, *common, "--broker-host", "mqtt.example", *own)
    assert rc == 2 and "certificate is for 127.0.0.1" in err
    # No client certificate for a broker that requires one.
    rc, _, err = _run(capfd, *common, "--broker-host", "127.0.0.1")
    assert rc == 2 and "requires a client certificate" in err
    # Another device's certificate.
    rc, _, err = _run(capfd, *common, "--broker-host", "127.0.0.1",
                      "--tls-cert", str(ca / "devices" / "door-b2.crt"),
                      "--tls-key", str(ca / "devices" / "door-b2.key"))
    assert rc == 2 and "not of 'door-b1-lobby'" in err
    # A certificate from another CA.
    other = make_site_ca(tmp_path / "other-ca", "127.0.0.1", DEVICE)
    rc, _, err = _run(capfd, *common, "--broker-host", "127.0.0.1",
                      "--tls-cert", str(other / "devices" / f"{DEVICE}.crt"),
                      "--tls-key", str(other / "devices" / f"{DEVICE}.key"))
    assert rc == 2 and "not signed by the broker's CA" in err
    assert DEVICE not in (directory / "passwd").read_text()
    # And with everything right, it goes through.
    rc, _, err = _run(capfd, *common, "--broker-host", "127.0.0.1", *own)
    assert rc == 0, err
