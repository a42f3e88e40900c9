"""Visitors, rules H7 and G5: the temporary pass (at most three days) and temporary parking
permit (at most seven), a visitor invited by a resident confirmed by that resident, and the
gate's visitor register — name, ID number, plate, time in, items — whose ID numbers are shown
only as the viewer's role allows (central/services/privacy.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Self

from sqlalchemy import select

from central.clock import zone
from central.form_fields import Day, Id, Instant, Integer, Names, Nested, Text, Uid
from central.form_input import FormInput
from central.forms import FormReader
from central.models import (
    RESIDENT_KINDS,
    Card,
    ConfirmationMethod,
    Gate,
    HolderKind,
    Person,
    RegisterAction,
    Role,
    TemporaryParkingPermit,
    VisitorPass,
    VisitorRegistration,
)
from central.refusals import (
    ConflictError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    RuleRefused,
)
from central.services.card_activation import access_groups, activate, blank_card
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.inputs import PersonDetails, SignOff
from central.services.parking_space import Plate
from central.services.privacy import id_number_for
from central.services.register import write_register

# Who hands out passes: the desk, and the guards at the main gate (seed 003).
PASS_ISSUERS = DESK_ROLES | {Role.GUARD}
# A confirmation stamped a little ahead of the server's clock is a clock skew, not fraud.
_CLOCK_SLACK = timedelta(minutes=5)


def _not_past(day: date, act: Action, field: str) -> None:
    if day < act.today:
        raise InvalidInputError([FieldError(field, "不能早于今天", "cannot be a day already past")])


def _not_future(at: datetime, act: Action, field: str) -> None:
    if at > act.now + _CLOCK_SLACK:
        raise InvalidInputError([FieldError(field, "不能晚于现在", "cannot be in the future")])


def _resident(act: Action, person_id: int, field: str) -> Person:
    """A resident of a current household at the action's site."""
    person = act.session.get(Person, person_id)
    if person is None or person.site_id != act.site.id:
        raise NotFoundError("没有此人的登记资料", f"no person {person_id}", field)
    if (person.holder_kind not in RESIDENT_KINDS or person.household is None
            or not person.household.is_current):
        # Rule H7: a visitor is invited and confirmed by a resident, and a temporary parking
        # permit is a resident's (seed 003: 居民可以向物业申请临时停车证).
        raise RuleRefused("H7", f"{person.name} 不是本小区现住户", f"{person.name} is not a "
                          "current resident", field)
    return person


@dataclass(frozen=True)
class ResidentConfirmation(FormInput):
    """Rule H7: the inviting resident confirms the visitor — who, how, when."""

    person_id: Annotated[int, Integer(min=1, doc="the inviting resident themself")]
    method: ConfirmationMethod
    confirmed_at: Annotated[datetime, Instant(doc="with its UTC offset")]


def _in_order(form: FormReader, valid_from: date, valid_until: date) -> None:
    if form.present("valid_from") and form.present("valid_until") and valid_until < valid_from:
        form.fail("valid_until", "不能早于开始日期", "before valid_from")


@dataclass(frozen=True)
class IssueVisitorPass(FormInput):
    """A temporary pass (临时通行证), on a lent card when ``card_uid`` is given."""

    visitor: PersonDetails
    valid_from: Annotated[date, Day(doc="today or later")]
    valid_until: Annotated[date, Day(doc="inclusive; at most three days in all (H7)")]
    invited_by_person_id: Annotated[int | None, Integer(
        min=1, doc="the resident who invites")] = None
    confirmation: Annotated[ResidentConfirmation | None, Nested(
        doc="needed when a resident invites (H7)")] = None
    card_uid: Annotated[str | None, Uid(doc="a blank card lent for the pass")] = None
    # Empty: the inviting resident's building.
    access_groups: Annotated[tuple[str, ...], Names(
        doc="for the card; empty: the inviting resident's building")] = ()
    signoff: Annotated[SignOff | None, Nested(doc="the visitor signs for a card (I1)")] = None

    def cross_check(self, form: FormReader) -> Self:
        """The end is not before the start."""
        _in_order(form, self.valid_from, self.valid_until)
        return self


@dataclass(frozen=True)
class VisitorPassResult:
    """The pass written; the visitor's ID number as the issuer's role may see it (G5)."""

    pass_id: int
    visitor_person_id: int
    visitor_name: str
    id_number: str
    valid_from: date
    valid_until: date
    card_uid: str | None


def issue_visitor_pass(desk: Desk, actor: Actor, inp: IssueVisitorPass) -> VisitorPassResult:
    """Issue a visitor's temporary pass (rule H7), on a temporary card when ``card_uid`` is
    given (valid exactly as long as the pass; no card fee: it is lent).

    Refused under H7 when longer than the site's maximum (three days, the first and last day
    counted), or when a resident invites and the confirmation is missing or comes from
    someone else; I6 when the card is not blank; I1 when the card is not signed for.
    """
    with action(desk) as act:
        _staff, _site = act.authorise(actor, PASS_ISSUERS)
        _not_past(inp.valid_from, act, "valid_from")
        max_days = act.site.settings.visitor_pass_max_days
        days = (inp.valid_until - inp.valid_from).days + 1
        if days > max_days:
            raise RuleRefused("H7", f"临时通行证有效期不超过 {max_days} 天（本次 {days} 天）",
                              f"a temporary pass is valid at most {max_days} days "
                              f"(this one {days})", "valid_until")
        inviter = None
        if inp.invited_by_person_id is not None:
            inviter = _resident(act, inp.invited_by_person_id, "invited_by_person_id")
            confirmation = inp.confirmation
            if confirmation is None or confirmation.person_id != inviter.id:
                raise RuleRefused("H7", f"由住户邀请的访客须经邀请人 {inviter.name} 本人确认",
                                  f"a visitor invited by a resident is confirmed by that "
                                  f"resident, {inviter.name}", "confirmation")
            _not_future(confirmation.confirmed_at, act, "confirmation.confirmed_at")
        visitor = Person(site_id=act.site.id, name=inp.visitor.name,
                         holder_kind=HolderKind.VISITOR, id_number=inp.visitor.id_number,
                         phone=inp.visitor.phone, organisation=inp.visitor.organisation,
                         created_at=act.now)
        act.session.add(visitor)
        act.session.flush()
        card = None
        if inp.card_uid is not None:
            if inp.signoff is None:
                raise RuleRefused("I1", "领取临时卡须在《IC卡发行/异常情况登记表》上签名",
                                  "the visitor signs the IC card register for the card",
                                  "signoff")
            card = blank_card(act, inp.card_uid, "card_uid")
            groups = access_groups(act, inp.access_groups, "access_groups")
            if not groups and inviter is not None and inviter.household is not None:
                groups = list(inviter.household.unit.building.default_access_groups)
            if not groups:
                raise InvalidInputError([FieldError(
                    "access_groups", "无邀请住户时须指定门禁组",
                    "name the access groups when no resident invites")])
            activate(act, card, holder=visitor, kind=HolderKind.VISITOR,
                     valid_until=inp.valid_until, groups=groups)
            card.valid_from = inp.valid_from
            write_register(act, card, RegisterAction.ISSUE, inp.signoff,
                           detail=f"visitor pass {inp.valid_from}..{inp.valid_until}")
        confirmation = inp.confirmation if inviter is not None else None
        row = VisitorPass(
            site_id=act.site.id, visitor_person_id=visitor.id,
            invited_by_person_id=inviter.id if inviter is not None else None,
            confirmed_by_person_id=confirmation.person_id if confirmation else None,
            confirmation_method=confirmation.method if confirmation else None,
            confirmed_at=confirmation.confirmed_at if confirmation else None,
            card_id=card.id if card is not None else None, valid_from=inp.valid_from,
            valid_until=inp.valid_until, issued_by_staff_id=act.staff.id, created_at=act.now)
        act.session.add(row)
        act.session.flush()
        return VisitorPassResult(row.id, visitor.id, visitor.name,
                                 id_number_for(act.role, visitor.id_number), row.valid_from,
                                 row.valid_until, card.uid if card is not None else None)


@dataclass(frozen=True)
class IssueParkingPermit(FormInput):
    """A temporary parking permit (临时停车证) a resident asks for (H7)."""

    plate: Plate
    host_person_id: Annotated[int, Integer(min=1, doc="the resident asking")]
    valid_from: Annotated[date, Day(doc="today or later")]
    valid_until: Annotated[date, Day(doc="inclusive; at most seven days in all (H7)")]
    visitor_pass_id: Id | None = None

    def cross_check(self, form: FormReader) -> Self:
        """The end is not before the start."""
        _in_order(form, self.valid_from, self.valid_until)
        return self


def issue_parking_permit(desk: Desk, actor: Actor, inp: IssueParkingPermit) -> int:
    """Issue a temporary parking permit for a resident's visitor (rule H7); its id.

    Refused under H7 when longer than the site's maximum (seven days, both ends counted).
    The permit is returned before it runs out (``return_parking_permit``).
    """
    with action(desk) as act:
        act.authorise(actor, PASS_ISSUERS)
        _not_past(inp.valid_from, act, "valid_from")
        max_days = act.site.settings.temp_parking_max_days
        days = (inp.valid_until - inp.valid_from).days + 1
        if days > max_days:
            raise RuleRefused("H7", f"临时停车证使用期限不超过 {max_days} 天（本次 {days} 天）",
                              f"a temporary parking permit lasts at most {max_days} days "
                              f"(this one {days})", "valid_until")
        host = _resident(act, inp.host_person_id, "host_person_id")
        if inp.visitor_pass_id is not None:
            visitor_pass = act.session.get(VisitorPass, inp.visitor_pass_id)
            if visitor_pass is None or visitor_pass.site_id != act.site.id:
                raise NotFoundError("没有此通行证", f"no visitor pass {inp.visitor_pass_id}",
                                    "visitor_pass_id")
        permit = TemporaryParkingPermit(
            site_id=act.site.id, plate=inp.plate, visitor_pass_id=inp.visitor_pass_id,
            host_person_id=host.id, valid_from=inp.valid_from, valid_until=inp.valid_until,
            issued_by_staff_id=act.staff.id, created_at=act.now)
        act.session.add(permit)
        act.session.flush()
        return permit.id


def return_parking_permit(desk: Desk, actor: Actor, permit_id: int) -> None:
    """Record a temporary parking permit handed back."""
    with action(desk) as act:
        act.authorise(actor, PASS_ISSUERS)
        permit = act.session.get(TemporaryParkingPermit, permit_id)
        if permit is None or permit.site_id != act.site.id:
            raise NotFoundError("没有此停车证", f"no parking permit {permit_id}", "permit_id")
        if permit.returned_at is not None:
            raise ConflictError("此停车证已归还", "this permit has been returned", "permit_id")
        permit.returned_at = act.now


@dataclass(frozen=True)
class RegisterVisitor(FormInput):
    """The guard's registration of a visitor: a line of the gate's visitor register (rule
    G5); the time defaults to now, the items to none."""

    name: Annotated[str, Text(max=100)]
    id_number: Annotated[str | None, Text(max=32, doc="the ID shown; missing is refused by "
                                                      "rule G5")] = None
    plate: Plate | None = None
    items: Annotated[str, Text(max=500, doc="what the visitor carries")] = ""
    time_in: Annotated[datetime | None, Instant(doc="default now")] = None
    gate_code: Annotated[str | None, Text(max=64, doc="the gate (site.toml code)")] = None
    visitor_pass_id: Id | None = None


@dataclass(frozen=True)
class VisitorRegistrationView:
    """One line of the visitor register; ``id_number`` as the viewer's role may see it."""

    registration_id: int
    name: str
    id_number: str
    plate: str | None
    items: str
    time_in: datetime
    time_out: datetime | None
    gate_id: int | None


def _view(row: VisitorRegistration, role: Role) -> VisitorRegistrationView:
    return VisitorRegistrationView(row.id, row.name, id_number_for(role, row.id_number),
                                   row.plate, row.items, row.time_in, row.time_out, row.gate_id)


def register_visitor(desk: Desk, actor: Actor, inp: RegisterVisitor) -> VisitorRegistrationView:
    """Register a visitor at the gate (rule G5): refused under G5 without the ID number the
    visitor shows. What is returned shows the ID only as the guard's role allows."""
    with action(desk) as act:
        _staff, _site = act.authorise(actor, DESK_ROLES | {Role.GUARD})
        if not inp.id_number:
            raise RuleRefused("G5", "访客登记须查验并登记有效身份证件号码",
                              "a visitor is registered with the number of the ID shown",
                              "id_number")
        time_in = inp.time_in or act.now
        _not_future(time_in, act, "time_in")
        gate_id = None
        if inp.gate_code is not None:
            gate = act.session.scalars(select(Gate).where(
                Gate.site_id == act.site.id, Gate.code == inp.gate_code)).one_or_none()
            if gate is None:
                raise NotFoundError(f"没有门岗 {inp.gate_code}", f"no gate {inp.gate_code!r}",
                                    "gate_code")
            gate_id = gate.id
        row = VisitorRegistration(site_id=act.site.id, gate_id=gate_id,
                                  guard_staff_id=act.staff.id, name=inp.name,
                                  id_number=inp.id_number, plate=inp.plate, items=inp.items,
                                  time_in=time_in, visitor_pass_id=inp.visitor_pass_id)
        act.session.add(row)
        act.session.flush()
        return _view(row, act.role)


def record_visitor_exit(desk: Desk, actor: Actor, registration_id: int) -> None:
    """The visitor left: stamp the time out."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        row = act.session.get(VisitorRegistration, registration_id)
        if row is None or row.site_id != act.site.id:
            raise NotFoundError("没有此登记", f"no registration {registration_id}",
                                "registration_id")
        if row.time_out is not None:
            raise ConflictError("已登记离开", "already left", "registration_id")
        row.time_out = act.now


def visitor_register(desk: Desk, actor: Actor, day: date) -> tuple[VisitorRegistrationView, ...]:
    """The visitors registered on ``day`` (site-local), oldest first; ID numbers masked
    unless the viewer's role needs them in full (rule G5)."""
    with action(desk) as act:
        _staff, site = act.authorise(actor, frozenset(Role))
        tz = zone(site.timezone)
        start = datetime.combine(day, time(0), tz)
        end = datetime.combine(day + timedelta(days=1), time(0), tz)
        rows = act.session.scalars(select(VisitorRegistration).where(
            VisitorRegistration.site_id == site.id, VisitorRegistration.time_in >= start,
            VisitorRegistration.time_in < end)
            .order_by(VisitorRegistration.time_in, VisitorRegistration.id))
        return tuple(_view(row, act.role) for row in rows)


@dataclass(frozen=True)
class PermitView:
    """A temporary parking permit not yet handed back."""

    permit_id: int
    plate: str
    host_name: str
    unit: str
    valid_from: date
    valid_until: date
    overdue: bool  # past its last day and still out


def permits_out(desk: Desk, actor: Actor) -> tuple[PermitView, ...]:
    """The temporary parking permits not yet handed back, oldest first."""
    with action(desk) as act:
        act.authorise(actor, PASS_ISSUERS)
        out = []
        for permit in act.session.scalars(select(TemporaryParkingPermit).where(
                TemporaryParkingPermit.site_id == act.site.id,
                TemporaryParkingPermit.returned_at.is_(None))
                .order_by(TemporaryParkingPermit.id).limit(500)):
            host = (act.session.get(Person, permit.host_person_id)
                    if permit.host_person_id is not None else None)
            unit = (host.household.unit.label
                    if host is not None and host.household is not None else "")
            out.append(PermitView(permit.id, permit.plate, host.name if host else "", unit,
                                  permit.valid_from, permit.valid_until,
                                  permit.valid_until < act.today))
        return tuple(out)


@dataclass(frozen=True)
class PassView:
    """A visitor's temporary pass valid on a day; the ID number as the viewer may see it."""

    pass_id: int
    visitor_name: str
    id_number: str
    invited_by: str
    valid_from: date
    valid_until: date
    card_uid: str | None


def passes_valid_on(desk: Desk, actor: Actor, day: date) -> tuple[PassView, ...]:
    """The visitors' passes valid on ``day``, newest first (ID numbers masked, G5)."""
    with action(desk) as act:
        _staff, _site = act.authorise(actor, PASS_ISSUERS)
        out = []
        for row in act.session.scalars(select(VisitorPass).where(
                VisitorPass.site_id == act.site.id, VisitorPass.valid_from <= day,
                VisitorPass.valid_until >= day).order_by(VisitorPass.id.desc()).limit(500)):
            visitor = act.session.get(Person, row.visitor_person_id)
            inviter = (act.session.get(Person, row.invited_by_person_id)
                       if row.invited_by_person_id is not None else None)
            card = act.session.get(Card, row.card_id) if row.card_id is not None else None
            out.append(PassView(row.id, visitor.name if visitor else "",
                                id_number_for(act.role, visitor.id_number if visitor
                                              else None),
                                inviter.name if inviter else "", row.valid_from,
                                row.valid_until, card.uid if card is not None else None))
        return tuple(out)
