"""The one reader of the device config: turns the tables of a parsed TOML document into the
frozen dataclasses declared for them (firmware_config.settings), recording every error with
its key path instead of stopping at the first, so an installer sees them all at once.

Rules that span several tables (which tables a role takes, a pin used twice) are the
document's, in firmware_config.schema; this module knows nothing of doors or pins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from firmware_config.settings import (
    REQUIRED,
    Derived,
    Inline,
    Setting,
    SettingError,
)
from firmware_config.table_shapes import (
    Absent,
    Table,
    Variants,
    cross_checks,
    settings_of,
)


class _Failed:
    """A key with no value: refused (its error recorded), or derived from a refused table."""


_FAILED: Final = _Failed()
_ABSENT: Final = object()  # a key the file leaves out


@dataclass
class Reading:
    """One document being read: where relative paths start, the errors so far, and what the
    rules across tables need."""

    base: Path  # the config file's folder
    errors: list[str] = field(default_factory=list)
    # The DeviceConfig once [device] is read well: Derived defaults come from it.
    device: object | None = None
    # Every inline table read well, with its key path ("door.strike"), even when the table
    # around it has other errors, so that a pin used twice is found all the same.
    inline: list[tuple[str, object]] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        """Record ``message`` about the key at ``path``."""
        self.errors.append(f"{path}: {message}")


@dataclass(frozen=True)
class TableRead:
    """A table as read: ``built`` when every key has a value, and the keys that were read
    well in any case (a rule across tables may need one of them, e.g. ``device.role``)."""

    built: Any
    values: Mapping[str, Any]


_NOTHING = TableRead(None, {})


def read_top(reading: Reading, table: Table, document: Mapping[str, Any]) -> TableRead:
    """Read the top-level ``table`` of ``document``, or what its absence means."""
    if table.name not in document:
        if table.absent is Absent.ERROR:
            reading.error(table.name, "is required")
        if table.absent is not Absent.DEFAULTS:
            return _NOTHING
    raw = document.get(table.name, {})
    if not isinstance(raw, dict):
        reading.error(table.name, f"must be a table, got {type(raw).__name__}")
        return _NOTHING
    return read_table(reading, table.shape, table.name, raw)


def read_table(reading: Reading, shape: type | Variants, path: str,
               data: Mapping[str, Any]) -> TableRead:
    """Read ``data``, the table at key path ``path``, into ``shape``."""
    if not isinstance(shape, Variants):
        return _read_keys(reading, shape, path, data, settings_of(shape))
    kind = _read_value(reading, shape.kind(), f"{path}.{shape.key}", data.get(shape.key, _ABSENT))
    if isinstance(kind, str):
        return _read_keys(reading, shape.by_value[kind], path, data, shape.settings(kind),
                          also_known=(shape.key,))
    # Which keys belong depends on the kind; with the kind unknown, check those all kinds
    # share, and call none of the others misspelt.
    read = _read_keys(reading, None, path, data, shape.common(),
                      also_known=(shape.key, *(name for name, _, _ in shape.all_keys())))
    return TableRead(None, read.values)


def _read_keys(reading: Reading, shape: type | None, path: str, data: Mapping[str, Any],
               settings: tuple[tuple[str, Setting], ...], *,
               also_known: tuple[str, ...] = (),
               refused: Mapping[str, str] | None = None) -> TableRead:
    values: dict[str, Any] = {}
    complete = True
    refused = refused or {}
    for name, setting in settings:
        if name in refused:
            continue  # left to its dataclass default
        value = _read_value(reading, setting, f"{path}.{name}", data.get(name, _ABSENT))
        if value is _FAILED:
            complete = False
        else:
            values[name] = value
    for name, message in refused.items():
        if name in data:
            reading.error(f"{path}.{name}", message)
    if shape is not None:
        for check in cross_checks(shape):
            for name, message in check(values):
                reading.error(f"{path}.{name}", message)
                values.pop(name, None)
                complete = False
    known = {name for name, _ in settings} | set(also_known)
    for name in sorted(set(data) - known):
        reading.error(f"{path}.{name}", "is not a known setting (misspelt?)")
    # An unknown or refused key is an error, but the table is still built from the keys it
    # does take: its value may be what another table's rule checks against.
    built = shape(**values) if shape is not None and complete else None
    return TableRead(built, values)


def _read_value(reading: Reading, setting: Setting, path: str, raw: object) -> object:
    """The value of one key, or _FAILED with its error recorded."""
    if raw is _ABSENT:
        default = setting.default
        if default is REQUIRED:
            reading.error(path, "is required")
            return _FAILED
        if isinstance(default, Derived):
            return _FAILED if reading.device is None else default.value(reading.device)
        if default is None:
            return None
        raw = default
    if isinstance(setting, Inline):
        if not isinstance(raw, dict):
            reading.error(path, f"must be a table, got {type(raw).__name__}")
            return _FAILED
        read = _read_keys(reading, setting.of, path, raw, settings_of(setting.of),
                          refused=setting.refused)
        if read.built is None:
            return _FAILED
        reading.inline.append((path, read.built))
        return read.built
    try:
        return setting.convert(raw, reading.base)
    except SettingError as exc:
        reading.error(path, str(exc))
        return _FAILED
