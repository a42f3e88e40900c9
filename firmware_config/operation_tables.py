"""The tables that say how a controller runs and whom it talks to: ``[antipassback]``,
``[journal]``, ``[clock]``, ``[control]``, ``[simulation]`` and ``[sync]``. Each key is
declared once here (firmware_config.settings); the reader and the README's reference come
from it.
"""
# No `from __future__ import annotations`: the settings in the annotations are built as the
# module loads, so a wrong declaration fails at import, not at the first file read.

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from firmware_config.settings import (
    Choice,
    Derived,
    Duration,
    Ed25519Key,
    FilePath,
    Flag,
    Text,
    Whole,
)
from firmware_config.table_shapes import (
    Absent,
    CrossCheck,
    Table,
)


class AntiPassbackMode(enum.StrEnum):
    """What an entry lane does with a card that is already inside."""

    OFF = "off"
    SOFT = "soft"  # grant, but flag the event
    HARD = "hard"  # refuse


class UntrustedClockPolicy(enum.StrEnum):
    """What is granted while the wall clock cannot be trusted."""

    # Expiry is always judged against the floor of trusted time (edge.clock_trust). Beyond
    # that: known, active cards permitted at this gate still open; a start date the floor
    # has not reached and weekly schedules are not checked, because the time is unknown.
    SKIP_TIME_CHECKS = "skip_time_checks"
    # Only cards with nothing to check but their expiry open: a card whose start date the
    # floor of trusted time has not reached, or one with a weekly schedule, is refused.
    DENY_TIME_LIMITED = "deny_time_limited"
    DENY_ALL = "deny_all"


def _in_data_dir(name: str) -> Derived:
    return Derived(f"`<data_dir>/{name}`", lambda device: device.data_dir / name)


@dataclass(frozen=True)
class AntiPassbackConfig:
    """Anti-passback for a pair of barrier lanes that share ``presence_db``."""

    mode: Annotated[AntiPassbackMode, Choice(of=AntiPassbackMode, default="off", doc=(
        "`\"off\"`, `\"soft\"` (grant, but flag the event), `\"hard\"` (refuse). Only the entry "
        "lane refuses or flags a card already inside; the exit lane never refuses, but records "
        "exits (which let a card in again) only when its mode is not `\"off\"` — give both "
        "lanes the same mode. A door takes only `\"off\"`."))]
    reset_after: Annotated[float, Duration("1m", "30d", default="12h", doc=(
        "An entry older than this no longer counts, so a missed exit read does not lock a "
        "resident out for ever."))]
    presence_db: Annotated[Path, FilePath(
        default=_in_data_dir("presence.db"),
        doc=("Who is inside. The entry and exit lanes of one car park must name the same file "
             "(same Pi, e.g. `/var/lib/menwei/carpark-1-presence.db`)."))]


@dataclass(frozen=True)
class JournalConfig:
    """Bounds of the event journal."""

    max_events: Annotated[int, Whole(1000, 20_000_000, default=2_000_000, doc=(
        "Bound of the event journal. When full, events central has acknowledged go first; "
        "unacknowledged ones are dropped only if that is not enough, with a "
        "`journal_overflow` alarm. Alarms are never dropped."))]


@dataclass(frozen=True)
class ClockConfig:
    """Time trust: how often the high-water mark is saved and what an untrusted clock allows."""

    untrusted_policy: Annotated[UntrustedClockPolicy, Choice(
        of=UntrustedClockPolicy, default="skip_time_checks", doc=(
            "What a gate does while its clock is untrusted (behind the floor of trusted time, "
            "or no floor at all). An expired card is refused under every policy. "
            "`\"skip_time_checks\"`: known, active cards for this gate open; a start date the "
            "floor has not reached and weekly schedules are not checked (the tap is flagged). "
            "`\"deny_time_limited\"`: cards with a schedule or a start date the floor has not "
            "reached are refused, others open. `\"deny_all\"`: nothing opens by card. Events "
            "are tagged with the clock's trust either way."))]
    hwm_interval: Annotated[float, Duration("1s", "1h", default="60s", doc=(
        "How often the high-water mark of trusted time is saved (the clock is judged every "
        "5 s, or this often if shorter)."))]
    trust_ntp: Annotated[bool, Flag(default=True, doc=(
        "Whether the kernel reporting NTP synchronisation counts as a trusted source (it can "
        "then reset a mark a bad boot pushed ahead). Set `false` where the site's NTP server "
        "is not one you vouch for: central's signed time still serves."))] = True


@dataclass(frozen=True)
class ControlConfig:
    """The ``[control]`` table; the gate keeps only its socket (EdgeConfig.control_socket)."""

    socket: Annotated[Path, FilePath(
        default=_in_data_dir("control.sock"),
        doc=("The gate's local control socket (`menwei-edge status`, `open`, `events`). At "
             "most 107 bytes long (a limit of Unix sockets); a long `data_dir` needs a shorter "
             "`socket` here."))]


@dataclass(frozen=True)
class SimulationConfig:
    """Simulated hardware, only with ``gpio.backend = "simulated"``."""

    outputs_log: Annotated[Path | None, FilePath(default=None, doc=(
        "A file the simulated outputs' level changes are appended to, for tests and demos to "
        "read back."))]
    arm_travel: Annotated[float, Duration("10ms", "1m", default="2s", doc=(
        "How long the simulated barrier arm takes between its limits."))]
    door_pass_time: Annotated[float, Duration("10ms", "1m", default="2s", doc=(
        "How long a simulated person takes to walk through the door."))]


def _client_certificate(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    cert, key = values.get("tls_cert_file"), values.get("tls_key_file")
    if (cert is None) != (key is None):
        yield ("tls_key_file" if key is None else "tls_cert_file",
               "a client certificate needs both tls_cert_file and tls_key_file")
    if cert is not None and values.get("tls_ca_file") is None:
        yield "tls_ca_file", "required with a client certificate"


@dataclass(frozen=True)
class SyncConfig:
    """The sync agent (``menwei-sync``): broker, credentials and the pinned central key."""

    broker_host: Annotated[str, Text(default="127.0.0.1", doc="The site's Mosquitto broker.")]
    broker_port: Annotated[int, Whole(1, 65535, default=1883, doc=(
        "Its port; the TLS listener is usually 8883."))]
    username: Annotated[str, Text(default=Derived("the device id", lambda device: device.id),
                                  doc=("The broker user; the broker's ACL gives it only its "
                                       "own topics."))]
    password_file: Annotated[Path | None, FilePath(default=None, doc=(
        "A file holding the broker password (mode 0600)."))]
    tls_ca_file: Annotated[Path | None, FilePath(default=None, doc=(
        "The site CA certificate; setting it turns TLS on."))]
    tls_cert_file: Annotated[Path | None, FilePath(default=None, doc=(
        "The device certificate (with `tls_key_file`)."))]
    tls_key_file: Annotated[Path | None, FilePath(default=None, doc=(
        "The device's private key."))]
    central_public_key: Annotated[str, Ed25519Key(doc=(
        "The central service's Ed25519 public key (base64): lists and commands signed by "
        "anything else are refused."))]
    # A batch is one message: more events than fit are sent as halves (journal_uplink).
    batch_size: Annotated[int, Whole(1, 1000, default=500, doc=(
        "Journal events per uplink message; a batch too large for one message (256 KiB) is "
        "sent in halves."))]
    clock_tolerance: Annotated[float, Duration("1s", "1d", default="5m", doc=(
        "How far central's clock and this gate's may disagree. A command issued further than "
        "this in the future of a known time is refused; a list issued further ahead is applied "
        "and the clock journalled as behind; the issue time of signed messages counts as a "
        "floor of trusted time less this much (docs/edge.md, Time trust)."))]
    status_interval: Annotated[float, Duration("1s", "1h", default="30s", doc=(
        "How often the retained status is refreshed."))]
    reconnect_max: Annotated[float, Duration("1s", "1h", default="30s", doc=(
        "The longest wait between reconnection attempts."))]
    cross_checks: ClassVar[tuple[CrossCheck, ...]] = (_client_certificate,)


ANTIPASSBACK = Table("antipassback", AntiPassbackConfig, Absent.DEFAULTS, (
    "Optional. For a pair of barrier lanes: a card that went in must come out before it goes "
    "in again."))
JOURNAL = Table("journal", JournalConfig, Absent.DEFAULTS, "Optional.")
CLOCK = Table("clock", ClockConfig, Absent.DEFAULTS, (
    "Optional. A Pi has no battery clock, so after a power cut its clock may be wrong until "
    "NTP fixes it. The gate keeps a floor of trusted time and judges expiry against it always; "
    "what it does beyond that while the clock is untrusted is the policy below (docs/edge.md, "
    "Time trust)."))
CONTROL = Table("control", ControlConfig, Absent.DEFAULTS, "Optional.")
SIMULATION = Table("simulation", SimulationConfig, Absent.NONE, (
    "Optional, and only with `gpio.backend = \"simulated\"`. Defaults apply when the backend is "
    "simulated and the table is left out."))
SYNC = Table("sync", SyncConfig, Absent.NONE, (
    "Optional: read by the sync agent (`menwei-sync --config FILE`), ignored by the gate. The "
    "gate never touches the network; this table is how its whitelist and journal reach the "
    "central service. `menwei-sync provision` prints a filled-in table for a new device."))
