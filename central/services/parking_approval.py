"""The approvals of a monthly parking card, rule P3. The office director's sets the fee
standard and the space type, and a fixed space's number is recorded; an emergency reserve
space goes only to a vehicle named in advance (rule P5). The owner unit (业主单位) signs the
application too (seed 000 4.1.1: 核实填写内容后送业主单位及管理处主任审批): the desk records
who signed there and when, and no month is paid before it where the site keeps that step
(``parking_owner_unit_approval``, on by default; central/services/parking.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Self

from sqlalchemy import select

from central.form_fields import Id, Instant, Text, Yuan
from central.form_input import FormInput
from central.forms import FormReader
from central.models import ParkingSpace, ParkingSubscription, Role, SpaceKind
from central.refusals import (
    ConflictError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    RuleRefused,
)
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.parking_reserve import named_reserve_vehicle


@dataclass(frozen=True)
class ApproveParking(FormInput):
    """Rule P3: the office director's approval sets the monthly fee and the space type;
    a fixed space's number is recorded. A reserve space needs a vehicle named in advance
    (P5)."""

    subscription_id: Id
    fee_per_month_fen: Annotated[int, Yuan(key="fee_per_month_yuan", positive=True)]
    space_kind: SpaceKind
    space_number: Annotated[str | None, Text(max=32, doc="needed for fixed")] = None
    note: Annotated[str, Text(max=500)] = ""

    def cross_check(self, form: FormReader) -> Self:
        """No visitor space by the month."""
        if self.space_kind is SpaceKind.VISITOR:
            form.fail("space_kind", "访客车位不办理月卡", "visitor spaces are not let by the month")
        return self


def _not_the_director(role: Role) -> RuleRefused:
    return RuleRefused("P3", "停车月卡须经管理处主任审批，由主任确定收费标准及车位性质",
                       "a monthly parking card is approved by the office director, "
                       f"who sets the fee and the space type — not a {role.value}")


def approve_parking(desk: Desk, actor: Actor, inp: ApproveParking) -> None:
    """Rule P3 (and P5): the office director approves a monthly parking application.

    Refused under P3 for anyone but the director, or a fixed space without its number; under
    P5 for an emergency reserve space whose vehicle was not named in advance by the owner
    unit or the management office.
    """
    with action(desk) as act:
        staff, _site = act.authorise(actor, frozenset({Role.DIRECTOR}),
                                     refusal=_not_the_director)
        sub = _subscription(act, inp.subscription_id)
        if sub.approved_at is not None:
            raise ConflictError("此申请已审批", "this application is already approved",
                                "subscription_id")
        space = _approved_space(act, inp)
        if inp.space_kind is SpaceKind.EMERGENCY_RESERVE and named_reserve_vehicle(
                act, sub.vehicle.plate, act.today) is None:
            raise RuleRefused("P5", f"车辆 {sub.vehicle.plate} 未经业主单位或管理处事先指定，"
                              "不能使用地面紧急备用车位",
                              f"{sub.vehicle.plate} was not named in advance by the owner unit "
                              "or the management office: no emergency reserve space",
                              "space_kind")
        sub.fee_per_month_fen = inp.fee_per_month_fen
        sub.space_kind = inp.space_kind
        sub.space_id = space.id if space is not None else None
        sub.approved_by_staff_id, sub.approved_at = staff.id, act.now


def _subscription(act: Action, subscription_id: int) -> ParkingSubscription:
    """A running (not ended) subscription of the action's site."""
    sub = act.session.get(ParkingSubscription, subscription_id)
    if sub is None or sub.site_id != act.site.id:
        raise NotFoundError("没有此停车申请", f"no parking application {subscription_id}",
                            "subscription_id")
    if sub.ended_on is not None:
        raise ConflictError("此申请已结束", "this application has ended", "subscription_id")
    return sub


def _approved_space(act: Action, inp: ApproveParking) -> ParkingSpace | None:
    if inp.space_number is None:
        if inp.space_kind is SpaceKind.FIXED:
            raise RuleRefused("P3", "固定车位须在《车位使用申请表》上填写车位号",
                              "a fixed space's number is recorded", "space_number")
        return None
    space = act.session.scalars(select(ParkingSpace).where(
        ParkingSpace.site_id == act.site.id,
        ParkingSpace.number == inp.space_number)).one_or_none()
    if space is None:
        raise NotFoundError(f"没有车位 {inp.space_number}", f"no space {inp.space_number}",
                            "space_number")
    if space.kind is not inp.space_kind:
        raise ConflictError(f"车位 {space.number} 是{space.kind.value}车位",
                            f"space {space.number} is a {space.kind.value} space",
                            "space_number")
    if space.kind is SpaceKind.FIXED and act.session.scalars(select(ParkingSubscription).where(
            ParkingSubscription.space_id == space.id,
            ParkingSubscription.ended_on.is_(None))).first() is not None:
        raise ConflictError(f"固定车位 {space.number} 已有使用人",
                            f"fixed space {space.number} is already let", "space_number")
    return space


@dataclass(frozen=True)
class RecordOwnerUnitApproval(FormInput):
    """Seed 000: the owner unit (业主单位) signs the 《车位使用申请表》 as well as the
    director (P3): who signed there, when, and where the signed form is."""

    subscription_id: Id
    signer_name: Annotated[str, Text(max=100)]
    signed_at: Annotated[datetime, Instant(doc="with its UTC offset")]
    reference: Annotated[str, Text(doc="the signed form's number or place")]


def record_owner_unit_approval(desk: Desk, actor: Actor, inp: RecordOwnerUnitApproval) -> None:
    """The desk (客服中心, which takes the form to the owner unit) records the owner unit's
    approval of a monthly parking application (rule P3, seed 000)."""
    with action(desk) as act:
        staff, _site = act.authorise(actor, DESK_ROLES)
        sub = _subscription(act, inp.subscription_id)
        if sub.owner_unit_signed_at is not None:
            raise ConflictError("业主单位已审批此申请", "the owner unit's approval is already "
                                "recorded", "subscription_id")
        if inp.signed_at > act.now + timedelta(minutes=5):
            raise InvalidInputError([FieldError("signed_at", "不能晚于现在",
                                                "cannot be in the future")])
        sub.owner_unit_signer, sub.owner_unit_signed_at = inp.signer_name, inp.signed_at
        sub.owner_unit_reference, sub.owner_unit_recorded_by_staff_id = inp.reference, staff.id
