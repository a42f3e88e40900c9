"""How the keys of the device config group into tables: a table's keys are the fields of a
frozen dataclass annotated with their settings (firmware_config.settings), optionally with
checks across its keys; ``[reader]`` picks its dataclass by its ``kind``; and each top-level
table says what leaving it out of the file means.
"""

from __future__ import annotations

import enum
import functools
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from firmware_config.settings import Setting, Text

# Checks across the keys of one table: given the values read well, yield (key, message).
CrossCheck = Callable[[Mapping[str, Any]], Iterator[tuple[str, str]]]


@functools.cache
def settings_of(table: type) -> tuple[tuple[str, Setting], ...]:
    """The declared keys of a table's dataclass, in declaration order."""
    hints = typing.get_type_hints(table, include_extras=True)
    declared = []
    for f in fields(table):
        found = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, Setting)]
        if found:
            declared.append((f.name, found[0]))
    return tuple(declared)


def cross_checks(table: type) -> tuple[CrossCheck, ...]:
    """The checks across keys a table's dataclass declares in ``cross_checks``."""
    return tuple(getattr(table, "cross_checks", ()))


@dataclass(frozen=True)
class Variants:
    """A table whose other keys depend on one of them: ``[reader]`` by its ``kind``."""

    key: str
    doc: str
    by_value: Mapping[str, type]

    def kind(self) -> Text:
        """The setting of the deciding key."""
        return Text(doc=self.doc, one_of=tuple(self.by_value))

    def all_keys(self) -> tuple[tuple[str, Setting, tuple[str, ...]], ...]:
        """Every key of any variant, in the order it first appears, with its setting and the
        variants that take it."""
        order: dict[str, Setting] = {}
        for table in self.by_value.values():
            for name, setting in settings_of(table):
                order.setdefault(name, setting)
        return tuple(
            (name, setting, tuple(v for v, t in self.by_value.items()
                                  if name in dict(settings_of(t))))
            for name, setting in order.items())

    def settings(self, value: str) -> tuple[tuple[str, Setting], ...]:
        """The keys of one variant in the order of ``all_keys``."""
        own = dict(settings_of(self.by_value[value]))
        return tuple((name, own[name]) for name, _, _ in self.all_keys() if name in own)

    def common(self) -> tuple[tuple[str, Setting], ...]:
        """Keys every variant declares alike: what can be checked when the deciding key is
        missing or wrong."""
        return tuple(
            (name, setting) for name, setting, takers in self.all_keys()
            if len(takers) == len(self.by_value)
            and all(dict(settings_of(t))[name] == setting for t in self.by_value.values()))


class Absent(enum.Enum):
    """What a top-level table left out of the file means."""

    ERROR = "required"
    NONE = "none"  # the feature is off
    DEFAULTS = "defaults"  # every key takes its default


@dataclass(frozen=True)
class Table:
    """A top-level table of the config file."""

    name: str
    shape: type | Variants
    absent: Absent
    intro: str  # the paragraph under its heading in the reference


@dataclass(frozen=True)
class InlineTables:
    """Where the reference explains an inline table used by several keys (the pin tables)."""

    heading: str
    shape: type
    intro: str
