"""The booth list: what a guard's booth needs from the desk to work with the network down
(rules G3, G4, G5, H7, P6), as one signed, versioned, full-state message per booth.

Central publishes it retained on the booth's own ``booth`` topic whenever what it holds
changes (and again now and then, so a broker that lost its retained store gets it back).
The booth's sync agent verifies the signature with the pinned central key, refuses a version
not newer than the one it holds, and stores the verified message; the booth service reads it
from there and verifies it again. A full state, not changes: a booth holds a few dozen
guards and a few hundred slips and passes, so the whole list fits one message (256 KiB) and
a booth that was off for a month needs nothing but the newest one.

Amounts are whole fen (0.01 yuan), never floats. Dates are site-local ``YYYY-MM-DD``.

``gates`` (the booth's gates with their names as people say them, e.g. ``main-gate`` is
小区大门) came after the first lists: a list without the field, from an older desk, is read
as naming no gate, and the booth then shows each gate by its device id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sync.wire.payload import (
    VERSION,
    ProtocolError,
    dump,
    field,
    int_field,
    list_field,
    load_object,
    number_field,
)

TYPE = "booth_list"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _date(obj: Mapping[str, Any], key: str, where: str) -> date:
    text = field(obj, key, str, where)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ProtocolError(f"{where}.{key}: not a date YYYY-MM-DD: {text!r}") from exc


def _text(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str:
    value = field(obj, key, str, where, optional=optional)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class BoothGuard:
    """A guard who may sign in at this booth: the desk account's argon2id hash, so the
    same password works at the desk and, offline, at the booth."""

    username: str
    name: str
    password_hash: str

    @staticmethod
    def parse(obj: Mapping[str, Any], where: str) -> BoothGuard:
        """One guard of the list."""
        return BoothGuard(_text(obj, "username", where).lower(), _text(obj, "name", where),
                          _text(obj, "password_hash", where))

    def wire(self) -> dict[str, Any]:
        """The guard as it travels."""
        return {"username": self.username, "name": self.name,
                "password_hash": self.password_hash}


@dataclass(frozen=True)
class BoothGate:
    """One gate the booth drives: its device id (what the gate's config and every record
    name it by) and its name as the desk holds it, the one a guard reads on the screen."""

    device: str
    name: str

    @staticmethod
    def parse(obj: Mapping[str, Any], where: str) -> BoothGate:
        """One gate of the list."""
        device = _text(obj, "device", where)
        if not device:
            raise ProtocolError(f"{where}.device: empty")
        return BoothGate(device, _text(obj, "name", where))

    def wire(self) -> dict[str, Any]:
        """The gate as it travels."""
        return {"device": self.device, "name": self.name}


@dataclass(frozen=True)
class BoothSlip:
    """A goods release slip (G4) as the exit sees it. ``state`` is ``open``, ``used`` (it
    left already, through any exit) or ``revoked``."""

    number: int
    unit: str
    carrier_name: str
    items: str
    valid_on: date
    approved: bool
    state: str

    STATES = ("open", "used", "revoked")

    @staticmethod
    def parse(obj: Mapping[str, Any], where: str) -> BoothSlip:
        """One slip of the list."""
        state = _text(obj, "state", where)
        if state not in BoothSlip.STATES:
            raise ProtocolError(f"{where}.state: {state!r} is not one of "
                                f"{', '.join(BoothSlip.STATES)}")
        return BoothSlip(int_field(obj, "number", where, 1), _text(obj, "unit", where),
                         _text(obj, "carrier_name", where), _text(obj, "items", where),
                         _date(obj, "valid_on", where), bool(field(obj, "approved", bool, where)),
                         state)

    def wire(self) -> dict[str, Any]:
        """The slip as it travels."""
        return {"number": self.number, "unit": self.unit, "carrier_name": self.carrier_name,
                "items": self.items, "valid_on": self.valid_on.isoformat(),
                "approved": self.approved, "state": self.state}


@dataclass(frozen=True)
class BoothGoodsPass:
    """A long-term goods pass (G4), valid a year; ``holder`` is masked by the desk."""

    pass_id: int
    holder: str
    unit: str
    valid_from: date
    valid_until: date
    revoked: bool

    @staticmethod
    def parse(obj: Mapping[str, Any], where: str) -> BoothGoodsPass:
        """One pass of the list."""
        return BoothGoodsPass(int_field(obj, "id", where, 1), _text(obj, "holder", where),
                              _text(obj, "unit", where), _date(obj, "valid_from", where),
                              _date(obj, "valid_until", where),
                              bool(field(obj, "revoked", bool, where)))

    def wire(self) -> dict[str, Any]:
        """The pass as it travels."""
        return {"id": self.pass_id, "holder": self.holder, "unit": self.unit,
                "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat(), "revoked": self.revoked}


@dataclass(frozen=True)
class BoothVisitorPass:
    """A visitor pass issued at the desk (H7): the booth checks the visitor in against it.
    ``visitor`` is the name as the desk holds it (the guard compares it with the ID shown);
    ``host_unit`` the unit visited; ``confirmed`` whether the inviting resident confirmed."""

    pass_id: int
    visitor: str
    host_unit: str
    valid_from: date
    valid_until: date
    confirmed: bool
    plate: str | None

    @staticmethod
    def parse(obj: Mapping[str, Any], where: str) -> BoothVisitorPass:
        """One visitor pass of the list."""
        return BoothVisitorPass(int_field(obj, "id", where, 1), _text(obj, "visitor", where),
                                _text(obj, "host_unit", where),
                                _date(obj, "valid_from", where),
                                _date(obj, "valid_until", where),
                                bool(field(obj, "confirmed", bool, where)),
                                field(obj, "plate", str, where, optional=True))

    def wire(self) -> dict[str, Any]:
        """The pass as it travels."""
        return {"id": self.pass_id, "visitor": self.visitor, "host_unit": self.host_unit,
                "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat(), "confirmed": self.confirmed,
                "plate": self.plate}


@dataclass(frozen=True)
class ParkingTariff:
    """The site's temporary-parking tariff (P6): the first ``free_minutes`` are free; then
    each started hour costs ``day_per_hour_fen``, or ``night_per_hour_fen`` when the hour
    starts between ``night_start`` and ``night_end`` (site-local ``HH:MM``; equal times mean
    no night rate); a calendar day's charge is capped at ``daily_cap_fen`` (0: no cap)."""

    free_minutes: int
    day_per_hour_fen: int
    night_per_hour_fen: int
    night_start: str
    night_end: str
    daily_cap_fen: int

    @staticmethod
    def parse(obj: Mapping[str, Any], where: str) -> ParkingTariff:
        """The tariff of the list."""
        start, end = _text(obj, "night_start", where), _text(obj, "night_end", where)
        for key, value in (("night_start", start), ("night_end", end)):
            if not _HHMM.match(value):
                raise ProtocolError(f"{where}.{key}: not a time HH:MM: {value!r}")
        return ParkingTariff(int_field(obj, "free_minutes", where),
                             int_field(obj, "day_per_hour_fen", where),
                             int_field(obj, "night_per_hour_fen", where), start, end,
                             int_field(obj, "daily_cap_fen", where))

    def wire(self) -> dict[str, Any]:
        """The tariff as it travels."""
        return {"free_minutes": self.free_minutes, "day_per_hour_fen": self.day_per_hour_fen,
                "night_per_hour_fen": self.night_per_hour_fen, "night_start": self.night_start,
                "night_end": self.night_end, "daily_cap_fen": self.daily_cap_fen}


@dataclass(frozen=True)
class BoothList:
    """Everything one booth needs from the desk; ``version`` only moves forward. ``gates``
    is empty in a list from a desk older than the field (see the module docstring)."""

    site: str
    booth: str
    version: int
    issued_at: float
    timezone: str
    float_limit_fen: int
    tariff: ParkingTariff
    guards: tuple[BoothGuard, ...]
    slips: tuple[BoothSlip, ...]
    goods_passes: tuple[BoothGoodsPass, ...]
    visitor_passes: tuple[BoothVisitorPass, ...]
    gates: tuple[BoothGate, ...] = ()

    @staticmethod
    def parse(payload: str) -> BoothList:
        """Validate a verified payload."""
        obj = load_object(payload, TYPE)
        w = TYPE
        # An older desk sends no gates: the booth then shows device ids.
        gates = field(obj, "gates", list, w, optional=True) or []
        return BoothList(
            _text(obj, "site", w), _text(obj, "booth", w), int_field(obj, "version", w, 1),
            number_field(obj, "issued_at", w), _text(obj, "timezone", w),
            int_field(obj, "float_limit_fen", w),
            ParkingTariff.parse(field(obj, "tariff", dict, w), f"{w}.tariff"),
            tuple(BoothGuard.parse(_object(g, f"{w}.guards[{i}]"), f"{w}.guards[{i}]")
                  for i, g in enumerate(list_field(obj, "guards", w))),
            tuple(BoothSlip.parse(_object(s, f"{w}.slips[{i}]"), f"{w}.slips[{i}]")
                  for i, s in enumerate(list_field(obj, "slips", w))),
            tuple(BoothGoodsPass.parse(_object(p, f"{w}.goods_passes[{i}]"),
                                       f"{w}.goods_passes[{i}]")
                  for i, p in enumerate(list_field(obj, "goods_passes", w))),
            tuple(BoothVisitorPass.parse(_object(p, f"{w}.visitor_passes[{i}]"),
                                         f"{w}.visitor_passes[{i}]")
                  for i, p in enumerate(list_field(obj, "visitor_passes", w))),
            tuple(BoothGate.parse(_object(g, f"{w}.gates[{i}]"), f"{w}.gates[{i}]")
                  for i, g in enumerate(gates)),
        )

    def dump(self) -> str:
        """The payload text (to be signed)."""
        return dump({
            "v": VERSION, "type": TYPE, "site": self.site, "booth": self.booth,
            "version": self.version, "issued_at": self.issued_at, "timezone": self.timezone,
            "float_limit_fen": self.float_limit_fen, "tariff": self.tariff.wire(),
            "guards": [g.wire() for g in self.guards],
            "slips": [s.wire() for s in self.slips],
            "goods_passes": [p.wire() for p in self.goods_passes],
            "visitor_passes": [p.wire() for p in self.visitor_passes],
            "gates": [g.wire() for g in self.gates],
        })


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object")
    return value
