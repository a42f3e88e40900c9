"""Monthly parking: the application with its documents (P1), the office director's approval
setting the fee and the space (P3, P5), the months paid (P2), ending a subscription, and the
emergency reserve spaces — vehicles named in advance and the guard's check at the gate (P5).
Each action is one service call (central/services/parking*.py), one transaction."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from central.api.body import path_uid, query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import (
    IdPath,
    Money,
    UidPath,
)
from central.api.state import api_state
from central.models import NamedBy, SpaceKind
from central.services import parking, parking_approval, parking_reserve

router = protected_router("parking")
PARKING_ERRORS = error_responses(404, 409, 413, 415)
PLATE_DOC = "the plate as written (`粤B·12345`); stored upper case, separators dropped"
APPLY_PARKING_BODY = Body(parking.ApplyParking)
APPROVE_PARKING_BODY = Body(parking_approval.ApproveParking, path=("subscription_id",))
OWNER_UNIT_APPROVAL_BODY = Body(parking_approval.RecordOwnerUnitApproval, path=("subscription_id",),
                                name="OwnerUnitApprovalBody")
TOP_UP_BODY = Body(parking.TopUpParking, path=("uid",), name="TopUpBody")
RESERVE_VEHICLE_BODY = Body(parking_reserve.NameReserveVehicle, name="ReserveVehicleBody")


class ParkingApplicationOut(BaseModel):
    """The subscription opened, awaiting the director's approval (P3), and its card."""

    subscription_id: int
    card_uid: str
    new_card: bool
    card_fee: Money
    receipt_number: int | None


class ApprovalOut(BaseModel):
    """What the director set."""

    subscription_id: int
    fee_per_month: Money
    space_kind: SpaceKind
    space_number: str | None


class TopUpOut(BaseModel):
    """The period paid (inclusive, site-local) and its receipt."""

    uid: str
    paid_from: date
    paid_until: date
    amount: Money
    receipt_number: int


class EndedOut(BaseModel):
    """The card's subscription ended today: the barriers refuse it from now."""

    uid: str
    ended: bool


class ReserveVehicleOut(BaseModel):
    """The naming recorded."""

    id: int
    plate: str
    named_by: NamedBy
    named_by_name: str
    valid_from: date
    valid_until: date | None


class ReserveAdmissionOut(BaseModel):
    """The vehicle may park on a reserve space today: who named it, until when."""

    plate: str
    admitted: bool
    named_by: NamedBy
    named_by_name: str
    valid_until: date | None


@router.post("/parking/subscriptions", status_code=201, responses=PARKING_ERRORS,
             openapi_extra=APPLY_PARKING_BODY.openapi)
def apply_parking(request: Request, actor: ActorDep, body: BodyDep) -> ParkingApplicationOut:
    """Open a monthly parking subscription with its documents checked (P1); a new card
    costs the card fee (I2). No barrier opens before the approval (P3) and payment (P2)."""
    inp = APPLY_PARKING_BODY.read(body)
    result = parking.apply_parking(api_state(request).desk, actor, inp)
    return ParkingApplicationOut(subscription_id=result.subscription_id,
                                 card_uid=result.card_uid, new_card=result.new_card,
                                 card_fee=Money.of(result.card_fee_fen),
                                 receipt_number=result.receipt_number)


@router.post("/parking/subscriptions/{subscription_id}/approve", responses=PARKING_ERRORS,
             openapi_extra=APPROVE_PARKING_BODY.openapi)
def approve_parking(request: Request, actor: ActorDep, subscription_id: IdPath,
                    body: BodyDep) -> ApprovalOut:
    """The office director approves a monthly parking card: fee and space type (P3); an
    emergency reserve space only for a vehicle named in advance (P5)."""
    inp = APPROVE_PARKING_BODY.read(body, subscription_id=subscription_id)
    parking_approval.approve_parking(api_state(request).desk, actor, inp)
    return ApprovalOut(subscription_id=inp.subscription_id,
                       fee_per_month=Money.of(inp.fee_per_month_fen),
                       space_kind=inp.space_kind, space_number=inp.space_number)


class OwnerUnitApprovalOut(BaseModel):
    """The owner unit's approval as recorded."""

    subscription_id: int
    signer_name: str
    signed_at: datetime


@router.post("/parking/subscriptions/{subscription_id}/owner-unit-approval",
             responses=PARKING_ERRORS, openapi_extra=OWNER_UNIT_APPROVAL_BODY.openapi)
def record_owner_unit_approval(request: Request, actor: ActorDep, subscription_id: IdPath,
                               body: BodyDep) -> OwnerUnitApprovalOut:
    """Record the owner unit's signature on a monthly parking application (P3, seed 000);
    no month is paid before it where the site keeps the step."""
    inp = OWNER_UNIT_APPROVAL_BODY.read(body, subscription_id=subscription_id)
    parking_approval.record_owner_unit_approval(api_state(request).desk, actor, inp)
    return OwnerUnitApprovalOut(subscription_id=inp.subscription_id,
                                signer_name=inp.signer_name, signed_at=inp.signed_at)


@router.post("/cards/{uid}/parking/top-ups", status_code=201, responses=PARKING_ERRORS,
             openapi_extra=TOP_UP_BODY.openapi)
def top_up_parking(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> TopUpOut:
    """Take months of parking fees on a card (P2, I7): from today, or from the day after
    the current end when renewed before it lapses. Refused before the approval (P3)."""
    inp = TOP_UP_BODY.read(body, uid=uid)
    result = parking.top_up_parking(api_state(request).desk, actor, inp)
    return TopUpOut(uid=result.uid, paid_from=result.paid_from, paid_until=result.paid_until,
                    amount=Money.of(result.amount_fen), receipt_number=result.receipt_number)


@router.post("/cards/{uid}/parking/end", responses=error_responses(404, 409))
def end_parking(request: Request, actor: ActorDep, uid: UidPath) -> EndedOut:
    """End the card's parking subscription today; the card keeps its doors. Paid months
    are not refunded here."""
    card_uid = path_uid("uid", uid)
    parking.end_parking(api_state(request).desk, actor, parking.EndParking(card_uid))
    return EndedOut(uid=card_uid, ended=True)


@router.post("/parking/reserve-vehicles", status_code=201, responses=PARKING_ERRORS,
             openapi_extra=RESERVE_VEHICLE_BODY.openapi)
def name_reserve_vehicle(request: Request, actor: ActorDep, body: BodyDep) -> ReserveVehicleOut:
    """Record a vehicle the owner unit or the management office names in advance for the
    emergency reserve spaces (P5)."""
    inp = RESERVE_VEHICLE_BODY.read(body)
    row_id = parking_reserve.name_reserve_vehicle(api_state(request).desk, actor, inp)
    return ReserveVehicleOut(id=row_id, plate=inp.plate, named_by=inp.named_by,
                             named_by_name=inp.named_by_name, valid_from=inp.valid_from,
                             valid_until=inp.valid_until)


@router.get("/parking/reserve-admission", responses=error_responses(404))
def check_reserve_admission(
        request: Request, actor: ActorDep,
        plate: Annotated[str | None, Query(description=PLATE_DOC)] = None,
) -> ReserveAdmissionOut:
    """The gate's question: may this vehicle park on an emergency reserve space today? A
    vehicle not named in advance is refused with rule P5. Writes nothing."""
    q = query_reader({"plate": plate})
    # The same reading as the naming form's, so what was named is what is found.
    text = q.text("plate", 16)
    q.finish()
    admission = parking_reserve.admit_to_reserve_space(api_state(request).desk, actor, text)
    return ReserveAdmissionOut(plate=admission.plate, admitted=True,
                               named_by=admission.named_by,
                               named_by_name=admission.named_by_name,
                               valid_until=admission.valid_until)
