"""The tables that say what a controller is and what it drives: ``[site]``, ``[device]``,
``[reader]``, ``[gpio]``, ``[door]``, ``[barrier]`` and the pin tables. Each key is declared
once here (firmware_config.settings); the reader and the README's reference come from it.
"""
# No `from __future__ import annotations`: the settings in the annotations are built as the
# module loads, so a wrong declaration fails at import, not at the first file read.

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

from firmware_config.settings import (
    REQUIRED,
    Choice,
    Duration,
    FilePath,
    Flag,
    GpioLine,
    Identifier,
    Inline,
    Names,
    Text,
    TimeZone,
    Whole,
)
from firmware_config.table_shapes import (
    Absent,
    CrossCheck,
    InlineTables,
    Table,
    Variants,
)


class Role(enum.StrEnum):
    """What the controller stands at."""

    DOOR = "door"
    BARRIER_ENTRY = "barrier_entry"
    BARRIER_EXIT = "barrier_exit"
    # A guard's booth (``menwei-booth``): no reader, no pins; it drives the gates of its post
    # through their control sockets and syncs its own journal like a gate.
    BOOTH = "booth"


class LockType(enum.StrEnum):
    """Which relay level means locked.

    fail_secure: the strike is locked when unpowered, so the relay is energised to unlock.
    fail_safe: the lock (a maglock) holds only while powered, so the relay is energised to lock.
    """

    FAIL_SECURE = "fail_secure"
    FAIL_SAFE = "fail_safe"


class GpioBackend(enum.StrEnum):
    """Which gpiozero pin factory drives the pins. The simulator is never a silent fallback."""

    LGPIO = "lgpio"
    SIMULATED = "simulated"


@dataclass(frozen=True)
class SiteConfig:
    """The compound this controller belongs to."""

    id: Annotated[str, Identifier(doc=(
        "The site, e.g. `\"garden-court\"`; the same on every controller of the compound."))]
    timezone: Annotated[str, TimeZone(default="Asia/Shanghai", doc=(
        "IANA time zone of the site. Validity dates and weekly schedules are read in it, "
        "whatever the Pi's own zone is."))]


@dataclass(frozen=True)
class DeviceConfig:
    """This controller."""

    id: Annotated[str, Identifier(doc=(
        "This controller, unique in the site, e.g. `\"door-b1-lobby\"`. Names it in events "
        "and MQTT topics."))]
    role: Annotated[Role, Choice(of=Role, doc=(
        "`\"door\"`, `\"barrier_entry\"`, `\"barrier_exit\"` or `\"booth\"`. Decides whether "
        "a `[door]`, a `[barrier]` or a `[booth]` table is required (and the others refused)."))]
    access_groups: Annotated[tuple[str, ...], Names(doc=(
        "The groups this gate belongs to, at least one; a card opens it only if it holds one "
        "of them (rule G1)."))]
    data_dir: Annotated[Path, FilePath(doc=(
        "The gate's own files: `auth.db` (whitelist, written by sync), `events.db` (event "
        "journal), `clock.json` (time high-water mark, written by the gate), "
        "`clock-evidence.json` (what sync verified about the time), and by default "
        "`control.sock` and `presence.db`. Installed: `/var/lib/menwei/<name>`."))]


# Keys both kinds of reader take, declared once so that they read and document alike.
_READER_PATH = Text(doc=(
    "`nfc`: an nfcpy device path — `\"tty:AMA0:pn532\"` (PN532 on the Pi's UART), "
    "`\"tty:USB0:pn532\"` (PN532 behind a USB-serial adapter), `\"usb\"` (first USB reader) or "
    "`\"usb:VID:PID\"`, `\"udp:127.0.0.1:PORT\"` (the simulator's tag emulator). `serial`: the "
    "device, e.g. `\"/dev/ttyUSB0\"`, `\"/dev/serial0\"`. A reader on the Pi's UART takes GPIO14 "
    "and GPIO15, which then cannot be used as pins."))
_DEBOUNCE = Duration("100ms", "1m", default="2s", doc=(
    "A card held on the reader, or read again, counts once within this window."))
_RETRY_INITIAL = Duration("100ms", "1m", default="1s", doc=(
    "First wait before reopening a reader that failed or was unplugged; the wait doubles up "
    "to `retry_max`. Not longer than `retry_max`."))
_RETRY_MAX = Duration("1s", "1h", default="30s", doc=(
    "Longest wait between reopening attempts."))
# Reader paths that use the Pi's primary UART, which takes GPIO14 (TXD) and GPIO15 (RXD).
UART_READER_PATHS = ("tty:AMA0", "tty:S0", "/dev/ttyAMA0", "/dev/ttyS0", "/dev/serial0")
_NFC_PATH_KINDS = ("usb", "tty", "udp")


def _retry_order(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    initial, longest = values.get("retry_initial"), values.get("retry_max")
    if initial is not None and longest is not None and initial > longest:
        yield "retry_initial", "must not be longer than retry_max"


def _nfc_path(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    path = values.get("path")
    if path is not None and path.split(":", 1)[0] not in _NFC_PATH_KINDS:
        yield "path", (f"{path!r} is not an nfcpy device path; write e.g. \"tty:AMA0:pn532\" "
                       "(PN532 on the UART), \"usb\" or \"udp:127.0.0.1:54321\"")


@dataclass(frozen=True)
class NfcReaderConfig:
    """A reader driven by nfcpy: ``udp:127.0.0.1:PORT``, ``tty:AMA0:pn532``, ``usb``."""

    path: Annotated[str, _READER_PATH]
    debounce: Annotated[float, _DEBOUNCE]
    retry_initial: Annotated[float, _RETRY_INITIAL]
    retry_max: Annotated[float, _RETRY_MAX]
    cross_checks: ClassVar[tuple[CrossCheck, ...]] = (_nfc_path, _retry_order)


@dataclass(frozen=True)
class SerialReaderConfig:
    """A UART reader or Wiegand-to-UART bridge that sends one card number per line."""

    path: Annotated[str, _READER_PATH]
    baudrate: Annotated[int, Whole(300, 4_000_000, default=9600, doc="Bits per second.")]
    # The serial reader matches it as bytes of an ASCII line protocol.
    line_terminator: Annotated[str, Text(default="\r\n", ascii_only=True, blank_ok=True, doc=(
        "What ends each card number; ASCII, not empty."))]
    uid_format: Annotated[str, Text(default="hex", one_of=("hex", "decimal"), doc=(
        "`\"hex\"` (card number sent in hexadecimal) or `\"decimal\"` (in decimal, as many "
        "Wiegand bridges do). Either way the UID is stored as upper-case hex."))]
    debounce: Annotated[float, _DEBOUNCE]
    retry_initial: Annotated[float, _RETRY_INITIAL]
    retry_max: Annotated[float, _RETRY_MAX]
    cross_checks: ClassVar[tuple[CrossCheck, ...]] = (_retry_order,)


ReaderConfig = NfcReaderConfig | SerialReaderConfig


@dataclass(frozen=True)
class GpioConfig:
    """The ``[gpio]`` table; the gate keeps only its backend (EdgeConfig.gpio_backend)."""

    backend: Annotated[GpioBackend, Choice(of=GpioBackend, doc=(
        "`\"lgpio\"` on a Pi (Debian package `python3-lgpio`), or `\"simulated\"` (gpiozero's "
        "MockFactory, for the simulator and tests). No default: the simulator is never chosen "
        "by accident."))]


@dataclass(frozen=True)
class PinConfig:
    """One GPIO line: its name as gpiozero takes it and which electrical level is 'active'."""

    pin: Annotated[str, GpioLine(doc=(
        "BCM GPIO number 0–27, or the same as `\"GPIO17\"` / `\"BCM17\"`. Physical header "
        "numbers (`\"BOARD11\"`, `\"J8:11\"`) are refused so that one numbering is used "
        "everywhere. No pin may be used twice."))]
    active_high: Annotated[bool, Flag(default=True, doc=(
        "Outputs: `true` when the relay module switches on with a high level, `false` for the "
        "common active-low relay boards. Inputs: `true` when the active state (door open, "
        "vehicle present, arm at the limit, button pressed) reads as a high level."))]
    pull_up: Annotated[bool | None, Flag(default=None, doc=(
        "Inputs only (refused on outputs). `true`: the Pi's internal pull-up is on, for a "
        "contact that switches to ground. `false`: internal pull-down. Absent: no internal "
        "pull, for a circuit with its own resistor or a driven output."))] = None


def _output(doc: str) -> Inline:
    return Inline(of=PinConfig, shown_type_text="pin table (output)", doc=doc,
                  refused={"pull_up": "only inputs have a pull resistor; this is an output"})


def _input(doc: str, *, optional: bool = False) -> Inline:
    return Inline(of=PinConfig, shown_type_text="pin table (input)", doc=doc,
                  default=None if optional else REQUIRED)


@dataclass(frozen=True)
class DoorConfig:
    """A door with an electric strike or maglock."""

    strike: Annotated[PinConfig, _output("The relay that drives the lock.")]
    lock_type: Annotated[LockType, Choice(of=LockType, default="fail_secure", doc=(
        "`\"fail_secure\"`: a strike that is locked without power; the relay is energised to "
        "unlock. `\"fail_safe\"`: a maglock that holds only while powered; the relay is "
        "energised to lock, and a power cut opens the door (fire-code doors)."))]
    pulse: Annotated[float, Duration("100ms", "2m", default="3s", doc=(
        "How long a grant or the exit button unlocks. A grant during a pulse extends it."))]
    rex: Annotated[PinConfig | None, _input(optional=True, doc=(
        "Request-to-exit button. Without it, only cards and guards open the door."))]
    contact: Annotated[PinConfig | None, _input(optional=True, doc=(
        "Door contact (reed switch); active = door open. Without it there are no forced-open "
        "or held-open alarms."))]
    held_open_after: Annotated[float, Duration("5s", "1h", default="30s", doc=(
        "A door open this long raises a `door_held_open` alarm."))]
    shutdown_state: Annotated[str, Text(default="locked", one_of=("locked", "unlocked"), doc=(
        "What the strike is set to when the gate stops: `\"locked\"` or `\"unlocked\"`. While "
        "the Pi is off, only the wiring (`lock_type` and the relay contact used) decides."))]


def _passage_within_close(values: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    gap, close = values.get("passage_gap"), values.get("close_delay")
    if gap is not None and close is not None and gap > close:
        yield "passage_gap", "must not be longer than close_delay"


@dataclass(frozen=True)
class BarrierConfig:
    """A car-park barrier arm with its motor contacts, limit switches and two loops."""

    cross_checks: ClassVar[tuple[CrossCheck, ...]] = (_passage_within_close,)

    raise_out: Annotated[PinConfig, _output(
        "Relay for the barrier controller's \"open/raise\" input; held active while the arm "
        "travels up.")]
    lower_out: Annotated[PinConfig, _output(
        "Relay for \"close/lower\"; held while the arm travels down, never while the safety "
        "loop is occupied.")]
    open_limit: Annotated[PinConfig, _input(
        "Limit switch, active when the arm is fully up.")]
    closed_limit: Annotated[PinConfig, _input(
        "Limit switch, active when the arm is fully down.")]
    arming_loop: Annotated[PinConfig, _input(
        "The loop detector's output for the loop in front of the arm; active = vehicle "
        "present.")]
    safety_loop: Annotated[PinConfig, _input(
        "The loop detector's output for the loop under the arm; active = vehicle present. The "
        "arm never lowers while it is active.")]
    travel_timeout: Annotated[float, Duration("1s", "2m", default="6s", doc=(
        "A limit switch not reached in this time: the motor stops and the barrier is out of "
        "service until a guard resets it."))]
    close_delay: Annotated[float, Duration("100ms", "1m", default="1.5s", doc=(
        "The safety loop must be clear this long before the arm lowers (detector chatter, "
        "trailers, the gap between cab and load)."))]
    passage_gap: Annotated[float, Duration("50ms", "1m", default="300ms", doc=(
        "The safety loop clear this long means the vehicle has passed (counted, its grant "
        "spent, its presence recorded); a shorter gap is the same vehicle. A car following "
        "later than this is a car of its own. Raise it where trailers with no drawbar over "
        "the loop pass; not longer than `close_delay`."))]
    max_open: Annotated[float, Duration("5s", "1h", default="45s", doc=(
        "No vehicle came after a grant: close after this long (still never onto a "
        "vehicle)."))]


SITE = Table("site", SiteConfig, Absent.ERROR,
             "Required. The compound this controller belongs to.")
DEVICE = Table("device", DeviceConfig, Absent.ERROR, "Required. This controller.")
READER = Table(
    "reader",
    Variants("kind", by_value={"nfc": NfcReaderConfig, "serial": SerialReaderConfig}, doc=(
        "`\"nfc\"` (a reader driven by nfcpy) or `\"serial\"` (a reader or Wiegand-to-UART "
        "bridge that sends one card number per line).")),
    Absent.NONE,
    "Optional: without it the gate opens only by exit button or by hand. `kind` decides "
    "which keys are allowed.")
GPIO = Table("gpio", GpioConfig, Absent.ERROR, "Required.")
DOOR = Table("door", DoorConfig, Absent.ERROR,
             "Required when `device.role = \"door\"`, refused otherwise.")
BARRIER = Table("barrier", BarrierConfig, Absent.ERROR,
                "Required when `device.role` is `\"barrier_entry\"` or `\"barrier_exit\"`, "
                "refused otherwise.")
PIN_TABLES = InlineTables("Pin tables", PinConfig, (
    "Every pin above is an inline table, e.g. `strike = { pin = 17, active_high = true }`."))
