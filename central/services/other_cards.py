"""Issuing merchant cards (rule H3) and internal staff cards (rule H4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from sqlalchemy import select

from central.form_fields import CardUid, Id, Schedule, Text
from central.models import (
    ApplicationKind,
    ConfirmationMethod,
    EvidenceKind,
    HolderKind,
    PaymentMethod,
    Person,
    ReceiptItem,
    RegisterAction,
    Role,
)
from central.refusals import ConflictError, NotFoundError, RuleRefused
from central.services.applications import add_evidence, open_application
from central.services.card_activation import (
    IssuedCard,
    IssueResult,
    access_groups,
    activate,
    blank_card,
    schedule_for,
)
from central.services.card_fees import issue_fee
from central.services.context import DESK_ROLES, LEADS, Action, Actor, Desk, action
from central.services.inputs import Countersign, OneHolder, PersonDetails, SignOff
from central.services.receipts import Charge, write_receipt
from central.services.register import write_register
from central.services.validity import valid_until


def _holder(act: Action, holder: OneHolder, kind: HolderKind) -> Person:
    if holder.holder_person_id is not None:
        person = act.session.get(Person, holder.holder_person_id)
        if person is None or person.site_id != act.site.id:
            raise NotFoundError("没有此人的登记资料", f"no person {holder.holder_person_id}",
                                "holder_person_id")
        if person.holder_kind is not kind:
            raise ConflictError(f"{person.name} 登记为{person.holder_kind.value}，不是{kind.value}",
                                f"{person.name} is on record as {person.holder_kind.value}, "
                                f"not {kind.value}", "holder_person_id")
        return person
    new = holder.new_holder
    assert new is not None  # OneHolder.cross_check
    person = Person(site_id=act.site.id, name=new.name, holder_kind=kind,
                    id_number=new.id_number, phone=new.phone,
                    organisation=new.organisation, created_at=act.now)
    act.session.add(person)
    act.session.flush()
    return person


def _require_signoff(signoff: SignOff | None) -> SignOff:
    if signoff is None:
        raise RuleRefused("I1", "领卡须在《IC卡发行/异常情况登记表》上签名",
                          "the holder signs the IC card issue register for the card",
                          "holder_signoff")
    return signoff


@dataclass(frozen=True)
class IssueMerchantCard(OneHolder):
    """Rule H3: a merchant's card, on an application under the company seal, verified by
    the shop manager and signed off by the department head before the card is issued."""

    uid: CardUid
    holder_person_id: Id | None
    new_holder: PersonDetails | None
    seal_application_ref: Annotated[str | None, Text(doc="the application under the seal")]
    shop_manager: Countersign | None
    department_head: Countersign | None
    holder_signoff: SignOff | None
    access_groups: tuple[str, ...] = ()
    schedule: Annotated[str | None, Schedule()] = None
    payment_method: PaymentMethod = PaymentMethod.CASH


def issue_merchant_card(desk: Desk, actor: Actor, inp: IssueMerchantCard) -> IssueResult:
    """Issue a merchant's card (rule H3; fee and receipt, I2; register, I1; blank card, I6)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        if not inp.seal_application_ref:
            raise RuleRefused("H3", "商户须出具加盖公章的申请书", "a merchant's card needs the "
                              "application bearing the company seal", "seal_application_ref")
        if inp.shop_manager is None:
            raise RuleRefused("H3", "须由商铺负责人核实并填写申请表", "the shop manager verifies "
                              "the application", "shop_manager")
        if inp.department_head is None:
            raise RuleRefused("H3", "须经部门负责人签字同意后方可办理", "the department head signs "
                              "off before the card is issued", "department_head")
        signoff = _require_signoff(inp.holder_signoff)
        holder = _holder(act, inp, HolderKind.MERCHANT)
        card = blank_card(act, inp.uid)
        groups = access_groups(act, inp.access_groups, "access_groups")
        application = open_application(act, ApplicationKind.MERCHANT_CARD, applicant=holder,
                                        in_person=True)
        add_evidence(act, application, EvidenceKind.COMPANY_SEAL_APPLICATION,
                     reference=inp.seal_application_ref, method=ConfirmationMethod.DOCUMENT)
        add_evidence(act, application, EvidenceKind.SHOP_MANAGER_VERIFICATION,
                     name=inp.shop_manager.name, reference=inp.shop_manager.reference)
        add_evidence(act, application, EvidenceKind.DEPARTMENT_HEAD_SIGNOFF,
                     name=inp.department_head.name, reference=inp.department_head.reference)
        settings = act.site.settings
        fee = issue_fee(settings, HolderKind.MERCHANT)
        receipt = write_receipt(
            act, payer_name=holder.organisation or holder.name, person_id=holder.id,
            method=inp.payment_method,
            charges=[Charge(ReceiptItem.CARD_FEE, fee, "门禁卡工本费 card fee", card.uid)])
        until = valid_until(settings, HolderKind.MERCHANT, act.today)
        activate(act, card, holder=holder, kind=HolderKind.MERCHANT, valid_until=until,
                 groups=groups, schedule=schedule_for(act, inp.schedule),
                 application_id=application.id)
        write_register(act, card, RegisterAction.ISSUE, signoff, receipt_number=receipt.number)
        return IssueResult(application.id, (IssuedCard(card.uid, holder.id, holder.name,
                                                       HolderKind.MERCHANT, until, fee),),
                           receipt.number, receipt.amount_fen)


@dataclass(frozen=True)
class IssueStaffCard(OneHolder):
    """Rule H4: an internal staff card, free, on a written application approved by the
    department head, authorised only by the front-desk lead or the customer-service lead."""

    uid: CardUid
    holder_person_id: Id | None
    new_holder: PersonDetails | None
    written_application_ref: Annotated[str | None, Text()]
    department_head: Countersign | None
    holder_signoff: SignOff | None
    access_groups: tuple[str, ...] = ()
    schedule: Annotated[str | None, Schedule()] = None


def staff_card_refusal(role: Role, what_zh: str = "授权办理",
                       what_en: str = "authorise") -> RuleRefused | None:
    """Rule H4's refusal of ``role`` (None for the two leads): only the front-desk lead or
    the customer-service lead authorises staff cards; anyone else — clerk, director, guard,
    admin — is refused. A page shows it before the form is even filled."""
    if role in LEADS:
        return None
    return RuleRefused("H4", f"内部员工IC卡的{what_zh}必须由前台负责人或客服负责人办理，"
                       f"{role.value} 无权操作",
                       f"only the front-desk lead or the customer-service lead may "
                       f"{what_en} a staff card; {role.value} may not")


def require_lead_for_staff_card(act: Action, what_zh: str, what_en: str) -> None:
    """Rule H4, for the acting staff member."""
    refusal = staff_card_refusal(act.role, what_zh, what_en)
    if refusal is not None:
        raise refusal


@dataclass(frozen=True)
class HolderChoice:
    """A merchant or staff member on record, as the issue form offers them."""

    id: int
    name: str
    organisation: str


def card_fee(desk: Desk, actor: Actor, kind: HolderKind) -> int:
    """Rule I2: what issuing a card to a holder of ``kind`` costs at the caller's site."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        return issue_fee(act.site.settings, kind)


def people_of_kind(desk: Desk, actor: Actor, kind: HolderKind) -> list[HolderChoice]:
    """The site's people on record as ``kind`` (merchants, staff), by name."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        people = act.session.scalars(select(Person).where(
            Person.site_id == act.site.id, Person.holder_kind == kind).order_by(Person.name))
        return [HolderChoice(p.id, p.name, p.organisation) for p in people]


def issue_staff_card(desk: Desk, actor: Actor, inp: IssueStaffCard) -> IssueResult:
    """Issue an internal staff card (rule H4; free, I2: no receipt; register, I1; I6)."""
    with action(desk) as act:
        act.authorise(actor, frozenset(Role))
        require_lead_for_staff_card(act, "授权办理", "authorise")
        if not inp.written_application_ref:
            raise RuleRefused("H4", "须有提交部门负责人的书面申请", "a staff card needs a "
                              "written application to the department head",
                              "written_application_ref")
        if inp.department_head is None:
            raise RuleRefused("H4", "书面申请须经部门负责人同意", "the department head approves "
                              "the written application", "department_head")
        signoff = _require_signoff(inp.holder_signoff)
        holder = _holder(act, inp, HolderKind.STAFF)
        card = blank_card(act, inp.uid)
        groups = access_groups(act, inp.access_groups, "access_groups")
        application = open_application(act, ApplicationKind.STAFF_CARD, applicant=holder)
        add_evidence(act, application, EvidenceKind.WRITTEN_APPLICATION,
                     reference=inp.written_application_ref, method=ConfirmationMethod.DOCUMENT)
        add_evidence(act, application, EvidenceKind.DEPARTMENT_HEAD_SIGNOFF,
                     name=inp.department_head.name, reference=inp.department_head.reference)
        until = valid_until(act.site.settings, HolderKind.STAFF, act.today)
        activate(act, card, holder=holder, kind=HolderKind.STAFF, valid_until=until,
                 groups=groups, schedule=schedule_for(act, inp.schedule),
                 application_id=application.id)
        write_register(act, card, RegisterAction.ISSUE, signoff,
                       detail=f"authorised by {act.role.value} {act.staff.username}")
        return IssueResult(application.id, (IssuedCard(card.uid, holder.id, holder.name,
                                                       HolderKind.STAFF, until, 0),), None, 0)
