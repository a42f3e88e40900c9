"""What a key of the device config holds, declared once: its kind, limits, default and doc.

A table of the config is a frozen dataclass whose fields carry one of these kinds in their
annotation, e.g. ``pulse: Annotated[float, Duration("100ms", "2m", default="3s", doc=...)]``
(how keys group into tables: firmware_config.table_shapes). The generic reader
(``firmware_config.reader``) turns TOML values into field values with them, and the
reference in ``firmware_config/README.md`` (``firmware_config.reference``) is written from
the same declarations, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from firmware_config.durations import parse_duration

T = TypeVar("T")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


# The default of a key the installer must write.
REQUIRED: Final = _Required()


@dataclass(frozen=True)
class Derived:
    """A default computed from the ``[device]`` table once it is read, e.g. a file in its
    ``data_dir``; with ``[device]`` itself refused, the key has no value and no error of its
    own (the device's error is the one to fix)."""

    shown: str  # as the reference's default column shows it
    value: Callable[[Any], object]  # from the DeviceConfig


class SettingError(ValueError):
    """A value a setting refuses; its message reads after the key path."""


# Types as an installer editing TOML knows them.
_WANTED: dict[type, str] = {str: "a string (in quotes)", int: "a whole number",
                            bool: "true or false"}


def _toml_kind(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", float: "float", list: "array", dict: "table"}.get(
        type(value), type(value).__name__)


def expect(raw: object, kind: type[T]) -> T:
    """``raw`` as ``kind`` (str, int or bool), or SettingError naming what was written instead."""
    # bool is an int in Python; a pin numbered `true` is a mistake worth naming.
    if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
        raise SettingError(f"must be {_WANTED[kind]}, got {_toml_kind(raw)} {raw!r}")
    return raw


def _one_of(value: str, allowed: tuple[str, ...]) -> SettingError:
    return SettingError(f"{value!r} is not one of {', '.join(repr(a) for a in allowed)}")


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One key: its doc (one line of the reference) and its default, written as in TOML
    (``"3s"``), or REQUIRED, None (absent means none) or Derived."""

    doc: str
    default: object = REQUIRED
    shown_type: ClassVar[str] = "string"

    def convert(self, raw: object, base: Path) -> object:
        """The value of ``raw`` as the gate uses it; SettingError if refused. Relative paths are
        read from ``base``, the config file's folder."""
        raise NotImplementedError

    def type_text(self) -> str:
        """The type column of the reference."""
        return self.shown_type


@dataclass(frozen=True, kw_only=True)
class Text(Setting):
    """A string, not blank, optionally one of a few values or ASCII only."""

    one_of: tuple[str, ...] = ()
    ascii_only: bool = False
    # A line terminator is all whitespace; only "" is empty for it.
    blank_ok: bool = False

    def convert(self, raw: object, base: Path) -> object:
        value = expect(raw, str)
        if value == "" or (not self.blank_ok and not value.strip()):
            raise SettingError("must not be empty")
        if self.ascii_only and not value.isascii():
            raise SettingError(f"must be ASCII, got {value!r}")
        if self.one_of and value not in self.one_of:
            raise _one_of(value, self.one_of)
        return value


# Ids end up in MQTT topics (where '/', '+' and '#' have meanings) and in file names.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, kw_only=True)
class Identifier(Text):
    """A name that becomes part of MQTT topics and file names."""

    shown_type: ClassVar[str] = "string (id)"

    def convert(self, raw: object, base: Path) -> object:
        value = super().convert(raw, base)
        if not _ID.match(str(value)):
            raise SettingError(f"{value!r} may only hold letters, digits, '.', '_' and '-' "
                               "(it is used in MQTT topics and file names)")
        return value


@dataclass(frozen=True, kw_only=True)
class TimeZone(Text):
    """An IANA time zone name."""

    def convert(self, raw: object, base: Path) -> object:
        value = str(super().convert(raw, base))
        try:
            ZoneInfo(value)
        # A folder of the tz database ("Asia") raises IsADirectoryError, an OSError.
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise SettingError(f"{value!r} is not a known IANA time zone") from None
        return value


@dataclass(frozen=True, kw_only=True)
class Ed25519Key(Text):
    """An Ed25519 public key in base64."""

    def convert(self, raw: object, base: Path) -> object:
        value = str(super().convert(raw, base))
        try:
            key = base64.b64decode(value, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise SettingError("must be the central service's Ed25519 public key in base64 "
                               "(44 characters, from `menwei-sync provision`)")
        return value


@dataclass(frozen=True, kw_only=True)
class Names(Setting):
    """A non-empty array of names, each stripped of surrounding blanks."""

    shown_type: ClassVar[str] = "array of strings"

    def convert(self, raw: object, base: Path) -> object:
        if not (isinstance(raw, list) and raw
                and all(isinstance(n, str) and n.strip() for n in raw)):
            raise SettingError("must be a non-empty list of group names")
        return tuple(n.strip() for n in raw)


@dataclass(frozen=True, kw_only=True)
class Choice(Setting):
    """One value of an enumeration, written as its string."""

    of: type[enum.StrEnum]

    def convert(self, raw: object, base: Path) -> object:
        value = expect(raw, str)
        try:
            return self.of(value)
        except ValueError:
            raise _one_of(value, tuple(m.value for m in self.of)) from None


@dataclass(frozen=True, kw_only=True)
class Flag(Setting):
    """true or false."""

    shown_type: ClassVar[str] = "boolean"

    def convert(self, raw: object, base: Path) -> object:
        return expect(raw, bool)


@dataclass(frozen=True)
class Whole(Setting):
    """A whole number from ``low`` to ``high``, both included."""

    low: int
    high: int

    def convert(self, raw: object, base: Path) -> object:
        value = expect(raw, int)
        if not self.low <= value <= self.high:
            raise SettingError(f"must be from {self.low:,} to {self.high:,}, got {value:,}")
        return value

    def type_text(self) -> str:
        return f"integer, {self.low} to {self.high}"


@dataclass(frozen=True)
class Duration(Setting):
    """A duration in human units, in seconds, from ``low`` to ``high`` (both included):
    every duration has sane limits, so a typo ("240h" for "240ms") is an error."""

    low: str
    high: str

    def convert(self, raw: object, base: Path) -> object:
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            # A bare number has no unit: 3 could be seconds or milliseconds.
            raise SettingError(f"must be a duration with a unit in quotes, e.g. \"{raw}s\"")
        if not isinstance(raw, str):
            raise SettingError(f"must be a duration like \"3s\", got {type(raw).__name__} {raw!r}")
        try:
            seconds = parse_duration(raw)
        except ValueError as exc:
            raise SettingError(str(exc)) from None
        if seconds <= 0:
            raise SettingError("must be longer than zero")
        if not parse_duration(self.low) <= seconds <= parse_duration(self.high):
            raise SettingError(f"must be from \"{self.low}\" to \"{self.high}\", got {raw!r}")
        return seconds

    def type_text(self) -> str:
        return f"duration, {self.low} to {self.high}"


@dataclass(frozen=True, kw_only=True)
class FilePath(Text):
    """A file system path; a relative one is read from the config file's folder."""

    shown_type: ClassVar[str] = "path"

    def convert(self, raw: object, base: Path) -> object:
        path = Path(str(super().convert(raw, base)))
        # So a profile can be tried from a checkout whatever the current directory;
        # systemd units use absolute paths.
        return path if path.is_absolute() else (base / path).resolve()



@dataclass(frozen=True, kw_only=True)
class FilePaths(Setting):
    """A non-empty array of paths; relative ones are read from the config file's folder."""

    shown_type: ClassVar[str] = "array of paths"

    def convert(self, raw: object, base: Path) -> object:
        if not (isinstance(raw, list) and raw
                and all(isinstance(n, str) and n.strip() for n in raw)):
            raise SettingError("must be a non-empty list of file paths")
        paths = tuple(FilePath(doc="").convert(n.strip(), base) for n in raw)
        if len(set(paths)) != len(paths):
            raise SettingError("names the same file twice")
        return paths

# BCM numbers of the GPIO lines on the 40-pin header (every Pi since the B+, the Pi 5 included).
_BCM_MAX = 27
_BCM_NAME = re.compile(r"^(?:GPIO|BCM)?(\d+)$", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True, kw_only=True)
class GpioLine(Setting):
    """A BCM GPIO number, or its name, normalised to gpiozero's ``"GPIO17"``."""

    shown_type: ClassVar[str] = "integer or string"

    def convert(self, raw: object, base: Path) -> object:
        if isinstance(raw, int) and not isinstance(raw, bool):
            number = raw
        elif isinstance(raw, str) and (match := _BCM_NAME.match(raw.strip())):
            number = int(match.group(1))
        else:
            # Board numbering ("BOARD11", "J8:11") is refused rather than translated: one
            # numbering everywhere (the BCM one of WIRING.md) keeps "pin used twice" checkable.
            raise SettingError(f"must be a BCM GPIO number (0-{_BCM_MAX}) or a name like "
                               f"\"GPIO17\", got {raw!r}")
        if not 0 <= number <= _BCM_MAX:
            raise SettingError(f"{raw!r} is not a GPIO of the 40-pin header (BCM 0-{_BCM_MAX})")
        return f"GPIO{number}"


@dataclass(frozen=True, kw_only=True)
class Inline(Setting):
    """An inline table read into the dataclass ``of``; ``refused`` names keys of ``of`` that
    this use of it does not take, with why."""

    of: type
    shown_type_text: str
    refused: Mapping[str, str] = field(default_factory=dict)

    def convert(self, raw: object, base: Path) -> object:
        raise TypeError("an inline table is read by firmware_config.reader")

    def type_text(self) -> str:
        return self.shown_type_text
