"""What ``menwei-sync broker-config``, ``provision`` and ``revoke`` do (their command line is
sync/broker/commands.py): a site broker's files, and each device's broker credentials and
``[sync]`` table.

The broker folder (``--dir`` / ``--broker-dir``) holds everything the site broker reads —
``mosquitto.conf``, ``acl``, ``passwd``, the TLS files — plus ``central.password`` and
``site.json``, which records how ``broker-config`` was run so that ``provision`` writes
fragments that match the broker. Installer's guide: firmware_config/mosquitto/README.md."""

from __future__ import annotations

import ipaddress
import json
import os
import pwd
import secrets
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from sync.broker.config import (
    BRIDGE_USER_PREFIX,
    DEFAULT_MAX_CONNECTIONS,
    BrokerLayout,
    CentralBridge,
    add_user,
    check_id,
    read_bridge_password,
    remove_user,
    share_with_broker,
    write_acl,
    write_broker,
)
from sync.wire import signing
from sync.wire.topics import CENTRAL_USER

SITE_FILE = "site.json"
CENTRAL_PASSWORD_FILE = "central.password"
# TLS files inside the broker folder: copied there so the broker never needs the CA's folder
# (whose ca.key must stay on the provisioning machine) and can read them as 'mosquitto'.
CA_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE = "ca.crt", "server.crt", "server.key"
# The bridge's files, copied in for the same reason; the password stays readable by root only
# (broker-config writes it into mosquitto.conf, which the broker's group reads).
BRIDGE_PASSWORD_FILE, BRIDGE_CA_FILE = "bridge.password", "bridge-ca.crt"
BRIDGE_CERT_FILE, BRIDGE_KEY_FILE = "bridge-client.crt", "bridge-client.key"
RELOAD_HINT = "the running broker reads this on reload: systemctl reload mosquitto"


class ProvisionError(Exception):
    """A request that cannot be carried out; the message tells the installer what to do."""


def _check_id(kind: str, value: str) -> str:
    try:
        return check_id(kind, value)
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None


def _need_mosquitto_passwd() -> None:
    if shutil.which("mosquitto_passwd") is None:
        raise ProvisionError("mosquitto_passwd not found: install the Debian package "
                             "'mosquitto' (it hashes the broker passwords)")


@dataclass(frozen=True)
class SiteBroker:
    """A broker folder: its layout and the devices shut out of it."""

    layout: BrokerLayout
    revoked: tuple[str, ...] = ()


# --- the broker folder ---------------------------------------------------------------------


def save_site(broker: SiteBroker) -> None:
    """Record ``broker`` in its folder's ``site.json``."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return str(value) if isinstance(value, Path) else value

    fields = {k: plain(v) for k, v in asdict(broker.layout).items() if k != "conf_dir"}
    path = broker.layout.conf_dir / SITE_FILE
    path.write_text(json.dumps({**fields, "revoked": list(broker.revoked)}, indent=2) + "\n")
    path.chmod(0o644)


def load_site(directory: Path) -> SiteBroker:
    """The broker folder written by ``broker-config``; ProvisionError if there is none."""
    path = directory / SITE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProvisionError(f"{directory} is not a broker folder (no {SITE_FILE}): run "
                             "`menwei-sync broker-config` first") from None
    revoked = tuple(data.pop("revoked", ()))
    paths = {"data_dir", "tls_ca", "tls_cert", "tls_key", "password_file"}

    def typed(table: dict[str, Any]) -> dict[str, Any]:
        return {k: (Path(v) if k in paths and v is not None else v) for k, v in table.items()}

    bridge = data.pop("bridge", None)
    fields = typed(data)
    if bridge is not None:
        fields["bridge"] = CentralBridge(**typed(bridge))
    return SiteBroker(BrokerLayout(conf_dir=directory, **fields), revoked)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte on."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # an existing file keeps its old mode through O_CREAT
        f.write(text)


def _copy(source: Path, target: Path, mode: int) -> None:
    if source.resolve() != target.resolve():
        shutil.copyfile(source, target)
    target.chmod(mode)


def _give_data_dir_to(data_dir: Path, user: str) -> None:
    """Mosquitto writes its persistence file as the user it drops to; a folder created here by
    root would refuse it."""
    if os.geteuid() != 0:
        return
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)


def configure_broker(site: str, directory: Path, *, port: int = 1883,
                     bind: str = "127.0.0.1", data_dir: Path = Path("/var/lib/mosquitto"),
                     run_as: str | None = None, tls_port: int | None = None,
                     tls_ca: Path | None = None, tls_cert: Path | None = None,
                     tls_key: Path | None = None, tls_bind: str = "0.0.0.0",
                     require_client_cert: bool = False,
                     max_connections: int | None = None,
                     bridge: CentralBridge | None = None,
                     drop_bridge: bool = False) -> SiteBroker:
    """Write a site broker's folder; return it. The central user gets a new password in
    ``central.password`` unless that file exists, whose password is then (re)installed.
    ``max_connections`` (per listener) keeps its earlier value when not given; so does the
    ``bridge`` to the central broker, unless ``drop_bridge``."""
    _check_id("site id", site)
    _need_mosquitto_passwd()
    directory = directory.resolve()
    previous: SiteBroker | None = None
    if (directory / SITE_FILE).exists():
        previous = load_site(directory)
        if previous.layout.site != site:
            raise ProvisionError(f"{directory} is the broker folder of site "
                                 f"{previous.layout.site!r}, not {site!r}")
    for name, number in (("--port", port), ("--tls-port", tls_port)):
        if number is not None and not 0 < number < 65536:
            raise ProvisionError(f"{name} {number} is not a TCP port")
    if tls_port == port:
        raise ProvisionError("--port and --tls-port must differ")
    if max_connections is None:
        max_connections = previous.layout.max_connections if previous else \
            DEFAULT_MAX_CONNECTIONS
    if max_connections < 2:
        raise ProvisionError(f"--max-connections {max_connections}: the central service and "
                             "each device need one (devices x 2 + 16)")
    tls_sources = (tls_ca, tls_cert, tls_key)
    if tls_port is None and any(tls_sources):
        raise ProvisionError("--ca, --cert and --key need --tls-port")
    if tls_port is not None and not all(tls_sources):
        raise ProvisionError("--tls-port needs --ca, --cert and --key (from make-site-ca.sh)")
    for source in tls_sources:
        if source is not None and not source.is_file():
            raise ProvisionError(f"{source}: no such file")
    if not directory.exists():
        directory.mkdir(parents=True)
        directory.chmod(0o755)  # the broker, as 'mosquitto', must reach the files inside
    layout = BrokerLayout(site=site, conf_dir=directory, data_dir=data_dir.resolve(),
                          port=port, bind=bind, run_as=run_as, max_connections=max_connections)
    if tls_port is not None:
        assert tls_ca is not None and tls_cert is not None and tls_key is not None
        _copy(tls_ca, directory / CA_FILE, 0o644)
        _copy(tls_cert, directory / SERVER_CERT_FILE, 0o644)
        _copy(tls_key, directory / SERVER_KEY_FILE, 0o640)
        share_with_broker(directory / SERVER_KEY_FILE)
        layout = replace(layout, tls_port=tls_port, tls_bind=tls_bind,
                         tls_ca=directory / CA_FILE, tls_cert=directory / SERVER_CERT_FILE,
                         tls_key=directory / SERVER_KEY_FILE,
                         tls_require_certificate=require_client_cert)
    if bridge is not None:
        layout = replace(layout, bridge=_install_bridge(bridge, directory))
    elif previous is not None and previous.layout.bridge is not None and not drop_bridge:
        layout = replace(layout, bridge=previous.layout.bridge)
    elif drop_bridge:
        (directory / BRIDGE_PASSWORD_FILE).unlink(missing_ok=True)
    created_data_dir = not layout.data_dir.exists()
    broker = SiteBroker(layout, previous.revoked if previous else ())
    central_file = directory / CENTRAL_PASSWORD_FILE
    if central_file.exists():
        central_password = central_file.read_text().strip("\r\n")
    else:
        central_password = secrets.token_urlsafe(32)
        _write_private(central_file, central_password + "\n")
    write_broker(layout, {CENTRAL_USER: central_password}, broker.revoked)
    if created_data_dir:
        _give_data_dir_to(layout.data_dir, run_as or "mosquitto")
    save_site(broker)
    return broker


def _install_bridge(bridge: CentralBridge, directory: Path) -> CentralBridge:
    """Check ``bridge`` and copy its password and TLS files into the broker folder; the
    bridge as the folder holds it."""
    problems = bridge.problems()
    for source in (bridge.tls_ca, bridge.tls_cert, bridge.tls_key):
        if source is not None and not source.is_file():
            problems.append(f"{source}: no such file")
    if problems:
        raise ProvisionError("; ".join(problems))
    try:
        password = read_bridge_password(bridge.password_file)
    except ValueError as exc:
        raise ProvisionError(str(exc)) from None
    password_copy = directory / BRIDGE_PASSWORD_FILE
    _write_private(password_copy, password + "\n")
    installed = replace(bridge, password_file=password_copy)
    if bridge.tls_ca is not None:
        _copy(bridge.tls_ca, directory / BRIDGE_CA_FILE, 0o644)
        installed = replace(installed, tls_ca=directory / BRIDGE_CA_FILE)
    if bridge.tls_cert is not None and bridge.tls_key is not None:
        _copy(bridge.tls_cert, directory / BRIDGE_CERT_FILE, 0o644)
        _copy(bridge.tls_key, directory / BRIDGE_KEY_FILE, 0o640)
        share_with_broker(directory / BRIDGE_KEY_FILE)
        installed = replace(installed, tls_cert=directory / BRIDGE_CERT_FILE,
                            tls_key=directory / BRIDGE_KEY_FILE)
    return installed


# --- devices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provisioned:
    """What ``provision`` wrote: the ``[sync]`` fragment and the files it names."""

    fragment: str
    files: tuple[Path, ...]  # next to the fragment, to copy next to the device's config


def _public_key_text(value: str) -> str:
    """The pinned key from its base64 text or from a file holding it (``keygen``'s .pub)."""
    path = Path(value)
    text = path.read_text().strip() if path.is_file() else value.strip()
    try:
        signing.parse_public_key(text)
    except ValueError as exc:
        raise ProvisionError(f"--public-key: {exc}; give the text `menwei-sync keygen` "
                             "printed, or its .pub file") from None
    return text


def _names_in(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def _host_matches(host: str, names: list[str]) -> bool:
    """What the device's TLS check will decide: an IP must be listed as that IP, a name as
    that name or under a '*.' wildcard for its first label."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    host = host.lower()
    parent = host.split(".", 1)[1] if "." in host else None
    for name in (n.lower() for n in names):
        if address is not None:
            try:
                if ipaddress.ip_address(name) == address:
                    return True
            except ValueError:
                continue
        elif name == host or (name.startswith("*.") and name[2:] == parent):
            return True
    return False


def _check_client_cert(cert_path: Path, key_path: Path, ca_path: Path, device: str) -> None:
    for path in (cert_path, key_path):
        if not path.is_file():
            raise ProvisionError(f"{path}: no such file")
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    common_names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if common_names != [device]:
        raise ProvisionError(f"{cert_path} is the certificate of {common_names}, not of "
                             f"{device!r}")
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise ProvisionError(f"{cert_path} is not signed by the broker's CA "
                             f"({ca_path})") from None


def provision_device(directory: Path, site: str, device: str, public_key: str, *,
                     broker_host: str | None = None, out: Path | None = None,
                     tls_cert: Path | None = None, tls_key: Path | None = None,
                     warn: Callable[[str], None] | None = None) -> Provisioned:
    """Give ``device`` a new broker password (replacing any earlier one), bring the ACL up to
    date, and write the device's files into ``out``'s folder (the current folder without
    ``out``): ``<device>.password`` and, with TLS, the CA and client certificate."""
    _check_id("site id", site)
    _check_id("device id", device)
    if device == CENTRAL_USER:
        raise ProvisionError(f"{CENTRAL_USER!r} is the central service's broker user, not a "
                             "device id")
    _need_mosquitto_passwd()
    broker = load_site(directory.resolve())
    bridge = broker.layout.bridge
    if device.startswith(BRIDGE_USER_PREFIX) or (bridge and device == bridge.username):
        # The ACL gives the bridge's user the whole site (config.render_site_bridge_acl).
        raise ProvisionError(f"{device!r} is a name kept for the bridge to the central "
                             f"broker: no device id may start with {BRIDGE_USER_PREFIX!r}")
    layout = broker.layout
    if layout.site != site:
        raise ProvisionError(f"{directory} is the broker folder of site {layout.site!r}, not "
                             f"{site!r}")
    key_text = _public_key_text(public_key)
    host = broker_host or socket.getfqdn()
    say = warn or (lambda message: print(message, file=sys.stderr))
    if (tls_cert is None) != (tls_key is None):
        raise ProvisionError("--tls-cert and --tls-key go together")

    sync: dict[str, Any] = {"broker_host": host, "broker_port": layout.port,
                            "username": device}
    folder = (out.parent if out is not None else Path.cwd()).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    if layout.tls_port is not None and layout.tls_ca is not None:
        assert layout.tls_cert is not None
        names = _names_in(x509.load_pem_x509_certificate(layout.tls_cert.read_bytes()))
        if not _host_matches(host, names):
            raise ProvisionError(f"the broker's certificate is for {', '.join(names) or 'no name'}"
                                 f"; a device connecting to {host!r} would refuse it. Pass "
                                 "--broker-host with one of those names, or re-issue "
                                 "server.crt with make-site-ca.sh")
        if layout.tls_require_certificate and tls_cert is None:
            raise ProvisionError("this broker requires a client certificate: pass --tls-cert "
                                 f"and --tls-key (make-site-ca.sh DIR NAME {device})")
        sync["broker_port"] = layout.tls_port
        ca_copy = folder / f"{site}-ca.crt"
        _copy(layout.tls_ca, ca_copy, 0o644)
        files.append(ca_copy)
        sync["tls_ca_file"] = ca_copy.name
        if tls_cert is not None and tls_key is not None:
            _check_client_cert(tls_cert, tls_key, layout.tls_ca, device)
            cert_copy, key_copy = folder / f"{device}.crt", folder / f"{device}.key"
            _copy(tls_cert, cert_copy, 0o644)
            _write_private(key_copy, tls_key.read_text())
            files += [cert_copy, key_copy]
            sync["tls_cert_file"], sync["tls_key_file"] = cert_copy.name, key_copy.name
    elif tls_cert is not None:
        raise ProvisionError("this broker has no TLS listener (broker-config --tls-port)")
    elif _is_loopback(layout.bind) and not _is_loopback(host):
        say(f"warning: the broker listens on {layout.bind} only; {host} cannot reach it "
            "(broker-config --bind, or a TLS listener)")

    # A relative path is read from the device config's folder: the files go next to it.
    password = secrets.token_urlsafe(24)
    password_file = folder / f"{device}.password"
    _write_private(password_file, password + "\n")
    files.insert(0, password_file)
    sync["password_file"] = password_file.name
    sync["central_public_key"] = key_text
    add_user(layout.passwd, device, password)
    if device in broker.revoked:
        broker = replace(broker, revoked=tuple(d for d in broker.revoked if d != device))
        save_site(broker)
    write_acl(layout, broker.revoked)

    # The desk extra's: `menwei-sync` on a gate builds this command's parser, never runs it.
    import tomli_w  # noqa: PLC0415

    fragment = (f"# [sync] of device {device!r} at site {site!r}, written by "
                "`menwei-sync provision`.\n"
                "# Paste it into the device's config; copy the files it names next to that "
                "config\n# (install -m 0640 -g menwei FILE /etc/menwei/).\n"
                + tomli_w.dumps({"sync": sync}))
    if out is not None:
        out.write_text(fragment)
    return Provisioned(fragment, tuple(files))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def revoke_device(directory: Path, device: str) -> SiteBroker:
    """Delete ``device``'s broker user and deny it every topic of the site (which also hides
    its retained status from new subscribers)."""
    _check_id("device id", device)
    if device == CENTRAL_USER:
        raise ProvisionError(f"{CENTRAL_USER!r} is the central service, not a device")
    _need_mosquitto_passwd()
    broker = load_site(directory.resolve())
    remove_user(broker.layout.passwd, device)
    broker = replace(broker, revoked=tuple(sorted({*broker.revoked, device})))
    write_acl(broker.layout, broker.revoked)
    save_site(broker)
    return broker
