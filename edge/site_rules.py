"""The site's rules that every gate applies offline: the car park's policy for monthly cards
(rule P2), the car parks' spaces, the holiday calendar and the gates' timed modes.

The desk keeps them as site settings and publishes them as one signed, versioned, full-state
message, retained on ``menwei/<site>/rules`` (sync/wire/site_rules_message.py signs and
checks the envelope). The gate's sync agent verifies it, keeps only a newer version, and
writes the payload below to ``<data_dir>/site-rules.json`` atomically; the gate reads that
file (``SiteRulesFile``) and never waits for the network: with no file yet, ``DEFAULT`` holds.

The payload (docs/sync-protocol.md, *Site rules*)::

    {"type": "site_rules", "v": 1, "site": "garden-court", "version": 1767225600123,
     "issued_at": 1767225600.1,
     "parking": {"fixed": {"expired": "refuse", "grace_days": 0, "remind_days": 15}, ...},
     "lots": [{"id": "main", "name": "地面停车场", "gates": ["carpark-in", "carpark-out"],
               "spaces": {"fixed": 20, "monthly": 60, "temporary": 30}}],
     "holidays": {"2026-10-01": "holiday", "2026-10-10": "workday"},
     "timed_modes": [{"gate": "b1-lobby", "schedule": "Mon-Fri 07:00-09:00",
                      "mode": "hold_open"}]}

Plain Python with no dependency beyond ``edge``: the gate, the agent, the hub and the desk
all import it.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from edge.cards import HOLIDAY, WeeklySchedule, parse_schedule

TYPE = "site_rules"
PAYLOAD_VERSION = 1
FILE_NAME = "site-rules.json"
_WEEKDAYS = frozenset(range(1, 6))


class SiteRulesError(ValueError):
    """A rules payload the gate refuses; the message names the field."""


class ExpiredPolicy(enum.StrEnum):
    """What a lane does with a monthly card whose paid month (and grace) has run out."""

    REFUSE = "refuse"  # refused at the lane: "月卡已过期"
    TEMPORARY = "temporary"  # let in as a temporary car, charged at the exit booth
    GUARD = "guard"  # held at the lane until the guard at the booth confirms


class DayKind(enum.StrEnum):
    """What the holiday calendar says of a date."""

    HOLIDAY = "holiday"  # follows the schedules' ``Hol`` windows only
    WORKDAY = "workday"  # a weekend day worked (调休上班): follows the Mon–Fri windows


class TimedModeKind(enum.StrEnum):
    """What a gate does inside a timed mode's windows."""

    HOLD_OPEN = "hold_open"  # the door unlocked, the arm up (a lobby in the morning rush)
    MONTHLY_ONLY = "monthly_only"  # a lane admits monthly and fixed-space cards only


class SpaceClass(enum.StrEnum):
    """How a car park counts its spaces."""

    FIXED = "fixed"  # numbered spaces of fixed-space subscribers (P3)
    MONTHLY = "monthly"  # shared spaces of monthly (floating) subscribers
    TEMPORARY = "temporary"  # visitors and other temporary cars (P6)


@dataclass(frozen=True)
class ParkingPolicy:
    """The policy for one space kind's monthly cards."""

    expired: ExpiredPolicy = ExpiredPolicy.REFUSE
    grace_days: int = 0  # days after paid_until still let in as monthly (flagged)
    remind_days: int = 15  # the lane shows "月卡剩余N天" when N is at most this

    def wire(self) -> dict[str, Any]:
        """As it travels."""
        return {"expired": self.expired.value, "grace_days": self.grace_days,
                "remind_days": self.remind_days}


DEFAULT_POLICY = ParkingPolicy()


@dataclass(frozen=True)
class Lot:
    """A car park: the lanes that count its entries and exits, and its spaces per class."""

    id: str
    name: str
    gates: tuple[str, ...]
    spaces: Mapping[SpaceClass, int]

    def wire(self) -> dict[str, Any]:
        """As it travels."""
        return {"id": self.id, "name": self.name, "gates": list(self.gates),
                "spaces": {k.value: v for k, v in self.spaces.items()}}


@dataclass(frozen=True)
class TimedMode:
    """A mode a gate takes on by itself inside the windows of ``schedule`` (site time)."""

    gate: str
    schedule: WeeklySchedule
    mode: TimedModeKind

    def wire(self) -> dict[str, Any]:
        """As it travels."""
        return {"gate": self.gate, "schedule": self.schedule.spec, "mode": self.mode.value}


@dataclass(frozen=True)
class SiteRules:
    """One version of the site's rules."""

    site: str
    version: int
    issued_at: float
    parking: Mapping[str, ParkingPolicy] = field(default_factory=dict)
    lots: tuple[Lot, ...] = ()
    holidays: Mapping[date, DayKind] = field(default_factory=dict)
    timed_modes: tuple[TimedMode, ...] = ()

    def policy(self, space_kind: str) -> ParkingPolicy:
        """The policy for monthly cards of ``space_kind``; the default when not set."""
        return self.parking.get(space_kind, DEFAULT_POLICY)

    def lot_of(self, gate: str) -> Lot | None:
        """The car park whose lanes include ``gate``."""
        return next((lot for lot in self.lots if gate in lot.gates), None)

    def modes_of(self, gate: str) -> tuple[TimedMode, ...]:
        """The timed modes of ``gate``."""
        return tuple(m for m in self.timed_modes if m.gate == gate)

    def day_numbers(self, day: date) -> frozenset[int]:
        """The schedule day numbers ``day`` follows: its weekday; ``{Hol}`` on a holiday; Monday
        to Friday on a weekend day worked (edge.cards.WeeklySchedule.allows_on)."""
        kind = self.holidays.get(day)
        if kind is DayKind.HOLIDAY:
            return frozenset({HOLIDAY})
        if kind is DayKind.WORKDAY:
            return _WEEKDAYS
        return frozenset({day.isoweekday()})

    def wire(self) -> dict[str, Any]:
        """The payload as the desk signs it."""
        return {
            "type": TYPE, "v": PAYLOAD_VERSION, "site": self.site, "version": self.version,
            "issued_at": self.issued_at,
            "parking": {k: p.wire() for k, p in sorted(self.parking.items())},
            "lots": [lot.wire() for lot in self.lots],
            "holidays": {d.isoformat(): k.value for d, k in sorted(self.holidays.items())},
            "timed_modes": [m.wire() for m in self.timed_modes],
        }

    def dump(self) -> str:
        """The payload as JSON text."""
        return json.dumps(self.wire(), ensure_ascii=False, separators=(",", ":"))


DEFAULT = SiteRules(site="", version=0, issued_at=0.0)


def _obj(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SiteRulesError(f"{where}: expected an object")
    return value


def _get(obj: Mapping[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = obj.get(key, default)
    if value is None or isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise SiteRulesError(f"{where}.{key}: expected {kind.__name__}")
    return value


def _count(obj: Mapping[str, Any], key: str, where: str, default: int, high: int) -> int:
    value = _get(obj, key, int, where, default)
    if not 0 <= value <= high:
        raise SiteRulesError(f"{where}.{key}: must be from 0 to {high}")
    return int(value)


def _choice(kind: type[enum.StrEnum], value: object, where: str) -> Any:
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise SiteRulesError(f"{where}: {value!r} is not one of "
                             f"{', '.join(m.value for m in kind)}") from None


def _policy(obj: object, where: str) -> ParkingPolicy:
    o = _obj(obj, where)
    return ParkingPolicy(
        expired=_choice(ExpiredPolicy, o.get("expired", "refuse"), f"{where}.expired"),
        grace_days=_count(o, "grace_days", where, 0, 366),
        remind_days=_count(o, "remind_days", where, 15, 366))


def _lot(obj: object, where: str) -> Lot:
    o = _obj(obj, where)
    gates = _get(o, "gates", list, where)
    if not gates or not all(isinstance(g, str) and g for g in gates):
        raise SiteRulesError(f"{where}.gates: expected a list of gate ids")
    spaces = _obj(o.get("spaces", {}), f"{where}.spaces")
    counted = {_choice(SpaceClass, k, f"{where}.spaces"): _count(spaces, k, f"{where}.spaces",
                                                                 0, 1_000_000)
               for k in spaces}
    return Lot(id=_get(o, "id", str, where), name=_get(o, "name", str, where, ""),
               gates=tuple(gates), spaces=counted)


def _timed_mode(obj: object, where: str) -> TimedMode:
    o = _obj(obj, where)
    try:
        schedule = parse_schedule(_get(o, "schedule", str, where))
    except ValueError as exc:
        raise SiteRulesError(f"{where}.schedule: {exc}") from exc
    return TimedMode(gate=_get(o, "gate", str, where), schedule=schedule,
                     mode=_choice(TimedModeKind, o.get("mode"), f"{where}.mode"))


def parse(text: str | bytes) -> SiteRules:
    """A payload read and checked; SiteRulesError names the first field that is wrong."""
    try:
        obj = _obj(json.loads(text), "site_rules")
    except ValueError as exc:
        if isinstance(exc, SiteRulesError):
            raise
        raise SiteRulesError(f"site_rules: not JSON: {exc}") from exc
    if obj.get("type") != TYPE:
        raise SiteRulesError(f"site_rules.type: expected {TYPE!r}")
    if obj.get("v") != PAYLOAD_VERSION:
        raise SiteRulesError(f"site_rules.v: this gate reads version {PAYLOAD_VERSION}")
    holidays: dict[date, DayKind] = {}
    for text_day, kind in _obj(obj.get("holidays", {}), "site_rules.holidays").items():
        try:
            day = date.fromisoformat(text_day)
        except ValueError:
            raise SiteRulesError(f"site_rules.holidays: {text_day!r} is not a date") from None
        holidays[day] = _choice(DayKind, kind, f"site_rules.holidays.{text_day}")
    parking = _obj(obj.get("parking", {}), "site_rules.parking")
    issued_at = obj.get("issued_at")
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        raise SiteRulesError("site_rules.issued_at: expected a number")
    return SiteRules(
        site=_get(obj, "site", str, "site_rules"),
        version=_get(obj, "version", int, "site_rules"),
        issued_at=float(issued_at),
        parking={k: _policy(v, f"site_rules.parking.{k}") for k, v in parking.items()},
        lots=tuple(_lot(v, f"site_rules.lots[{i}]")
                   for i, v in enumerate(_get(obj, "lots", list, "site_rules", []))),
        holidays=holidays,
        timed_modes=tuple(_timed_mode(v, f"site_rules.timed_modes[{i}]") for i, v in
                          enumerate(_get(obj, "timed_modes", list, "site_rules", []))),
    )


class SiteRulesFile:
    """The gate's view of ``site-rules.json``: read again only when the file changed."""

    def __init__(self, path: Path, site: str) -> None:
        self.path = path
        self._site = site
        self._stamp: tuple[int, int, int] | None = None
        self._rules = DEFAULT
        self.last_error: str | None = None

    def current(self) -> SiteRules:
        """The newest readable rules of this site; ``DEFAULT`` before any arrived. A file that
        cannot be read keeps the rules read before it (``last_error`` says why)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return self._rules
        except OSError as exc:
            self.last_error = str(exc)
            return self._rules
        # The inode too: every write is a rename of a new file (write_atomically), so a
        # rewrite within one tick of the file system's clock, of the same size, is still seen.
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return self._rules
        self._stamp = stamp
        try:
            rules = parse(self.path.read_bytes())
            if rules.site != self._site:
                raise SiteRulesError(f"site_rules.site: {rules.site!r} is not this site")
        except (OSError, SiteRulesError) as exc:
            self.last_error = str(exc)
            return self._rules
        self.last_error = None
        self._rules = rules
        return rules
