"""The device configuration file: one TOML file per controller, validated once into frozen
objects. Every error is collected with its key path so an installer sees them all at once.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import enum
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firmware_config.durations import parse_duration

T = TypeVar("T")


class Role(enum.StrEnum):
    """What the controller stands at."""

    DOOR = "door"
    BARRIER_ENTRY = "barrier_entry"
    BARRIER_EXIT = "barrier_exit"


class LockType(enum.StrEnum):
    """Which relay level means locked.

    fail_secure: the strike is locked when unpowered, so the relay is energised to unlock.
    fail_safe: the lock (a maglock) holds only while powered, so the relay is energised to lock.
    """

    FAIL_SECURE = "fail_secure"
    FAIL_SAFE = "fail_safe"


class AntiPassbackMode(enum.StrEnum):
    """What an entry lane does with a card that is already inside."""

    OFF = "off"
    SOFT = "soft"  # grant, but flag the event
    HARD = "hard"  # refuse


class UntrustedClockPolicy(enum.StrEnum):
    """What is granted while the wall clock cannot be trusted."""

    # Expiry is always judged against the floor of trusted time (edge.time_trust). Beyond
    # that: known, active cards permitted at this gate still open; a start date the floor
    # has not reached and weekly schedules are not checked, because the time is unknown.
    SKIP_TIME_CHECKS = "skip_time_checks"
    # Only cards with nothing to check but their expiry open: a card whose start date the
    # floor of trusted time has not reached, or one with a weekly schedule, is refused.
    DENY_TIME_LIMITED = "deny_time_limited"
    DENY_ALL = "deny_all"


class GpioBackend(enum.StrEnum):
    """Which gpiozero pin factory drives the pins. The simulator is never a silent fallback."""

    LGPIO = "lgpio"
    SIMULATED = "simulated"


@dataclass(frozen=True)
class SiteConfig:
    """The compound this controller belongs to."""

    id: str
    timezone: str


@dataclass(frozen=True)
class DeviceConfig:
    """This controller."""

    id: str
    role: Role
    access_groups: tuple[str, ...]
    data_dir: Path


@dataclass(frozen=True)
class NfcReaderConfig:
    """A reader driven by nfcpy: ``udp:127.0.0.1:PORT``, ``tty:AMA0:pn532``, ``usb``."""

    path: str
    debounce: float
    retry_initial: float
    retry_max: float


@dataclass(frozen=True)
class SerialReaderConfig:
    """A UART reader or Wiegand-to-UART bridge that sends one card number per line."""

    path: str
    baudrate: int
    line_terminator: str
    uid_format: str  # "hex" or "decimal"
    debounce: float
    retry_initial: float
    retry_max: float


ReaderConfig = NfcReaderConfig | SerialReaderConfig


@dataclass(frozen=True)
class PinConfig:
    """One GPIO line: its name as gpiozero takes it and which electrical level is 'active'."""

    pin: str
    active_high: bool
    pull_up: bool | None = None


@dataclass(frozen=True)
class DoorConfig:
    """A door with an electric strike or maglock."""

    strike: PinConfig
    lock_type: LockType
    pulse: float
    rex: PinConfig | None
    contact: PinConfig | None
    held_open_after: float
    shutdown_state: str  # "locked" or "unlocked"


@dataclass(frozen=True)
class BarrierConfig:
    """A car-park barrier arm with its motor contacts, limit switches and two loops."""

    raise_out: PinConfig
    lower_out: PinConfig
    open_limit: PinConfig
    closed_limit: PinConfig
    arming_loop: PinConfig
    safety_loop: PinConfig
    travel_timeout: float
    close_delay: float
    max_open: float


@dataclass(frozen=True)
class AntiPassbackConfig:
    """Anti-passback for a pair of barrier lanes that share ``presence_db``."""

    mode: AntiPassbackMode
    reset_after: float
    presence_db: Path


@dataclass(frozen=True)
class JournalConfig:
    """Bounds of the event journal."""

    max_events: int


@dataclass(frozen=True)
class ClockConfig:
    """Time trust: how often the high-water mark is saved and what an untrusted clock allows."""

    untrusted_policy: UntrustedClockPolicy
    hwm_interval: float
    # Whether the kernel reporting NTP synchronisation counts as a trusted source of time.
    trust_ntp: bool = True


@dataclass(frozen=True)
class SimulationConfig:
    """Simulated hardware, only with ``gpio.backend = "simulated"``."""

    outputs_log: Path | None
    arm_travel: float
    door_pass_time: float


@dataclass(frozen=True)
class SyncConfig:
    """The sync agent (``menwei-sync``): broker, credentials and the pinned central key."""

    broker_host: str
    broker_port: int
    username: str
    password_file: Path | None
    tls_ca_file: Path | None
    tls_cert_file: Path | None
    tls_key_file: Path | None
    central_public_key: str
    batch_size: int
    clock_tolerance: float
    status_interval: float
    reconnect_max: float


@dataclass(frozen=True)
class EdgeConfig:
    """Everything one gate controller needs, checked."""

    source: Path
    site: SiteConfig
    device: DeviceConfig
    reader: ReaderConfig | None
    gpio_backend: GpioBackend
    door: DoorConfig | None
    barrier: BarrierConfig | None
    antipassback: AntiPassbackConfig
    journal: JournalConfig
    clock: ClockConfig
    control_socket: Path
    simulation: SimulationConfig | None
    sync: SyncConfig | None = None

    @property
    def auth_db(self) -> Path:
        """The whitelist, written by sync and read by the gate."""
        return self.device.data_dir / "auth.db"

    @property
    def events_db(self) -> Path:
        """The event journal, written by the gate."""
        return self.device.data_dir / "events.db"

    @property
    def sync_db(self) -> Path:
        """The sync agent's own state: staged snapshots, seen command nonces."""
        return self.device.data_dir / "sync.db"

    @property
    def mode_state(self) -> Path:
        """The standing remote mode (hold-open, lockdown) that outlives a restart."""
        return self.device.data_dir / "mode.json"

    @property
    def clock_state(self) -> Path:
        """The persisted high-water mark of trusted time."""
        return self.device.data_dir / "clock.json"


class ConfigError(Exception):
    """A configuration file that cannot be used; ``errors`` lists every problem found."""

    def __init__(self, source: Path | str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(self.report())

    def report(self) -> str:
        """The text an installer reads: one line per error, with its key path."""
        lines = [f"{self.source}: {len(self.errors)} error(s)"]
        lines += [f"  - {e}" for e in self.errors]
        return "\n".join(lines)


_MISSING = object()

# Types as an installer editing TOML knows them.
_TOML_KIND: dict[type, str] = {str: "a string (in quotes)", int: "a whole number",
                               bool: "true or false", float: "a number"}


def _toml_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", float: "float", list: "array", dict: "table"}.get(
        type(value), type(value).__name__)


# BCM numbers of the GPIO lines on the 40-pin header (every Pi since the B+, the Pi 5 included).
_BCM_MAX = 27
_BCM_NAME = re.compile(r"^(?:GPIO|BCM)?(\d+)$", re.IGNORECASE | re.ASCII)
# Ids end up in MQTT topics (where '/', '+' and '#' have meanings) and in file names.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# sun_path of an AF_UNIX address holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
# Reader paths that use the Pi's primary UART, which takes GPIO14 (TXD) and GPIO15 (RXD).
_UART_READER_PATHS = ("tty:AMA0", "tty:S0", "/dev/ttyAMA0", "/dev/ttyS0", "/dev/serial0")
_NFC_PATH_KINDS = ("usb", "tty", "udp")


@dataclass
class _Table:
    """Reads one TOML table, recording errors with their key path and flagging unknown keys."""

    path: str
    data: dict[str, Any]
    errors: list[str]
    seen: set[str] = field(default_factory=set)
    # Every pin read so far, with its key, shared by all tables of one document so that a pin
    # used twice is found even when the table around it has other errors.
    pins: list[tuple[str, PinConfig]] = field(default_factory=list)

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.errors.append(f"{self._key(key)}: {message}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.error(key, "is required")
            return None
        return default

    def typed(self, key: str, kind: type[T], default: Any = _MISSING) -> T | None:
        value = self.raw(key, default)
        if value is None:
            return None
        # bool is an int in Python; a pin numbered `true` is a mistake worth naming.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            wanted = _TOML_KIND.get(kind, kind.__name__)
            self.error(key, f"must be {wanted}, got {_toml_kind(value)} {value!r}")
            return None
        return value

    def text(self, key: str, default: Any = _MISSING) -> str | None:
        value = self.typed(key, str, default)
        if value is not None and not value.strip():
            self.error(key, "must not be empty")
            return None
        return value

    def duration(self, key: str, default: str | None = None) -> float | None:
        value = self.raw(key, _MISSING if default is None else default)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            # A bare number has no unit: 3 could be seconds or milliseconds.
            self.error(key, f"must be a duration with a unit in quotes, e.g. \"{value}s\"")
            return None
        if not isinstance(value, str):
            self.error(key, f"must be a duration like \"3s\", got {type(value).__name__} "
                            f"{value!r}")
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.error(key, str(exc))
            return None
        if seconds <= 0:
            self.error(key, "must be longer than zero")
            return None
        return seconds

    def identifier(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and not _ID.match(value):
            self.error(key, f"{value!r} may only hold letters, digits, '.', '_' and '-' "
                            "(it is used in MQTT topics and file names)")
            return None
        return value

    def file_path(self, key: str, base: Path, default: Any = _MISSING) -> Path | None:
        """A file system path; a relative one is read from ``base`` (the config's folder)."""
        value = self.text(key, default)
        if value is None:
            return None
        path = Path(value)
        # Relative paths are read from the config file's folder, so a profile can be tried
        # from a checkout whatever the current directory; systemd units use absolute paths.
        return path if path.is_absolute() else (base / path).resolve()

    def choice(self, key: str, enum_type: type[Any], default: Any = _MISSING) -> Any:
        value = self.typed(key, str, default)
        if value is None:
            return None
        try:
            return enum_type(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in enum_type)
            self.error(key, f"{value!r} is not one of {allowed}")
            return None

    def table(self, key: str, required: bool = True) -> _Table | None:
        value = self.raw(key, _MISSING if required else None)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(key, f"must be a table, got {type(value).__name__}")
            return None
        return _Table(self._key(key), value, self.errors, pins=self.pins)

    def pin(self, key: str, required: bool = True, *, is_input: bool = False) -> PinConfig | None:
        sub = self.table(key, required)
        if sub is None:
            return None
        raw_pin = sub.raw("pin")
        pin: str | None = None
        number: int | None = None
        if isinstance(raw_pin, int) and not isinstance(raw_pin, bool):
            number = raw_pin
        elif isinstance(raw_pin, str) and (match := _BCM_NAME.match(raw_pin.strip())):
            number = int(match.group(1))
        elif raw_pin is not None:
            # Board numbering ("BOARD11", "J8:11") is refused rather than translated: one
            # numbering everywhere (the BCM one of WIRING.md) keeps "pin used twice" checkable.
            sub.error("pin", f"must be a BCM GPIO number (0-{_BCM_MAX}) or a name like "
                             f"\"GPIO17\", got {raw_pin!r}")
        if number is not None:
            if 0 <= number <= _BCM_MAX:
                pin = f"GPIO{number}"
            else:
                sub.error("pin", f"{raw_pin!r} is not a GPIO of the 40-pin header "
                                 f"(BCM 0-{_BCM_MAX})")
        active_high = sub.typed("active_high", bool, True)
        pull_up = sub.typed("pull_up", bool, None) if is_input else None
        if not is_input and "pull_up" in sub.data:
            sub.seen.add("pull_up")
            sub.error("pull_up", "only inputs have a pull resistor; this is an output")
        sub.finish()
        if pin is None or active_high is None:
            return None
        config = PinConfig(pin=pin, active_high=active_high, pull_up=pull_up)
        self.pins.append((self._key(key), config))
        return config

    def finish(self) -> None:
        for key in sorted(set(self.data) - self.seen):
            self.error(key, "is not a known setting (misspelt?)")


def _reader(root: _Table) -> ReaderConfig | None:
    sub = root.table("reader", required=False)
    if sub is None:
        return None
    kind = sub.text("kind")
    path = sub.text("path")
    if kind == "nfc" and path is not None and path.split(":", 1)[0] not in _NFC_PATH_KINDS:
        sub.error("path", f"{path!r} is not an nfcpy device path; write e.g. \"tty:AMA0:pn532\" "
                          "(PN532 on the UART), \"usb\" or \"udp:127.0.0.1:54321\"")
        path = None
    debounce = sub.duration("debounce", "2s")
    retry_initial = sub.duration("retry_initial", "1s")
    retry_max = sub.duration("retry_max", "30s")
    if retry_initial is not None and retry_max is not None and retry_initial > retry_max:
        sub.error("retry_initial", "must not be longer than retry_max")
        retry_initial = None
    result: ReaderConfig | None = None
    if kind == "nfc":
        sub.finish()
        if None not in (path, debounce, retry_initial, retry_max):
            assert path and debounce and retry_initial and retry_max
            result = NfcReaderConfig(path, debounce, retry_initial, retry_max)
    elif kind == "serial":
        baudrate = sub.typed("baudrate", int, 9600)
        if baudrate is not None and baudrate <= 0:
            sub.error("baudrate", f"must be a positive number of bits per second, got {baudrate}")
            baudrate = None
        terminator = sub.typed("line_terminator", str, "\r\n")
        uid_format = sub.text("uid_format", "hex")
        if uid_format not in (None, "hex", "decimal"):
            sub.error("uid_format", f"{uid_format!r} is not one of 'hex', 'decimal'")
            uid_format = None
        if terminator == "":
            sub.error("line_terminator", "must not be empty")
            terminator = None
        elif terminator is not None and not terminator.isascii():
            # The serial reader matches it as bytes of an ASCII line protocol.
            sub.error("line_terminator", f"must be ASCII, got {terminator!r}")
            terminator = None
        sub.finish()
        values = (path, baudrate, terminator, uid_format, debounce, retry_initial, retry_max)
        if None not in values:
            result = SerialReaderConfig(*values)  # type: ignore[arg-type]
    elif kind is not None:
        sub.error("kind", f"{kind!r} is not one of 'nfc', 'serial'")
        # Which keys belong depends on the kind; with the kind unknown, do not also call the
        # serial reader's settings misspelt.
        sub.seen.update({"baudrate", "line_terminator", "uid_format"})
        sub.finish()
    else:
        sub.finish()
    return result


def _door(root: _Table) -> DoorConfig | None:
    sub = root.table("door")
    if sub is None:
        return None
    strike = sub.pin("strike")
    lock_type = sub.choice("lock_type", LockType, "fail_secure")
    pulse = sub.duration("pulse", "3s")
    rex = sub.pin("rex", required=False, is_input=True)
    contact = sub.pin("contact", required=False, is_input=True)
    held = sub.duration("held_open_after", "30s")
    shutdown_state = sub.text("shutdown_state", "locked")
    if shutdown_state not in (None, "locked", "unlocked"):
        sub.error("shutdown_state", f"{shutdown_state!r} is not one of 'locked', 'unlocked'")
        shutdown_state = None
    sub.finish()
    if None in (strike, lock_type, pulse, held, shutdown_state):
        return None
    return DoorConfig(strike, lock_type, pulse, rex, contact, held, shutdown_state)  # type: ignore[arg-type]


def _barrier(root: _Table) -> BarrierConfig | None:
    sub = root.table("barrier")
    if sub is None:
        return None
    raise_out = sub.pin("raise_out")
    lower_out = sub.pin("lower_out")
    open_limit = sub.pin("open_limit", is_input=True)
    closed_limit = sub.pin("closed_limit", is_input=True)
    arming_loop = sub.pin("arming_loop", is_input=True)
    safety_loop = sub.pin("safety_loop", is_input=True)
    travel = sub.duration("travel_timeout", "6s")
    close_delay = sub.duration("close_delay", "1.5s")
    max_open = sub.duration("max_open", "45s")
    sub.finish()
    if (raise_out is None or lower_out is None or open_limit is None or closed_limit is None
            or arming_loop is None or safety_loop is None or travel is None
            or close_delay is None or max_open is None):
        return None
    return BarrierConfig(
        raise_out=raise_out, lower_out=lower_out, open_limit=open_limit,
        closed_limit=closed_limit, arming_loop=arming_loop, safety_loop=safety_loop,
        travel_timeout=travel, close_delay=close_delay, max_open=max_open,
    )


def _sync(root: _Table, base: Path, device: DeviceConfig | None) -> SyncConfig | None:
    sub = root.table("sync", required=False)
    if sub is None:
        return None
    host = sub.text("broker_host", "127.0.0.1")
    port = sub.typed("broker_port", int, 1883)
    if port is not None and not 0 < port < 65536:
        sub.error("broker_port", f"{port} is not a TCP port")
        port = None
    username = sub.text("username", device.id if device else None)
    password_file = sub.file_path("password_file", base, None)
    ca = sub.file_path("tls_ca_file", base, None)
    cert = sub.file_path("tls_cert_file", base, None)
    key = sub.file_path("tls_key_file", base, None)
    if (cert is None) != (key is None):
        sub.error("tls_key_file" if key is None else "tls_cert_file",
                  "a client certificate needs both tls_cert_file and tls_key_file")
    if cert is not None and ca is None:
        sub.error("tls_ca_file", "required with a client certificate")
    public_key = sub.text("central_public_key")
    if public_key is not None:
        try:
            raw = base64.b64decode(public_key, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) != 32:
            sub.error("central_public_key", "must be the central service's Ed25519 public key "
                                            "in base64 (44 characters, from `menwei-sync "
                                            "provision`)")
            public_key = None
    batch = sub.typed("batch_size", int, 500)
    if batch is not None and not 1 <= batch <= 5000:
        sub.error("batch_size", "must be from 1 to 5000")
        batch = None
    tolerance = sub.duration("clock_tolerance", "5m")
    status_interval = sub.duration("status_interval", "30s")
    reconnect_max = sub.duration("reconnect_max", "30s")
    sub.finish()
    values = (host, port, username, public_key, batch, tolerance, status_interval,
              reconnect_max)
    if any(v is None for v in values):
        return None
    return SyncConfig(host, port, username, password_file, ca, cert, key,  # type: ignore[arg-type]
                      public_key, batch, tolerance, status_interval,  # type: ignore[arg-type]
                      reconnect_max)  # type: ignore[arg-type]


def _check_pins_unique(pins: list[tuple[str, PinConfig]], reader: ReaderConfig | None,
                       errors: list[str]) -> None:
    used: dict[str, str] = {}
    if reader is not None and reader.path.startswith(_UART_READER_PATHS):
        used["GPIO14"] = used["GPIO15"] = "reader.path (the UART)"
    for key, pin in pins:
        if pin.pin in used:
            errors.append(f"{key}.pin: {pin.pin} is already used by {used[pin.pin]}")
        else:
            used[pin.pin] = key


def parse_config(data: dict[str, Any], source: Path | str = "<config>") -> EdgeConfig:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    errors: list[str] = []
    source_path = Path(source)
    root = _Table("", data, errors)

    site_t = root.table("site")
    site = None
    if site_t:
        site_id = site_t.identifier("id")
        tz = site_t.text("timezone", "Asia/Shanghai")
        if tz is not None:
            try:
                ZoneInfo(tz)
            # A folder of the tz database ("Asia") raises IsADirectoryError, an OSError.
            except (ZoneInfoNotFoundError, ValueError, OSError):
                site_t.error("timezone", f"{tz!r} is not a known IANA time zone")
                tz = None
        site_t.finish()
        if site_id and tz:
            site = SiteConfig(site_id, tz)

    device_t = root.table("device")
    device = None
    role: Role | None = None
    if device_t:
        dev_id = device_t.identifier("id")
        role = device_t.choice("role", Role)
        groups_raw = device_t.raw("access_groups")
        groups: tuple[str, ...] | None = None
        if isinstance(groups_raw, list) and groups_raw and all(
            isinstance(g, str) and g.strip() for g in groups_raw
        ):
            groups = tuple(g.strip() for g in groups_raw)
        elif groups_raw is not None:
            device_t.error("access_groups", "must be a non-empty list of group names")
        data_dir = device_t.file_path("data_dir", source_path.parent)
        device_t.finish()
        if dev_id and role and groups and data_dir:
            device = DeviceConfig(dev_id, role, groups, data_dir)

    reader = _reader(root)

    gpio_t = root.table("gpio")
    backend = None
    if gpio_t:
        backend = gpio_t.choice("backend", GpioBackend)
        gpio_t.finish()

    door = barrier = None
    # The role alone decides which tables belong, so they are checked even when another
    # [device] setting is wrong: every error at once.
    role_value = role
    if role_value is Role.DOOR:
        door = _door(root)
        if "barrier" in data:
            root.error("barrier", "a door controller takes no [barrier] table")
            root.seen.add("barrier")
    elif role_value in (Role.BARRIER_ENTRY, Role.BARRIER_EXIT):
        barrier = _barrier(root)
        if "door" in data:
            root.error("door", "a barrier controller takes no [door] table")
            root.seen.add("door")
    else:
        root.seen.update({"door", "barrier"})
    _check_pins_unique(root.pins, reader, errors)

    apb_t = root.table("antipassback", required=False)
    apb = None
    if apb_t is not None or device is not None:
        apb_t = apb_t or _Table("antipassback", {}, errors)
        mode = apb_t.choice("mode", AntiPassbackMode, "off")
        reset_after = apb_t.duration("reset_after", "12h")
        presence = apb_t.file_path("presence_db", source_path.parent, None)
        apb_t.finish()
        if mode is not None and mode is not AntiPassbackMode.OFF and role_value is Role.DOOR:
            apb_t.error("mode", "anti-passback is for barrier lanes; a door takes 'off'")
        if device and mode and reset_after:
            apb = AntiPassbackConfig(mode, reset_after, presence or device.data_dir / "presence.db")

    journal_t = root.table("journal", required=False) or _Table("journal", {}, errors)
    max_events = journal_t.typed("max_events", int, 2_000_000)
    if max_events is not None and max_events < 1000:
        journal_t.error("max_events", "must be at least 1000")
        max_events = None
    journal_t.finish()

    clock_t = root.table("clock", required=False) or _Table("clock", {}, errors)
    policy = clock_t.choice("untrusted_policy", UntrustedClockPolicy, "skip_time_checks")
    hwm_interval = clock_t.duration("hwm_interval", "60s")
    trust_ntp = clock_t.typed("trust_ntp", bool, True)
    clock_t.finish()

    control_t = root.table("control", required=False) or _Table("control", {}, errors)
    control_socket = control_t.file_path("socket", source_path.parent, None)
    control_t.finish()
    if control_socket is None and device is not None:
        control_socket = device.data_dir / "control.sock"
    if control_socket is not None and len(os.fsencode(control_socket)) > _MAX_SOCKET_PATH:
        # bind() would fail only when the gate starts; say so now, and where to fix it.
        key = "socket" if "socket" in control_t.data else None
        message = (f"the control socket {str(control_socket)!r} is longer than a Unix socket "
                   f"address allows ({_MAX_SOCKET_PATH} bytes)")
        if key:
            control_t.error(key, message)
        else:
            errors.append(f"device.data_dir: {message}; set a shorter control.socket")

    sim_t = root.table("simulation", required=False)
    simulation = None
    if sim_t is not None:
        outputs_log = sim_t.file_path("outputs_log", source_path.parent, None)
        arm_travel = sim_t.duration("arm_travel", "2s")
        pass_time = sim_t.duration("door_pass_time", "2s")
        sim_t.finish()
        # With gpio.backend itself wrong or missing, that error is the one to fix.
        if backend is not None and backend is not GpioBackend.SIMULATED:
            root.error("simulation", "a [simulation] table needs gpio.backend = \"simulated\"")
        if arm_travel and pass_time:
            simulation = SimulationConfig(outputs_log, arm_travel, pass_time)
    elif backend is GpioBackend.SIMULATED:
        simulation = SimulationConfig(None, 2.0, 2.0)

    sync = _sync(root, source_path.parent, device)

    root.finish()
    if errors:
        raise ConfigError(source, errors)
    assert site and device and backend and apb and max_events and policy and hwm_interval
    assert control_socket is not None
    return EdgeConfig(
        source=source_path,
        site=site,
        device=device,
        reader=reader,
        gpio_backend=backend,
        door=door,
        barrier=barrier,
        antipassback=apb,
        journal=JournalConfig(max_events),
        clock=ClockConfig(policy, hwm_interval, trust_ntp is not False),
        control_socket=control_socket,
        simulation=simulation,
        sync=sync,
    )


_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")
_TOML_BARE_VALUE = re.compile(r"^\s*[A-Za-z0-9_.-]+\s*=\s*([^\s\"'\[{#][^#=]*?)\s*(?:#.*)?$")


def _toml_error(exc: tomllib.TOMLDecodeError, text: str) -> str:
    """tomllib's message, the offending line, and the usual cause of it when we can tell."""
    message = f"not valid TOML: {exc}"
    position = _TOML_POSITION.search(str(exc))
    lines = text.splitlines()
    if position and 1 <= int(position.group(1)) <= len(lines):
        line = lines[int(position.group(1)) - 1]
        message += f": {line.strip()}"
        bare = _TOML_BARE_VALUE.match(line)
        if bare and bare.group(1) not in ("true", "false"):
            try:
                float(bare.group(1).replace("_", ""))
            except ValueError:
                # `pulse = 3s`, `backend = lgpio`: the installer meant a string.
                message += " (text values need quotes, e.g. pulse = \"3s\")"
    return message


def load_config(path: Path | str) -> EdgeConfig:
    """Read and validate a device configuration file; raise ConfigError on any problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from exc
    # Windows editors (Notepad) save UTF-8 with a byte-order mark, which TOML does not allow
    # and tomllib reports only as "Invalid statement" at line 1.
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # An editor set to GBK, say: the Chinese in comments and names is not UTF-8.
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(path, [
            f"not UTF-8 text (line {line} cannot be decoded); save the file as UTF-8"
        ]) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [_toml_error(exc, text)]) from exc
    return parse_config(data, path)


def iter_profiles() -> Iterator[Path]:
    """The example profiles shipped in ``firmware_config/profiles``."""
    yield from sorted((Path(__file__).parent / "profiles").glob("*.toml"))


__all__ = [
    "AntiPassbackConfig", "AntiPassbackMode", "BarrierConfig", "ClockConfig", "ConfigError",
    "DeviceConfig", "DoorConfig", "EdgeConfig", "GpioBackend", "JournalConfig", "LockType",
    "NfcReaderConfig", "PinConfig", "ReaderConfig", "Role", "SerialReaderConfig",
    "SimulationConfig", "SiteConfig", "SyncConfig", "UntrustedClockPolicy", "iter_profiles",
    "load_config",
    "parse_config",
]

