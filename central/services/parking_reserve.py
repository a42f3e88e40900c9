"""Emergency reserve spaces (地面紧急备用车位), rule P5: only for vehicles the owner unit
(业主单位) or the management office (管理处) names in advance — the owner unit's leaders'
cars, the cars the owner unit announces, the management office's guests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Self

from sqlalchemy import or_, select

from central.form_fields import Day, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import NamedBy, ReservedSpaceVehicle, Role
from central.refusals import FieldError, InvalidInputError, RuleRefused
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.parking_space import Plate, normalize_plate


def named_reserve_vehicle(act: Action, plate: str, day: date) -> ReservedSpaceVehicle | None:
    """The naming that lets ``plate`` use a reserve space on ``day``, if there is one."""
    return act.session.scalars(select(ReservedSpaceVehicle).where(
        ReservedSpaceVehicle.site_id == act.site.id, ReservedSpaceVehicle.plate == plate,
        ReservedSpaceVehicle.valid_from <= day,
        or_(ReservedSpaceVehicle.valid_until.is_(None), ReservedSpaceVehicle.valid_until >= day))
        .order_by(ReservedSpaceVehicle.id)).first()


@dataclass(frozen=True)
class NameReserveVehicle(FormInput):
    """Rule P5: a vehicle named in advance for the emergency reserve spaces: by whom (owner
    unit or management office), the name of who named it, and from/until when."""

    plate: Plate
    named_by: NamedBy
    named_by_name: Annotated[str, Text(max=100, doc="who named it")]
    valid_from: Annotated[date, Day(doc="today or later: named in advance")]
    valid_until: Annotated[date | None, Day(doc="inclusive; absent: until withdrawn")] = None

    def cross_check(self, form: FormReader) -> Self:
        """The end is not before the start."""
        if self.valid_until is not None and self.valid_until < self.valid_from:
            form.fail("valid_until", "不能早于开始日期", "before valid_from")
        return self


def name_reserve_vehicle(desk: Desk, actor: Actor, inp: NameReserveVehicle) -> int:
    """Record a vehicle named in advance for the emergency reserve spaces (rule P5); its
    id. "In advance": the naming cannot start on a day already past."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        if inp.valid_from < act.today:
            raise InvalidInputError([FieldError("valid_from", "须事先指定，不能倒填日期",
                                                "named in advance: not a day already past")])
        row = ReservedSpaceVehicle(site_id=act.site.id, plate=inp.plate, named_by=inp.named_by,
                                   named_by_name=inp.named_by_name, valid_from=inp.valid_from,
                                   valid_until=inp.valid_until, created_by_staff_id=act.staff.id,
                                   created_at=act.now)
        act.session.add(row)
        act.session.flush()
        return row.id


@dataclass(frozen=True)
class ReserveAdmission:
    """Why a vehicle may use a reserve space: who named it, and until when."""

    plate: str
    named_by: NamedBy
    named_by_name: str
    valid_until: date | None


def admit_to_reserve_space(desk: Desk, actor: Actor, plate: str) -> ReserveAdmission:
    """The gate's question (guard or desk): may this vehicle park on a reserve space today?

    Refused under P5 unless the owner unit or the management office named it in advance;
    every other vehicle is turned away (其余车辆一律不能停放). Writes nothing.
    """
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        canonical = normalize_plate(plate)
        naming = named_reserve_vehicle(act, canonical, act.today)
        if naming is None:
            raise RuleRefused("P5", f"车辆 {canonical} 未经业主单位或管理处事先指定，"
                              "不能停放地面紧急备用车位",
                              f"{canonical} was not named in advance by the owner unit or the "
                              "management office: it may not use an emergency reserve space",
                              "plate")
        return ReserveAdmission(canonical, naming.named_by, naming.named_by_name,
                                naming.valid_until)


@dataclass(frozen=True)
class ReserveNaming:
    """A vehicle named for the reserve spaces, as the desk lists it."""

    id: int
    plate: str
    named_by: NamedBy
    named_by_name: str
    valid_from: date
    valid_until: date | None
    current: bool  # the naming lets the vehicle in today


def reserve_namings(desk: Desk, actor: Actor) -> list[ReserveNaming]:
    """The vehicles named for the emergency reserve spaces (rule P5) that have not run out,
    newest first: today's and those named ahead. Writes nothing."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        today = act.today
        rows = session.scalars(select(ReservedSpaceVehicle).where(
            ReservedSpaceVehicle.site_id == act.site.id,
            or_(ReservedSpaceVehicle.valid_until.is_(None),
                ReservedSpaceVehicle.valid_until >= today))
            .order_by(ReservedSpaceVehicle.id.desc()))
        return [ReserveNaming(r.id, r.plate, r.named_by, r.named_by_name, r.valid_from,
                              r.valid_until, r.valid_from <= today) for r in rows]
