"""Monthly parking: the application with its documents and card (P1), the months paid
(P2) once the office director has approved (P3, central/services/parking_approval.py), and
ending.

A subscription rides on a card — the holder's own access card or a new one bought for it —
and the card opens the car-park barriers only for the days paid: the gate record carries the
subscription with its paid-until date (central/services/gate_record.py) from the moment it is
written, and the lane itself judges a period starting or lapsing (rule P2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Self

from sqlalchemy import select

from central.amounts import yuan
from central.calendar import billing_period
from central.form_fields import CardUid, Choice, Id, Integer, Nested, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import (
    ApplicationKind,
    Card,
    CardState,
    ConfirmationMethod,
    EvidenceKind,
    HolderKind,
    HouseholdKind,
    ParkingSubscription,
    ParkingTopUp,
    PaymentMethod,
    Person,
    ReceiptItem,
    RegisterAction,
    SpaceKind,
    Vehicle,
)
from central.refusals import ConflictError, NotFoundError, RuleRefused
from central.services.applications import add_evidence, masked, open_application
from central.services.card_activation import STATE_ZH, activate, blank_card, get_card
from central.services.card_fees import issue_fee
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.id_checks import IdChecks, checking_ids
from central.services.inputs import SignOff
from central.services.other_cards import require_lead_for_staff_card
from central.services.parking_space import Plate, carpark_group, running_subscription
from central.services.receipts import Charge, write_receipt
from central.services.register import write_register
from central.services.validity import valid_until

# Who may hold a monthly parking card (visitors and renovation workers have their own
# temporary permits, rules H6 and H7).
PARKING_HOLDERS = frozenset({HolderKind.OWNER, HolderKind.FAMILY, HolderKind.TENANT,
                             HolderKind.MERCHANT, HolderKind.STAFF})
MAX_MONTHS_PER_TOP_UP = 24


@dataclass(frozen=True)
class ParkingDocuments(FormInput):
    """Rule P1: what the desk checked and filed, by reference to the copies kept."""

    id_number_presented: Annotated[str | None, Text(
        max=32, doc="the ID the applicant shows")] = None
    driving_licence_ref: Annotated[str | None, Text()] = None
    vehicle_licence_ref: Annotated[str | None, Text()] = None
    # Tenants only.
    lease_contract_ref: Annotated[str | None, Text(doc="tenants only")] = None
    # The signed parking-space agreement (车位租用/使用协议).
    parking_agreement_ref: Annotated[str | None, Text(
        doc="the signed space agreement")] = None


@dataclass(frozen=True)
class ApplyParking(FormInput):
    """A monthly parking application (车位使用申请表): holder, vehicle, documents, and the
    card — ``existing_uid`` (the holder's own access card) or ``new_uid`` (a new card
    bought for it), one of the two."""

    holder_person_id: Id
    plate: Plate
    # Absent documents are not a malformed form: rule P1 names the first one missing.
    documents: Annotated[ParkingDocuments, Nested(
        doc="missing documents are refused by rule P1, the first one named")] = \
        ParkingDocuments()
    existing_uid: CardUid | None = None
    new_uid: CardUid | None = None
    space_kind: Annotated[SpaceKind, Choice(doc="asked for; default floating (the director "
                                                "decides, P3)")] = SpaceKind.FLOATING
    holder_signoff: Annotated[SignOff | None, Nested(
        doc="a new card is signed for (I1)")] = None
    payment_method: Annotated[PaymentMethod, Choice(
        doc="for a new card's fee")] = PaymentMethod.CASH

    def cross_check(self, form: FormReader) -> Self:
        """One card, of the two; no visitor space by the month."""
        if (self.existing_uid is None) == (self.new_uid is None):
            form.fail("existing_uid", "请选择使用原门禁卡或购买新卡（二选一）",
                      "give either existing_uid (the holder's access card) or new_uid "
                      "(a new card)")
        if self.space_kind is SpaceKind.VISITOR:
            form.fail("space_kind", "访客车位不办理月卡", "visitor spaces are not let by the month")
        return self


@dataclass(frozen=True)
class ParkingApplication:
    """The subscription opened (awaiting the director's approval, P3) and its card."""

    subscription_id: int
    card_uid: str
    new_card: bool
    card_fee_fen: int
    receipt_number: int | None


def _require(value: str | None, field: str, zh: str, en: str) -> str:
    if not value:
        raise RuleRefused("P1", zh, en, field)
    return value


def _check_documents(act: Action, ids: IdChecks, holder: Person,
                     docs: ParkingDocuments) -> None:
    """Rule P1: ID, driving licence, vehicle licence (tenants also the lease), agreement."""
    presented = _require(docs.id_number_presented, "documents.id_number_presented",
                         "须查验申请人身份证", "check the applicant's ID card")
    ids.check(act, holder, presented, "P1", "documents.id_number_presented")
    _require(docs.driving_licence_ref, "documents.driving_licence_ref",
             "须查验驾驶证", "check the driving licence")
    _require(docs.vehicle_licence_ref, "documents.vehicle_licence_ref",
             "须查验并复印车辆行驶证", "check (and copy) the vehicle licence")
    household = holder.household
    if (holder.holder_kind is HolderKind.TENANT
            or (household is not None and household.kind is HouseholdKind.TENANCY)):
        _require(docs.lease_contract_ref, "documents.lease_contract_ref",
                 "租户办理车卡须提供租赁合同", "a tenant's parking card needs the lease contract")
    _require(docs.parking_agreement_ref, "documents.parking_agreement_ref",
             "须先签订车位租用/使用协议", "the parking-space agreement is signed first")


def _holder(act: Action, person_id: int) -> Person:
    holder = act.session.get(Person, person_id)
    if holder is None or holder.site_id != act.site.id:
        raise NotFoundError("没有此人的登记资料", f"no person {person_id}", "holder_person_id")
    if holder.holder_kind not in PARKING_HOLDERS:
        raise ConflictError(f"{holder.holder_kind.value} 不办理停车月卡",
                            f"a {holder.holder_kind.value} has no monthly parking card",
                            "holder_person_id")
    if holder.household is not None and not holder.household.is_current:
        raise ConflictError("此住户已迁出", "this household has ended", "holder_person_id")
    return holder


def _vehicle(act: Action, plate: str, holder: Person, licence_ref: str) -> Vehicle:
    vehicle = act.session.scalars(select(Vehicle).where(
        Vehicle.site_id == act.site.id, Vehicle.plate == plate)).one_or_none()
    if vehicle is None:
        vehicle = Vehicle(site_id=act.site.id, plate=plate, owner_person_id=holder.id,
                          vehicle_licence_ref=licence_ref, created_at=act.now)
        act.session.add(vehicle)
        act.session.flush()
        return vehicle
    taken = act.session.scalars(select(ParkingSubscription).where(
        ParkingSubscription.vehicle_id == vehicle.id,
        ParkingSubscription.ended_on.is_(None))).first()
    if taken is not None:
        raise ConflictError(f"车辆 {plate} 已有停车月卡", f"{plate} already has a monthly "
                            "parking card", "plate")
    vehicle.vehicle_licence_ref = licence_ref
    return vehicle


def apply_parking(desk: Desk, actor: Actor, inp: ApplyParking) -> ParkingApplication:
    """Open a monthly parking subscription on the holder's card (rule P1).

    Refused (nothing written) under P1 when a document is missing or the ID does not match,
    or when ``existing_uid`` is not the holder's own card; I6 when ``new_uid`` is not blank;
    I1 when a new card is not signed for. A new card costs the card fee (I2) against a
    receipt. The card opens no barrier until the director approves (P3) and months are paid
    (P2).
    """
    with checking_ids(desk, "apply_parking") as ids, action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        holder = _holder(act, inp.holder_person_id)
        if holder.holder_kind is HolderKind.STAFF:
            # Rule H4: parking on a staff card (its own or a new one) authorises that card.
            require_lead_for_staff_card(act, "停车授权", "put parking on")
        _check_documents(act, ids, holder, inp.documents)
        group = carpark_group(act)
        card: Card
        fee, receipt = 0, None
        if inp.existing_uid is not None:
            card = get_card(act, inp.existing_uid, "existing_uid")
            if card.holder_person_id != holder.id:
                raise RuleRefused("P1", f"卡 {card.uid} 不是 {holder.name} 本人的门禁卡，"
                                  "只能使用本人自备的门卡或购买新卡",
                                  f"card {card.uid} is not {holder.name}'s own access card; "
                                  "use the holder's card or buy a new one", "existing_uid")
            if card.state is not CardState.ACTIVE:
                raise ConflictError(f"卡 {card.uid} {STATE_ZH[card.state]}",
                                    f"card {card.uid} is {card.state.value}", "existing_uid")
            if running_subscription(card) is not None:
                raise ConflictError(f"卡 {card.uid} 已有停车月卡",
                                    f"card {card.uid} already carries a parking subscription",
                                    "existing_uid")
        else:
            assert inp.new_uid is not None  # from_form guarantees one of the two
            if inp.holder_signoff is None:
                raise RuleRefused("I1", "领取新车卡须在《IC卡发行/异常情况登记表》上签名",
                                  "the holder signs the IC card register for the new card",
                                  "holder_signoff")
            card = blank_card(act, inp.new_uid, "new_uid")
        vehicle = _vehicle(act, inp.plate, holder, inp.documents.vehicle_licence_ref or "")
        application = open_application(act, ApplicationKind.PARKING, applicant=holder,
                                       household=holder.household, in_person=True)
        docs = inp.documents
        for kind, ref in ((EvidenceKind.ID_CHECKED, f"ID {masked(docs.id_number_presented)}"),
                          (EvidenceKind.DRIVING_LICENCE, docs.driving_licence_ref),
                          (EvidenceKind.VEHICLE_LICENCE, docs.vehicle_licence_ref),
                          (EvidenceKind.LEASE_CONTRACT, docs.lease_contract_ref),
                          (EvidenceKind.PARKING_AGREEMENT, docs.parking_agreement_ref)):
            if ref:
                add_evidence(act, application, kind, reference=ref, person=holder,
                             method=ConfirmationMethod.DOCUMENT)
        if inp.new_uid is not None:
            fee = issue_fee(act.site.settings, holder.holder_kind)
            if fee:
                receipt = write_receipt(act, payer_name=holder.name, person_id=holder.id,
                                        household_id=holder.household_id,
                                        method=inp.payment_method, charges=[Charge(
                                            ReceiptItem.CARD_FEE, fee, "停车卡工本费 card fee",
                                            card.uid)])
            household = holder.household
            tenancy = household is not None and household.kind is HouseholdKind.TENANCY
            until = valid_until(act.site.settings, holder.holder_kind, act.today,
                                household.lease_end if household is not None else None,
                                tenancy=tenancy)
            # A parking-only card: no door grants; the car park comes with the months paid.
            activate(act, card, holder=holder, kind=holder.holder_kind, valid_until=until,
                     groups=[], application_id=application.id)
            write_register(act, card, RegisterAction.ISSUE, inp.holder_signoff,
                           receipt_number=receipt.number if receipt is not None else None,
                           detail=f"parking card for {vehicle.plate}")
        subscription = ParkingSubscription(
            site_id=act.site.id, card=card, vehicle=vehicle, access_group=group,
            application_id=application.id, space_kind=inp.space_kind,
            # Set by the director's approval (P3); nothing can be paid before it.
            fee_per_month_fen=0, created_at=act.now)
        act.session.add(subscription)
        act.session.flush()
        return ParkingApplication(subscription.id, card.uid, inp.new_uid is not None, fee,
                                  receipt.number if receipt is not None else None)


@dataclass(frozen=True)
class TopUpParking(FormInput):
    """Months of parking paid on the card's subscription (rule P2), against a receipt
    (I7)."""

    uid: CardUid
    months: Annotated[int, Integer(min=1, max=MAX_MONTHS_PER_TOP_UP)]
    payer_name: Annotated[str | None, Text(max=100, doc="default the holder")] = None
    payment_method: PaymentMethod = PaymentMethod.CASH


@dataclass(frozen=True)
class TopUpResult:
    """The period paid (inclusive, site-local) and its receipt."""

    uid: str
    paid_from: date
    paid_until: date
    amount_fen: int
    receipt_number: int


@dataclass(frozen=True)
class TopUpTerms:
    """What ``months`` paid on a card today would buy (rule P2), before any money is
    taken: the holder and vehicle, the fee the director set (P3), the current last paid
    day, and the new period with its amount."""

    uid: str
    holder_name: str
    plate: str
    months: int
    fee_per_month_fen: int
    current_paid_until: date | None
    paid_from: date
    paid_until: date
    amount_fen: int


def _top_up_terms(act: Action, uid: str, months: int,
                  ) -> tuple[Card, ParkingSubscription, TopUpTerms]:
    """The checks of a top-up and the period it buys: one reading for the preview and the
    payment, so what the clerk is shown is what is charged."""
    card = get_card(act, uid)
    if card.state is not CardState.ACTIVE or card.holder is None:
        raise ConflictError(f"卡 {card.uid} {STATE_ZH[card.state]}，不能充值",
                            f"card {card.uid} is {card.state.value}", "uid")
    if card.holder_kind is HolderKind.STAFF:
        # Rule H4: months paid extend what a staff card opens, as a renewal does.
        require_lead_for_staff_card(act, "停车续费", "pay parking months on")
    sub = running_subscription(card)
    if sub is None:
        raise ConflictError(f"卡 {card.uid} 没有停车月卡", f"card {card.uid} carries no "
                            "parking subscription", "uid")
    if sub.approved_at is None:
        raise RuleRefused("P3", "停车月卡尚未经管理处主任审批（收费标准未定），不能收费",
                          "the office director has not approved this parking card (no fee "
                          "standard yet): nothing can be paid", "uid")
    if act.site.settings.parking_owner_unit_approval and sub.owner_unit_signed_at is None:
        raise RuleRefused("P3", "《车位使用申请表》尚未经业主单位审批，不能收费",
                          "the owner unit has not approved this parking application "
                          "(seed 000): nothing can be paid", "uid")
    start, end = billing_period(sub.paid_until, act.today, months)
    terms = TopUpTerms(card.uid, card.holder.name, sub.vehicle.plate, months,
                       sub.fee_per_month_fen, sub.paid_until, start, end,
                       months * sub.fee_per_month_fen)
    return card, sub, terms


def preview_top_up(desk: Desk, actor: Actor, inp: TopUpParking) -> TopUpTerms:
    """What ``top_up_parking(inp)`` would charge today, and the new paid-until date (rule
    P2), refused exactly as the payment would be (P3 before the approvals, H4 for a staff
    card). Writes nothing."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, DESK_ROLES)
        return _top_up_terms(act, inp.uid, inp.months)[2]


def top_up_parking(desk: Desk, actor: Actor, inp: TopUpParking) -> TopUpResult:
    """Take months of parking fees on a card (rules P2, I7).

    The period follows P2 (``central.calendar.billing_period``): from today, or from the day
    after the current end when renewed before it lapses. Refused under P3 before the
    director's approval, and before the owner unit's where the site keeps that step. The
    receipt names the card; the barriers open for the card from the period's first day.
    ``preview_top_up`` shows the same terms before the money is taken.
    """
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        card, sub, terms = _top_up_terms(act, inp.uid, inp.months)
        start, end, amount = terms.paid_from, terms.paid_until, terms.amount_fen
        holder = card.holder
        assert holder is not None  # _top_up_terms refuses a card without one
        receipt = write_receipt(
            act, payer_name=inp.payer_name or holder.name, person_id=holder.id,
            household_id=holder.household_id, method=inp.payment_method, charges=[Charge(
                ReceiptItem.PARKING, amount,
                f"停车月卡 {sub.vehicle.plate} {start}–{end} "
                f"({inp.months} × {yuan(sub.fee_per_month_fen)})", card.uid)])
        act.session.add(ParkingTopUp(
            subscription_id=sub.id, months=inp.months, paid_from=start, paid_until=end,
            amount_fen=amount, receipt_id=receipt.id, staff_id=act.staff.id,
            created_at=act.now))
        if sub.starts_on is None:
            sub.starts_on = start
        sub.paid_until = end
        return TopUpResult(card.uid, start, end, amount, receipt.number)


@dataclass(frozen=True)
class EndParking(FormInput):
    """End the card's parking subscription today (the car park closes to it at once)."""

    uid: CardUid


def end_parking(desk: Desk, actor: Actor, inp: EndParking) -> None:
    """End a subscription: the card keeps its door access; the barriers refuse it from now
    (its fixed space is free again). Paid months are not refunded here."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        card = get_card(act, inp.uid)
        sub = running_subscription(card)
        if sub is None:
            raise ConflictError(f"卡 {card.uid} 没有停车月卡", f"card {card.uid} carries no "
                                "parking subscription", "uid")
        sub.ended_on = act.today
