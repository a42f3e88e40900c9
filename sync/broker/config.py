"""The site broker's configuration: mosquitto.conf, the ACL and the password file, rendered
from one description so tests run against exactly what a site runs.

Every setting is explained for installers in firmware_config/mosquitto/README.md."""

from __future__ import annotations

import grp
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sync.wire import topics
from sync.wire.payload import MAX_MESSAGE_BYTES
from sync.wire.topics import CENTRAL_USER

# What a packet holds besides its payload: fixed header, topic (under 100 bytes here) and
# properties. max_packet_size is the largest message plus this, and no more: Mosquitto
# allocates a packet's declared length before the client has authenticated, so this
# product with max_connections bounds what unauthenticated clients can pin.
PACKET_OVERHEAD_BYTES = 4096
# Connections each listener accepts. A site needs one per device (its sync agent) and one
# for the central service; twice that plus 16 leaves room for reconnections (a new
# connection counts until its CONNECT displaces the old one) and for tools: devices x 2 + 16
# (this default fits 56 devices). Worst case pinned by clients that never finish their
# CONNECT: (max_connections + 1) x max_packet_size = 129 x 260 KiB = 33 MiB (Mosquitto
# 2.0.11 lets one more in than the setting says).
DEFAULT_MAX_CONNECTIONS = 128
# The group Debian's mosquitto package runs the broker as (it drops from root to the user
# 'mosquitto'). The broker re-reads the password file and the ACL after that drop, on every
# SIGHUP, so they must be readable by this group.
BROKER_GROUP = "mosquitto"

# Site and device ids: the same rule as site.id and device.id in the device config
# (firmware_config/settings.py). They become MQTT topic levels, where '/', '+' and '#' have
# meanings, and a device id is its broker username, which Mosquitto substitutes for %u in the
# ACL; Mosquitto refuses every pattern to a username holding '/', '+' or '#', so such a device
# would be locked out rather than let in, but it is refused here with a clear message instead.
VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a valid site or device id; ValueError naming ``kind`` otherwise."""
    if not VALID_ID.match(value):
        raise ValueError(f"{kind} {value!r} may only hold letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit (it becomes part of MQTT topics, "
                         "the broker username and file names)")
    return value


# The site broker's bridge connects to the central broker as this user (and client id), one
# per site: the central ACL confines each to its own site's topics, and a Mosquitto central
# replaces client ids by user names on the sites' listener, so no site can take over another's
# session (and the messages queued in it).
BRIDGE_USER_PREFIX = "menwei-bridge-"
# The bridge's client id on the site broker. A ':' can never be in a device id (VALID_ID),
# and devices' client ids are their user names, so no device can collide with it.
BRIDGE_LOCAL_CLIENT = "menwei:bridge"
# How long a lost link waits before the bridge tries again: from 2 s, doubling (with jitter)
# up to 10 s, so a returning link carries messages again within seconds, while a long outage
# costs the central broker one refused connection per site every 10 s or so.
RESTART_BASE_S, RESTART_CAP_S = 2, 10
# A link that has gone silent (a cut cable rather than a closed connection) is noticed after
# 1.5 keepalives of nothing: 30 s.
KEEPALIVE_S = 20
# What the site broker queues per client while it is away, the bridge included (one global
# setting in Mosquitto). A quiet gate resends its unacknowledged events every 10 s
# (sync/agent/journal_uplink.py) and its status every status interval: about 8 messages a
# minute; with 56 devices, 30000 hold about an hour of outage. Beyond it Mosquitto drops new
# messages silently, which loses nothing: a gate keeps every event until central acknowledges
# it and resends, and asks for every change after its last one.
BRIDGED_MAX_QUEUED = 30000
# Unbridged, the queues only hold a device's messages while it restarts.
SITE_MAX_QUEUED = 10000


def bridge_user(site: str) -> str:
    """The central broker user (and client id) of ``site``'s bridge."""
    return f"{BRIDGE_USER_PREFIX}{site}"


@dataclass(frozen=True)
class CentralBridge:
    """A site broker's bridge to the central broker. Without ``tls_ca`` the link is plain
    MQTT: only for a link that is private already (a VPN) or a test on one machine."""

    host: str
    port: int
    username: str
    password_file: Path  # one line; read when the conf is written (Mosquitto wants it inline)
    tls_ca: Path | None = None
    tls_cert: Path | None = None  # a client certificate, for a central listener requiring one
    tls_key: Path | None = None

    def problems(self) -> list[str]:
        """What is wrong with these settings, in the installer's words (empty: none)."""
        found: list[str] = []
        if not self.host or any(c.isspace() for c in self.host) or ":" in self.host:
            found.append(f"--bridge-host {self.host!r}: give the central broker's name or "
                         "IPv4 address (the port goes in --bridge-port)")
        if not 0 < self.port < 65536:
            found.append(f"--bridge-port {self.port} is not a TCP port")
        if not self.username or any(c.isspace() or c in "+#/" for c in self.username):
            found.append(f"--bridge-username {self.username!r}: no spaces, '/', '+' or '#'")
        if (self.tls_cert is None) != (self.tls_key is None):
            found.append("--bridge-cert and --bridge-key go together")
        if self.tls_cert is not None and self.tls_ca is None:
            found.append("--bridge-cert needs --bridge-ca (the central broker's CA)")
        return found


def read_bridge_password(path: Path) -> str:
    """The bridge's password from its file; ValueError when it cannot go into mosquitto.conf
    (Mosquitto reads ``remote_password`` as the rest of the line, so no spaces or newlines)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--bridge-password-file {path}: {exc.strerror}") from None
    password = text.strip("\r\n")
    if not password or any(c.isspace() or c == "\0" for c in password):
        raise ValueError(f"--bridge-password-file {path}: the password must be one line "
                         "without spaces (e.g. openssl rand -base64 32)")
    return password


def render_bridge(site: str, bridge: CentralBridge, password: str) -> list[str]:
    """The bridge section of ``site``'s mosquitto.conf (it must come last: every line after
    ``connection`` belongs to the bridge)."""
    lines = [
        "# The bridge to the company's central broker (docs/company-brokers.md).",
        "connection menwei-central",
        f"address {bridge.host}:{bridge.port}",
        # 3.1.1 with the bridge flag: Mosquitto and EMQX then pass the retain flag through as
        # published and never echo the bridge's own messages back to it.
        "bridge_protocol_version mqttv311",
        "try_private true",
        f"remote_clientid {bridge.username}",
        f"remote_username {bridge.username}",
        f"remote_password {password}",
        f"local_clientid {BRIDGE_LOCAL_CLIENT}:{site}",
        # Persistent sessions at both ends: while the link is down the central broker queues
        # the desk's changes for the site, and this broker the site's events for the office.
        "cleansession false",
        "local_cleansession false",
        "start_type automatic",
        f"restart_timeout {RESTART_BASE_S} {RESTART_CAP_S}",
        f"keepalive_interval {KEEPALIVE_S}",
        # The link's state, retained under the site's own topics at both ends ("1" up, "0"
        # down, the latter as the bridge's last will on the central broker).
        "notifications true",
        f"notification_topic {topics.ROOT}/{site}/bridge/state",
        f"topic {topics.ROOT}/{site}/# both 1",
    ]
    if bridge.tls_ca is not None:
        lines += [f"bridge_cafile {bridge.tls_ca}", "bridge_tls_version tlsv1.2",
                  # The central broker's certificate must carry the name in ``address``.
                  "bridge_insecure false"]
        if bridge.tls_cert is not None and bridge.tls_key is not None:
            lines += [f"bridge_certfile {bridge.tls_cert}", f"bridge_keyfile {bridge.tls_key}"]
    return lines


def render_site_bridge_acl(site: str, bridge: CentralBridge) -> list[str]:
    """The site ACL's lines for what the bridge brings in. Mosquitto checks no ACL for a
    bridge, but ``check_retain_source`` checks the source of every retained message before
    serving it to a new subscriber, and a message from the bridge has the bridge's
    ``remote_username`` as its source (Mosquitto 2.0): without these lines the desk's
    retained site rules and booth lists would reach only devices connected when they came.
    The user is not in the password file, so nobody can log in as it here."""
    return ["", "# The bridge to the central broker: its retained messages (site rules, booth",
            "# lists) are served to devices that connect later.",
            f"user {bridge.username}", f"topic readwrite {topics.ROOT}/{site}/#"]


@dataclass(frozen=True)
class BrokerLayout:
    """Where a broker instance keeps its files, and how it listens."""

    site: str
    conf_dir: Path
    data_dir: Path
    port: int
    bind: str = "127.0.0.1"
    run_as: str | None = None  # Mosquitto started as root drops to this user
    tls_port: int | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_bind: str | None = None  # the TLS listener's address; None: the same as ``bind``
    # Refuse TLS clients without a certificate signed by ``tls_ca`` (the password is still
    # checked: a stolen password alone, or a stolen certificate alone, is not enough).
    tls_require_certificate: bool = False
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # per listener; see DEFAULT_MAX_CONNECTIONS
    bridge: CentralBridge | None = None  # to the company's central broker

    @property
    def conf(self) -> Path:
        """mosquitto.conf."""
        return self.conf_dir / "mosquitto.conf"

    @property
    def acl(self) -> Path:
        """The ACL file."""
        return self.conf_dir / "acl"

    @property
    def passwd(self) -> Path:
        """The password file (hashed by mosquitto_passwd)."""
        return self.conf_dir / "passwd"


def render_acl(site: str, revoked: Iterable[str] = (), *,
               bridge: CentralBridge | None = None) -> str:
    """The ACL: the central identity may use every topic of the site; each device (username =
    device id, ``%u``) reads the site's authorisation changes and site rules, its own
    replies, commands and (a booth) its retained booth list, and writes only its own events,
    status and catch-up requests; a lane also writes its own lot counters and reads the
    site's. With a ``bridge``, its user is the source of what it brings in
    (``render_site_bridge_acl``). A ``revoked`` device is denied everything, which also stops
    Mosquitto from serving its retained status to new subscribers (``check_retain_source``)."""
    dev = topics.device(site, "%u", "{leaf}")
    lines = [
        "# Menwei site broker ACL (generated by menwei-sync; do not edit by hand: the next",
        "# broker-config, provision or revoke rewrites it).",
        "# Mosquitto checks this file when a message is published (write) and when it is",
        "# delivered (read); a SUBSCRIBE itself is always granted.",
        "",
        f"user {CENTRAL_USER}",
        f"topic readwrite {topics.ROOT}/{site}/#",
    ]
    if bridge is not None:
        lines += render_site_bridge_acl(site, bridge)
    for device_id in sorted(set(revoked)):
        # A user's own lines are checked before the patterns, and a 'deny' line first of all.
        lines += ["", f"user {check_id('device id', device_id)}",
                  f"topic deny {topics.ROOT}/{site}/#"]
    lines += [
        "",
        "# Every other user is a device: its username is its device id. Mosquitto warns at",
        "# start that the first pattern has no %u or %c; it is meant for every device alike.",
        f"pattern read {topics.auth_changes(site)}",
        f"pattern read {topics.site_rules(site)}",
    ]
    lines += [f"pattern read {dev.format(leaf=leaf)}" for leaf in ("auth", "ack", "cmd",
                                                                      "booth")]
    lines += [f"pattern write {dev.format(leaf=leaf)}" for leaf in ("events", "status",
                                                                     "catchup")]
    # A device may read its own retained status back (e.g. after a restart).
    lines.append(f"pattern read {dev.format(leaf='status')}")
    # Car parks: a lane writes only its own counters (any lot id: the site's rules say which
    # lot it counts for) and reads every lane's of the site, its own included (a lane that
    # lost its file takes its totals back from it).
    lines += [f"pattern write {topics.lot(site, '+', '%u')}",
              f"pattern read {topics.lot_wildcard(site)}"]
    return "\n".join(lines) + "\n"


def connections_for(devices: int) -> int:
    """``max_connections`` for a site of ``devices`` gates (see DEFAULT_MAX_CONNECTIONS)."""
    return devices * 2 + 16


def _listener_limits(layout: BrokerLayout) -> list[str]:
    return [
        f"max_connections {layout.max_connections}",
        # The client id is the username: a device cannot connect under another client's id
        # (central's included) to disconnect it or resume its session and queued messages.
        # One connection per user: a second one with the same username displaces the first.
        "use_username_as_clientid true",
    ]


def render_conf(layout: BrokerLayout) -> str:
    """mosquitto.conf for a site broker."""
    if layout.max_connections < 2:
        raise ValueError(f"max_connections {layout.max_connections}: a site needs at least "
                         "the central service and one device")
    lines = [
        "# Menwei site broker (generated by menwei-sync broker-config; see",
        "# firmware_config/mosquitto/README.md for what each line does and why).",
        # One set of users, ACL and limits for every listener.
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {layout.passwd}",
        f"acl_file {layout.acl}",
        # Retained status and the sessions (with their queued messages) of devices survive a
        # broker restart.
        "persistence true",
        f"persistence_location {layout.data_dir}/",
        "autosave_interval 10",
        # A retained message is served to a new subscriber only while the client that
        # published it may still publish there (a revoked device's status disappears).
        "check_retain_source true",
        # Room for the biggest message the protocol sends plus its topic and properties, and
        # no more (see PACKET_OVERHEAD_BYTES). A larger packet is refused by disconnecting its
        # sender, never cut or dropped silently. (No message_size_limit: deprecated in
        # Mosquitto 2.0, and the PUBACK reason code it sends, 0x95, is not a valid one for
        # PUBACK, so paho drops the connection anyway.)
        f"max_packet_size {MAX_MESSAGE_BYTES + PACKET_OVERHEAD_BYTES}",
        # Queues for devices that are offline; the journal, not the broker, is the storage.
        f"max_queued_messages {SITE_MAX_QUEUED if layout.bridge is None else BRIDGED_MAX_QUEUED}",
        "max_inflight_messages 100",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        f"listener {layout.port} {layout.bind}",
        "protocol mqtt",
        *_listener_limits(layout),
    ]
    if layout.run_as:
        lines.insert(2, f"user {layout.run_as}")
    if layout.tls_port is not None:
        if layout.tls_ca is None or layout.tls_cert is None or layout.tls_key is None:
            raise ValueError("a TLS listener needs tls_ca, tls_cert and tls_key")
        lines += [
            f"listener {layout.tls_port} {layout.tls_bind or layout.bind}",
            "protocol mqtt",
            *_listener_limits(layout),
            f"cafile {layout.tls_ca}",
            f"certfile {layout.tls_cert}",
            f"keyfile {layout.tls_key}",
            # The lowest version accepted; TLS 1.3 is negotiated when both ends have it.
            "tls_version tlsv1.2",
            f"require_certificate {'true' if layout.tls_require_certificate else 'false'}",
        ]
    if layout.bridge is not None:
        problems = layout.bridge.problems()
        if problems:
            raise ValueError("; ".join(problems))
        lines += render_bridge(layout.site, layout.bridge,
                               read_bridge_password(layout.bridge.password_file))
    return "\n".join(lines) + "\n"


def share_with_broker(path: Path, mode: int = 0o640) -> None:
    """Give ``path`` ``mode`` and, when run as root, the broker's group, so that Mosquitto can
    read it again after dropping root (it re-reads the password file and ACL on SIGHUP)."""
    path.chmod(mode)
    if os.geteuid() != 0:
        return
    try:
        gid = grp.getgrnam(BROKER_GROUP).gr_gid
    except KeyError:  # no mosquitto package here (a provisioning laptop): nothing to share
        return
    os.chown(path, 0, gid)


def add_user(passwd: Path, username: str, password: str) -> None:
    """Add or replace a broker user (hashed with mosquitto_passwd)."""
    if any(c in password for c in "\r\n\0") or not password:
        raise ValueError("a broker password must be one non-empty line")
    passwd.parent.mkdir(parents=True, exist_ok=True)
    if not passwd.exists():
        passwd.touch(mode=0o600)
        share_with_broker(passwd)
    # The password goes through stdin (mosquitto_passwd reads it twice, as typed at its
    # prompt), not -b on the command line where every user on the machine can read it in ps.
    # mosquitto_passwd rewrites the file in place, keeping its owner and mode.
    subprocess.run(["mosquitto_passwd", str(passwd), username],
                   input=f"{password}\n{password}\n".encode(), check=True, capture_output=True)


def remove_user(passwd: Path, username: str) -> bool:
    """Delete a broker user; False when it was not in the password file."""
    result = subprocess.run(["mosquitto_passwd", "-D", str(passwd), username],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0 and "not found" not in result.stderr + result.stdout:
        raise RuntimeError(f"mosquitto_passwd -D failed: {result.stderr.strip()}")
    return result.returncode == 0


def write_broker(layout: BrokerLayout, users: dict[str, str],
                 revoked: Iterable[str] = ()) -> None:
    """Write conf, ACL and password file for ``users`` (username -> password)."""
    layout.conf_dir.mkdir(parents=True, exist_ok=True)
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    write_acl(layout, revoked)
    text = render_conf(layout)
    # With a bridge the conf holds its password (Mosquitto has no remote_password_file):
    # readable by the broker's group only. An existing file's mode is set before the text.
    layout.conf.touch(mode=0o600)
    share_with_broker(layout.conf, 0o644 if layout.bridge is None else 0o640)
    layout.conf.write_text(text)
    for username, password in users.items():
        add_user(layout.passwd, username, password)


def write_acl(layout: BrokerLayout, revoked: Iterable[str] = ()) -> bool:
    """Write the ACL if it differs from what ``render_acl`` gives; True when it changed."""
    text = render_acl(layout.site, revoked, bridge=layout.bridge)
    if layout.acl.exists() and layout.acl.read_text() == text:
        return False
    layout.acl.write_text(text)
    share_with_broker(layout.acl)
    return True
