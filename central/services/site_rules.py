"""The site's rules every gate applies offline (issue 12), kept at the desk: the policy for
a monthly card whose paid month has run out, per space kind (rule P2 at the lane); the car
parks' spaces per class; the holiday calendar; the gates' timed modes.

The administrator or the office director edits them (``RULES_EDITORS``); every desk role
reads them. ``site_rules_payloads`` builds each site's ``edge.site_rules.SiteRules``, which
the hub signs and publishes retained (sync/hub/site_rules_publisher.py); the gates judge by
it with the desk and the network down.

The version is the desk's: a session hook (central/models/site_rules.py) raises a site's
``site_rules_versions`` row in the transaction of any write to its rules (an edit here,
``load-site`` adding a car park) — always newer, so a gate keeping only newer versions takes
each change once, and a desk restored from a backup still publishes versions newer than the
gates hold. A site whose rules were never written has version 0 and
the content of ``edge.site_rules.DEFAULT``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Self

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.form_fields import Choice, Day, Integer, Schedule, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import (
    Gate,
    Holiday,
    Lot,
    ParkingPolicySetting,
    Role,
    Site,
    SiteRulesVersion,
    SpaceKind,
    TimedMode,
)
from central.refusals import FieldError, InvalidInputError, NotFoundError
from central.services.context import Actor, Desk, action, reading
from edge.cards import parse_schedule
from edge.site_rules import (
    DEFAULT_POLICY,
    DayKind,
    ExpiredPolicy,
    ParkingPolicy,
    SiteRules,
    SpaceClass,
    TimedModeKind,
)
from edge.site_rules import Lot as WireLot
from edge.site_rules import TimedMode as WireTimedMode

# Who changes what every gate does: the administrator who set the site up, and the office
# director who answers for the car park (rules P2, P3).
RULES_EDITORS = frozenset({Role.ADMIN, Role.DIRECTOR})
RULES_READERS = frozenset(Role)
# The space kinds a monthly card can hold (a visitor space carries no subscription).
POLICY_KINDS = (SpaceKind.FIXED, SpaceKind.FLOATING, SpaceKind.EMERGENCY_RESERVE)
MAX_DAYS = 366  # as edge.site_rules reads grace_days and remind_days
MAX_SPACES = 1_000_000
SCHEDULE_HELP = ("weekly hours as the gates read them, e.g. `Mon-Fri 07:00-09:00`; `Hol` is "
                 "a holiday of the calendar")


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class SetParkingPolicy(FormInput):
    """What the lanes do with a monthly card of one space kind after its paid month."""

    space_kind: Annotated[SpaceKind, Choice(label="Space kind")]
    expired: Annotated[ExpiredPolicy, Choice(
        label="When the paid month has run out",
        doc="refuse: refused at the lane; temporary: let in as a temporary car, charged at "
            "the exit booth; guard: the guard at the booth confirms")]
    grace_days: Annotated[int, Integer(min=0, max=MAX_DAYS, label="Grace days",
                                       doc="days after the paid month still let in")] = 0
    remind_days: Annotated[int, Integer(
        min=0, max=MAX_DAYS, label="Remind when days left",
        doc='the lane shows "月卡剩余N天" when N is at most this')] = 15

    def cross_check(self, form: FormReader) -> Self:
        if self.space_kind not in POLICY_KINDS:
            form.fail("space_kind", "访客车位没有月卡", "a visitor space carries no monthly card")
        return self


@dataclass(frozen=True)
class AddHoliday(FormInput):
    """A date of the holiday calendar (replacing what the calendar said of it)."""

    day: Annotated[date, Day(label="Date")]
    kind: Annotated[DayKind, Choice(
        label="Kind of day",
        doc="holiday: the schedules' `Hol` windows; workday: a weekend day worked (调休上班), "
            "the Monday–Friday windows")]
    note: Annotated[str, Text(max=100, label="Note", doc="e.g. 国庆节")] = ""


@dataclass(frozen=True)
class RemoveHoliday(FormInput):
    """A date taken off the holiday calendar."""

    day: Annotated[date, Day(label="Date")]


@dataclass(frozen=True)
class SetLotSpaces(FormInput):
    """A car park's spaces per class (the lanes count against them)."""

    lot: Annotated[str, Text(max=64, label="Car park")]
    fixed: Annotated[int, Integer(min=0, max=MAX_SPACES, label="Fixed spaces")]
    monthly: Annotated[int, Integer(min=0, max=MAX_SPACES, label="Monthly spaces")]
    temporary: Annotated[int, Integer(min=0, max=MAX_SPACES, label="Temporary spaces")]


@dataclass(frozen=True)
class AddTimedMode(FormInput):
    """A mode a gate takes on by itself inside weekly windows."""

    gate: Annotated[str, Text(max=64, label="Gate", doc="the gate's code, e.g. `b1-lobby`")]
    schedule: Annotated[str, Schedule(label="Hours", doc=SCHEDULE_HELP)]
    mode: Annotated[TimedModeKind, Choice(
        label="Mode", doc="hold_open: the door unlocked, the arm up; monthly_only: a lane "
                          "admits monthly and fixed-space cards only")]
    note: Annotated[str, Text(max=100, label="Note")] = ""


@dataclass(frozen=True)
class RemoveTimedMode(FormInput):
    """A timed mode taken away."""

    id: Annotated[int, Integer(min=1, label="Timed mode")]


# ------------------------------------------------------------------ what the pages show


@dataclass(frozen=True)
class PolicyLine:
    """One space kind's policy, ``stated`` when the site set it (else the default)."""

    space_kind: SpaceKind
    policy: ParkingPolicy
    stated: bool


@dataclass(frozen=True)
class LotLine:
    """A car park as the desk shows it."""

    code: str
    name: str
    gates: tuple[str, ...]
    fixed: int
    monthly: int
    temporary: int


@dataclass(frozen=True)
class HolidayLine:
    """A date of the calendar."""

    day: date
    kind: DayKind
    note: str


@dataclass(frozen=True)
class TimedModeLine:
    """A gate's timed mode."""

    id: int
    gate: str
    gate_name: str
    schedule: str
    mode: TimedModeKind
    note: str


@dataclass(frozen=True)
class SiteRulesView:
    """Everything the settings page shows of one site's rules."""

    version: int
    policies: tuple[PolicyLine, ...]
    lots: tuple[LotLine, ...]
    holidays: tuple[HolidayLine, ...]
    timed_modes: tuple[TimedModeLine, ...]
    gates: tuple[tuple[str, str], ...]  # (code, name) of the site's gates, for the forms


def _version(session: Session, site_id: int) -> int:
    row = session.get(SiteRulesVersion, site_id)
    return row.version if row is not None else 0


def _policies(session: Session, site_id: int) -> dict[SpaceKind, ParkingPolicy]:
    return {row.space_kind: ParkingPolicy(row.expired, row.grace_days, row.remind_days)
            for row in session.scalars(select(ParkingPolicySetting).where(
                ParkingPolicySetting.site_id == site_id))}


def _lots(session: Session, site_id: int) -> list[Lot]:
    return list(session.scalars(select(Lot).where(Lot.site_id == site_id).order_by(Lot.code)))


def _holidays(session: Session, site_id: int) -> list[Holiday]:
    return list(session.scalars(select(Holiday).where(Holiday.site_id == site_id)
                                .order_by(Holiday.day)))


def _timed_modes(session: Session, site_id: int) -> list[TimedMode]:
    return list(session.scalars(select(TimedMode).where(TimedMode.site_id == site_id)
                                .order_by(TimedMode.id)))


def site_rules_view(desk: Desk, actor: Actor) -> SiteRulesView:
    """The actor's site's rules as the settings page shows them."""
    with reading(desk, actor, RULES_READERS) as act:
        s, site_id = act.session, act.site.id
        stated = _policies(s, site_id)
        return SiteRulesView(
            version=_version(s, site_id),
            policies=tuple(PolicyLine(kind, stated.get(kind, DEFAULT_POLICY), kind in stated)
                           for kind in POLICY_KINDS),
            lots=tuple(LotLine(lot.code, lot.name, tuple(g.code for g in lot.gates),
                               lot.spaces_fixed, lot.spaces_monthly, lot.spaces_temporary)
                       for lot in _lots(s, site_id)),
            holidays=tuple(HolidayLine(h.day, h.kind, h.note) for h in _holidays(s, site_id)),
            timed_modes=tuple(TimedModeLine(m.id, m.gate.code, m.gate.name, m.schedule, m.mode,
                                            m.note) for m in _timed_modes(s, site_id)),
            gates=tuple((g.code, g.name) for g in s.scalars(
                select(Gate).where(Gate.site_id == site_id).order_by(Gate.code))),
        )


# ------------------------------------------------------------------ edits


def set_parking_policy(desk: Desk, actor: Actor, inp: SetParkingPolicy) -> None:
    """Set the policy of one space kind's monthly cards."""
    with action(desk) as act:
        act.authorise(actor, RULES_EDITORS)
        row = act.session.scalars(select(ParkingPolicySetting).where(
            ParkingPolicySetting.site_id == act.site.id,
            ParkingPolicySetting.space_kind == inp.space_kind)).one_or_none()
        if row is None:
            row = ParkingPolicySetting(site_id=act.site.id, space_kind=inp.space_kind)
            act.session.add(row)
        row.expired, row.grace_days, row.remind_days = (inp.expired, inp.grace_days,
                                                        inp.remind_days)


def add_holiday(desk: Desk, actor: Actor, inp: AddHoliday) -> None:
    """Put a date on the holiday calendar (a date already there takes the new kind)."""
    with action(desk) as act:
        act.authorise(actor, RULES_EDITORS)
        row = act.session.scalars(select(Holiday).where(
            Holiday.site_id == act.site.id, Holiday.day == inp.day)).one_or_none()
        if row is None:
            row = Holiday(site_id=act.site.id, day=inp.day)
            act.session.add(row)
        row.kind, row.note = inp.kind, inp.note


def remove_holiday(desk: Desk, actor: Actor, inp: RemoveHoliday) -> None:
    """Take a date off the holiday calendar: it follows its weekday again."""
    with action(desk) as act:
        act.authorise(actor, RULES_EDITORS)
        row = act.session.scalars(select(Holiday).where(
            Holiday.site_id == act.site.id, Holiday.day == inp.day)).one_or_none()
        if row is None:
            raise NotFoundError(f"节假日历上没有 {inp.day.isoformat()}",
                                f"{inp.day.isoformat()} is not on the holiday calendar", "day")
        act.session.delete(row)


def set_lot_spaces(desk: Desk, actor: Actor, inp: SetLotSpaces) -> None:
    """Set a car park's spaces per class."""
    with action(desk) as act:
        act.authorise(actor, RULES_EDITORS)
        lot = act.session.scalars(select(Lot).where(
            Lot.site_id == act.site.id, Lot.code == inp.lot)).one_or_none()
        if lot is None:
            raise NotFoundError(f"没有代码为 {inp.lot} 的停车场", f"no car park {inp.lot!r}",
                                "lot")
        lot.spaces_fixed, lot.spaces_monthly, lot.spaces_temporary = (
            inp.fixed, inp.monthly, inp.temporary)


def add_timed_mode(desk: Desk, actor: Actor, inp: AddTimedMode) -> int:
    """Give a gate a timed mode; its id."""
    with action(desk) as act:
        act.authorise(actor, RULES_EDITORS)
        gate = act.session.scalars(select(Gate).where(
            Gate.site_id == act.site.id, Gate.code == inp.gate)).one_or_none()
        if gate is None:
            raise InvalidInputError([FieldError("gate", "本小区没有这个门",
                                                f"no gate {inp.gate!r} at this site")])
        row = TimedMode(site_id=act.site.id, gate_id=gate.id, schedule=inp.schedule,
                        mode=inp.mode, note=inp.note)
        act.session.add(row)
        act.session.flush()
        return row.id


def remove_timed_mode(desk: Desk, actor: Actor, inp: RemoveTimedMode) -> None:
    """Take a timed mode away: the gate is back to its normal mode at once."""
    with action(desk) as act:
        act.authorise(actor, RULES_EDITORS)
        row = act.session.get(TimedMode, inp.id)
        if row is None or row.site_id != act.site.id:
            raise NotFoundError("没有这个定时模式", f"no timed mode {inp.id}", "id")
        act.session.delete(row)


# ------------------------------------------------------------------ the payload


def _payload(session: Session, site: Site, now: datetime) -> SiteRules:
    lots = []
    for lot in _lots(session, site.id):
        gates = tuple(g.code for g in lot.gates)
        if gates:  # a car park no lane counts has nothing for the gates
            lots.append(WireLot(id=lot.code, name=lot.name, gates=gates, spaces={
                SpaceClass.FIXED: lot.spaces_fixed, SpaceClass.MONTHLY: lot.spaces_monthly,
                SpaceClass.TEMPORARY: lot.spaces_temporary}))
    return SiteRules(
        site=site.code,
        version=_version(session, site.id),
        issued_at=now.timestamp(),
        parking={kind.value: policy for kind, policy in _policies(session, site.id).items()},
        lots=tuple(lots),
        holidays={h.day: h.kind for h in _holidays(session, site.id)},
        timed_modes=tuple(WireTimedMode(gate=m.gate.code, schedule=parse_schedule(m.schedule),
                                        mode=m.mode) for m in _timed_modes(session, site.id)),
    )


@contextmanager
def _session_of(source: Session | Desk) -> Iterator[Session]:
    if isinstance(source, Desk):
        with source.sessions() as session:
            yield session
    else:
        yield source


def site_rules_payloads(source: Session | Desk, now: datetime, *,
                        site: str | None = None) -> list[SiteRules]:
    """Each site's rules as the gates receive them (one per site, in site order, or only
    ``site``'s), issued ``now``. ``version`` is the desk's (see the module docstring): the
    publisher sends a site's rules whenever it is newer than the version last sent."""
    with _session_of(source) as session:
        query = select(Site).order_by(Site.id)
        if site is not None:
            query = query.where(Site.code == site)
        return [_payload(session, row, now) for row in session.scalars(query)]
