"""The device configuration file: one TOML file per controller, validated once into frozen
objects. Every error is collected with its key path so an installer sees them all at once.

The tables are declared in firmware_config.controller_tables and .operation_tables and read by
firmware_config.reader; this module holds what spans tables (the role's table, pins used
twice, defaults taken from ``[device]``), the file itself, and the names the gate, sync and
the simulator import.
"""

from __future__ import annotations

import codecs
import os
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_config.booth_table import BOOTH, BoothConfig
from firmware_config.controller_tables import (
    BARRIER,
    DEVICE,
    DOOR,
    GPIO,
    PIN_TABLES,
    READER,
    SITE,
    UART_READER_PATHS,
    BarrierConfig,
    DeviceConfig,
    DoorConfig,
    GpioBackend,
    LockType,
    NfcReaderConfig,
    PinConfig,
    ReaderConfig,
    Role,
    SerialReaderConfig,
    SiteConfig,
)
from firmware_config.lane_tables import (
    CAMERA,
    DISPLAY,
    LANE,
    CameraConfig,
    DisplayConfig,
    LaneConfig,
    LaneCredentials,
    PlateTolerance,
)
from firmware_config.operation_tables import (
    ANTIPASSBACK,
    CLOCK,
    CONTROL,
    JOURNAL,
    SIMULATION,
    SYNC,
    AntiPassbackConfig,
    AntiPassbackMode,
    ClockConfig,
    JournalConfig,
    SimulationConfig,
    SyncConfig,
    UntrustedClockPolicy,
)
from firmware_config.reader import Reading, read_table, read_top
from firmware_config.table_shapes import (
    InlineTables,
    Table,
)

# The file's tables in the order they are read and documented (README.md, Reference).
DOCUMENT: tuple[Table | InlineTables, ...] = (
    SITE, DEVICE, READER, GPIO, DOOR, BARRIER, PIN_TABLES, LANE, DISPLAY, CAMERA,
    ANTIPASSBACK, JOURNAL, CLOCK, CONTROL, SIMULATION, SYNC, BOOTH,
)
TABLES = tuple(t for t in DOCUMENT if isinstance(t, Table))

# sun_path of an AF_UNIX address holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class EdgeConfig:
    """Everything one gate controller needs, checked."""

    source: Path
    site: SiteConfig
    device: DeviceConfig
    reader: ReaderConfig | None
    gpio_backend: GpioBackend | None  # None only for a booth, which drives no pins
    door: DoorConfig | None
    barrier: BarrierConfig | None
    antipassback: AntiPassbackConfig
    journal: JournalConfig
    clock: ClockConfig
    control_socket: Path
    simulation: SimulationConfig | None
    sync: SyncConfig | None = None
    booth: BoothConfig | None = None
    # Barrier lanes only (firmware_config.lane_tables): None for a door and a booth.
    lane: LaneConfig | None = None
    display: DisplayConfig | None = None
    camera: CameraConfig | None = None

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


def _check_pins_unique(reading: Reading, reader_path: object) -> None:
    used: dict[str, str] = {}
    if isinstance(reader_path, str) and reader_path.startswith(UART_READER_PATHS):
        used["GPIO14"] = used["GPIO15"] = "reader.path (the UART)"
    for key, pin in reading.inline:
        if not isinstance(pin, PinConfig):
            continue
        if pin.pin in used:
            reading.error(f"{key}.pin", f"{pin.pin} is already used by {used[pin.pin]}")
        else:
            used[pin.pin] = key


def _check_socket_length(reading: Reading, socket: Path | None, *, written: bool) -> None:
    if socket is None or len(os.fsencode(socket)) <= _MAX_SOCKET_PATH:
        return
    # bind() would fail only when the gate starts; say so now, and where to fix it.
    message = (f"the control socket {str(socket)!r} is longer than a Unix socket address "
               f"allows ({_MAX_SOCKET_PATH} bytes)")
    if written:
        reading.error("control.socket", message)
    else:
        reading.error("device.data_dir", f"{message}; set a shorter control.socket")


def parse_config(data: dict[str, Any], source: Path | str = "<config>") -> EdgeConfig:
    """Validate a parsed TOML document; raise ConfigError listing every problem."""
    source_path = Path(source)
    reading = Reading(source_path.parent)
    site: SiteConfig | None = read_top(reading, SITE, data).built
    device_read = read_top(reading, DEVICE, data)
    device: DeviceConfig | None = device_read.built
    reading.device = device
    # The role alone decides which tables belong, so they are checked even when another
    # [device] setting is wrong: every error at once. With the role unknown, nobody can say.
    role = device_read.values.get("role")
    reader_read = read_top(reading, READER, data)
    reader: ReaderConfig | None = reader_read.built
    booth: BoothConfig | None = None
    backend = None
    if role is Role.BOOTH:
        booth = read_top(reading, BOOTH, data).built
        for name in ("reader", "gpio", "door", "barrier", "simulation"):
            if name in data:
                reading.error(name, f"a booth takes no [{name}] table (it drives the gates "
                                    "of its post through their control sockets)")
    else:
        backend = read_top(reading, GPIO, data).values.get("backend")
        if "booth" in data:
            reading.error("booth", "only a booth (device.role = \"booth\") takes a [booth] "
                                   "table")
    door: DoorConfig | None = None
    barrier: BarrierConfig | None = None
    if role is Role.DOOR:
        door = read_top(reading, DOOR, data).built
        if "barrier" in data:
            reading.error("barrier", "a door controller takes no [barrier] table")
    lane: LaneConfig | None = None
    display: DisplayConfig | None = None
    camera: CameraConfig | None = None
    if role in (Role.BARRIER_ENTRY, Role.BARRIER_EXIT):
        barrier = read_top(reading, BARRIER, data).built
        if "door" in data:
            reading.error("door", "a barrier controller takes no [door] table")
        lane = read_top(reading, LANE, data).built
        display = read_top(reading, DISPLAY, data).built
        camera = read_top(reading, CAMERA, data).built
        plate_modes = (LaneCredentials.PLATE, LaneCredentials.CARD_OR_PLATE,
                       LaneCredentials.CARD_AND_PLATE)
        if lane is not None and lane.credentials in plate_modes and "camera" not in data:
            reading.error("lane.credentials", f"{lane.credentials.value!r} needs a [camera] "
                                              "table (the plate camera)")
    elif role is not None:
        for name in ("lane", "display", "camera"):
            if name in data:
                reading.error(name, f"only a barrier lane takes a [{name}] table")
    _check_pins_unique(reading, reader_read.values.get("path"))

    antipassback_read = read_top(reading, ANTIPASSBACK, data)
    mode = antipassback_read.values.get("mode")
    if mode not in (None, AntiPassbackMode.OFF) and role is Role.DOOR:
        reading.error("antipassback.mode", "anti-passback is for barrier lanes; a door takes 'off'")
    journal: JournalConfig | None = read_top(reading, JOURNAL, data).built
    clock: ClockConfig | None = read_top(reading, CLOCK, data).built
    control_socket = read_top(reading, CONTROL, data).values.get("socket")
    control = data.get("control")
    _check_socket_length(reading, control_socket,
                         written=isinstance(control, dict) and "socket" in control)

    simulation: SimulationConfig | None = read_top(reading, SIMULATION, data).built \
        if role is not Role.BOOTH else None
    if "simulation" in data and backend not in (None, GpioBackend.SIMULATED):
        # With gpio.backend itself wrong or missing, that error is the one to fix.
        reading.error("simulation", "a [simulation] table needs gpio.backend = \"simulated\"")
    elif simulation is None and backend is GpioBackend.SIMULATED:
        simulation = read_table(reading, SimulationConfig, "simulation", {}).built

    sync: SyncConfig | None = read_top(reading, SYNC, data).built

    known = {table.name for table in TABLES}
    for name in sorted(set(data) - known):
        reading.error(name, "is not a known setting (misspelt?)")
    if reading.errors:
        raise ConfigError(source, reading.errors)
    antipassback: AntiPassbackConfig | None = antipassback_read.built
    assert site and device and antipassback and journal and clock and control_socket
    assert backend is not None or booth is not None
    return EdgeConfig(
        source=source_path,
        site=site,
        device=device,
        reader=reader,
        gpio_backend=backend,
        door=door,
        barrier=barrier,
        antipassback=antipassback,
        journal=journal,
        clock=clock,
        control_socket=control_socket,
        simulation=simulation,
        sync=sync,
        booth=booth,
        lane=lane,
        display=display,
        camera=camera,
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
    "DOCUMENT",
    "TABLES",
    "AntiPassbackConfig",
    "AntiPassbackMode",
    "BarrierConfig",
    "CameraConfig",
    "ClockConfig",
    "ConfigError",
    "DeviceConfig",
    "DisplayConfig",
    "DoorConfig",
    "EdgeConfig",
    "GpioBackend",
    "JournalConfig",
    "LaneConfig",
    "LaneCredentials",
    "LockType",
    "NfcReaderConfig",
    "PinConfig",
    "PlateTolerance",
    "ReaderConfig",
    "Role",
    "SerialReaderConfig",
    "SimulationConfig",
    "SiteConfig",
    "SyncConfig",
    "UntrustedClockPolicy",
    "iter_profiles",
    "load_config",
    "parse_config",
]
