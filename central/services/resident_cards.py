"""Issuing resident cards: owners and family (H1), tenants (H2), the household quota (I4),
in person with each holder's sign-off (I5), the fee with its receipt (I2), the register
(I1), and re-use only of formatted cards (I6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Self

from sqlalchemy import or_, select
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from central.form_fields import CardUid, Choice, Flag, Id, Items, Nested, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import (
    DIRECT_RELATIVES,
    RESIDENT_KINDS,
    ApplicationKind,
    Building,
    Card,
    CardState,
    ConfirmationMethod,
    EvidenceKind,
    HolderKind,
    Household,
    HouseholdKind,
    PaymentMethod,
    Person,
    ReceiptItem,
    RegisterAction,
    Relationship,
    Unit,
)
from central.refusals import (
    ConflictError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    RuleRefused,
)
from central.services.applications import add_evidence, masked, open_application
from central.services.card_activation import (
    IssuedCard,
    IssueResult,
    access_groups,
    activate,
    blank_card,
    same_name,
)
from central.services.card_fees import issue_fee
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.id_checks import IdChecks, checking_ids
from central.services.inputs import OneHolder, OwnerConfirmation, PersonDetails, SignOff
from central.services.quota import check_quota, household_quota
from central.services.receipts import Charge, write_receipt
from central.services.register import write_register
from central.services.validity import valid_until

# A confirmation stamped a little ahead of the server's clock is a clock skew, not fraud.
_CLOCK_SLACK = timedelta(minutes=5)


@dataclass(frozen=True)
class ResidentCardLine(OneHolder):
    """One card of a resident application: its UID, its holder (on record, ID shown, or
    new), the relationship the applicant states (I5) and the holder's signature (I5)."""

    uid: CardUid
    relationship: Annotated[Relationship | None, Choice(
        doc="to the applicant, as stated; missing is refused by rule I5")]
    holder_person_id: Id | None = None
    new_holder: PersonDetails | None = None
    # Rule H1: the ID the holder shows, checked against the record.
    id_number_presented: Annotated[str | None, Text(
        max=32, doc="the ID the holder shows, checked against the record (H1)")] = None
    # Empty: the building's default groups.
    access_groups: tuple[str, ...] = ()
    holder_signoff: Annotated[SignOff | None, Nested(
        doc="the holder signs for the card; missing is refused by rule I5")] = None


@dataclass(frozen=True)
class TenantDocuments(FormInput):
    """Rule H2: the lease contract and the tenant's ID copy, by reference."""

    lease_contract_ref: Annotated[str, Text()]
    id_copy_ref: Annotated[str, Text()]


@dataclass(frozen=True)
class IssueResidentCards(FormInput):
    """A household's application for resident cards (住户智能卡办理申请表)."""

    household_id: Id
    applicant_person_id: Id
    applicant_in_person: Annotated[bool, Flag(doc="I5: the resident applies in person")]
    lines: Annotated[tuple[ResidentCardLine, ...], Items(min=1)]
    owner_confirmation: Annotated[OwnerConfirmation | None, Nested(
        doc="H1: needed when a line has a new family member")] = None
    tenant_documents: Annotated[TenantDocuments | None, Nested(doc="H2: tenancies")] = None
    payment_method: PaymentMethod = PaymentMethod.CASH

    def cross_check(self, form: FormReader) -> Self:
        """Each card once."""
        seen: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            if line.uid and line.uid in seen:
                form.fail(f"lines[{i}].uid", f"与第 {seen[line.uid] + 1} 行卡号重复",
                          f"the same card as lines[{seen[line.uid]}]")
            seen.setdefault(line.uid, i)
        return self


def _household(act: Action, household_id: int) -> Household:
    # Its unit (area: I4) and building (site, default groups) are read by every issue: in
    # the same statement rather than two lazy loads after it.
    household = act.session.get(Household, household_id, options=[
        joinedload(Household.unit).joinedload(Unit.building)])
    if household is None or household.unit.building.site_id != act.site.id:
        raise NotFoundError("本小区没有此住户", f"no household {household_id} at this site",
                            "household_id")
    if not household.is_current:
        raise ConflictError(f"此住户已于 {household.ended_on} 迁出",
                            f"this household ended on {household.ended_on}", "household_id")
    return household


def cards_in_use(act: Action, household: Household) -> list[Card]:
    """The household's resident cards that still open doors (active, not expired)."""
    return list(act.session.scalars(
        select(Card).join(Person, Card.holder_person_id == Person.id).where(
            Person.household_id == household.id, Card.state == CardState.ACTIVE,
            Card.holder_kind.in_(RESIDENT_KINDS),
            or_(Card.valid_until.is_(None), Card.valid_until >= act.today))))


def _record_holder(act: Action, ids: IdChecks, household: Household, line: ResidentCardLine,
                   field: str) -> Person:
    """Rule H1/H2: the holder on record, identity checked against it."""
    rule = "H2" if household.kind is HouseholdKind.TENANCY else "H1"
    person = act.session.get(Person, line.holder_person_id)
    if person is None or person.site_id != act.site.id:
        raise NotFoundError("没有此人的登记资料", f"no person {line.holder_person_id}",
                            f"{field}.holder_person_id")
    if person.household_id != household.id:
        raise RuleRefused(rule, f"{person.name} 不在本户登记资料中",
                          f"{person.name} is not on this household's record",
                          f"{field}.holder_person_id")
    if person.holder_kind not in RESIDENT_KINDS:
        raise ConflictError(f"{person.name} 是{person.holder_kind.value}，请按相应流程办卡",
                            f"{person.name} is a {person.holder_kind.value}: use that "
                            "card's own procedure", f"{field}.holder_person_id")
    if line.id_number_presented is None:
        raise RuleRefused(rule, "须查验持卡人身份证件并与登记资料核对",
                          "check the holder's ID against the record",
                          f"{field}.id_number_presented")
    ids.check(act, person, line.id_number_presented, rule, f"{field}.id_number_presented")
    return person


def _confirming_owner(act: Action, household: Household,
                      confirmation: OwnerConfirmation | None) -> Person:
    """Rule H1: a family member with no record needs the owner's confirmation."""
    if confirmation is None:
        raise RuleRefused("H1", "家属无登记资料：须致电业主核实，并记录核实人、方式和时间",
                          "a family member with no record is confirmed by phoning the owner: "
                          "record who confirmed, how and when", "owner_confirmation")
    owner = act.session.get(Person, confirmation.owner_person_id)
    if (owner is None or owner.household_id != household.id
            or owner.holder_kind is not HolderKind.OWNER):
        raise RuleRefused("H1", "核实人须为本户业主", "the confirmation must come from an owner "
                          "of this household", "owner_confirmation.owner_person_id")
    if confirmation.confirmed_at > act.now + _CLOCK_SLACK:
        raise InvalidInputError([FieldError("owner_confirmation.confirmed_at",
                                            "核实时间不能晚于现在", "cannot be in the future")])
    return owner


def issue_resident_cards(desk: Desk, actor: Actor, inp: IssueResidentCards) -> IssueResult:
    """Issue the cards of one household's application, all or none.

    Refuses (nothing written) under: I5 — applicant not of the household or not in person,
    a relationship not stated, a holder who has not signed or someone else signing; H1 — a
    holder not on record or whose ID does not match, a new family member without the
    owner's confirmation; H2 — a tenancy without lease contract and ID copy, or whose lease
    has ended; I4 — over the household quota; I6 — a card not formatted.
    """
    with checking_ids(desk, "issue_resident_cards") as ids, action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        settings = act.site.settings
        household = _household(act, inp.household_id)
        tenancy = household.kind is HouseholdKind.TENANCY
        applicant = act.session.get(Person, inp.applicant_person_id)
        if applicant is None or applicant.household_id != household.id:
            raise RuleRefused("I5", "住户卡由本户住户本人申请", "resident cards are applied for "
                              "by a resident of the household", "applicant_person_id")
        if not inp.applicant_in_person:
            raise RuleRefused("I5", "住户卡须由住户本人亲自到客服中心申请办理", "resident cards "
                              "are applied for by the resident in person", "applicant_in_person")
        if tenancy and inp.tenant_documents is None:
            raise RuleRefused("H2", "租户办卡须出示房屋租赁合同和租户身份证复印件",
                              "a tenant's card needs the lease contract and the tenant's ID "
                              "copy", "tenant_documents")

        planned: list[tuple[ResidentCardLine, Person, Card, list[Any], Relationship]] = []
        owner: Person | None = None
        for i, line in enumerate(inp.lines):
            field = f"lines[{i}]"
            if line.relationship is None:
                raise RuleRefused("I5", "申请人须如实填写每位持卡人与本人的关系",
                                  "the applicant states each cardholder's relationship",
                                  f"{field}.relationship")
            if line.holder_person_id is not None:
                holder = _record_holder(act, ids, household, line, field)
            else:
                assert line.new_holder is not None  # from_form guarantees one of the two
                if not tenancy:
                    owner = _confirming_owner(act, household, inp.owner_confirmation)
                holder = _new_holder(act, household, line, applicant, tenancy)
            signoff = line.holder_signoff
            if signoff is None:
                raise RuleRefused("I5", "持卡人本人签收后方可发卡", "a card is handed over only "
                                  "after its holder signs for it", f"{field}.holder_signoff")
            if not same_name(signoff.signer_name, holder.name):
                raise RuleRefused("I5", f"须由持卡人 {holder.name} 本人签收，而非 "
                                  f"{signoff.signer_name}", f"the holder {holder.name} signs, "
                                  f"not {signoff.signer_name}",
                                  f"{field}.holder_signoff.signer_name")
            card = blank_card(act, line.uid, f"{field}.uid")
            groups: list[Any] = (access_groups(act, line.access_groups, f"{field}.access_groups")
                                 or list(household.unit.building.default_access_groups))
            planned.append((line, holder, card, groups, line.relationship))

        check_quota(settings, household.unit.area_m2,
                    [c.relation_to_applicant for c in cards_in_use(act, household)],
                    [p[4] for p in planned])

        application = open_application(act, ApplicationKind.RESIDENT_CARDS, applicant=applicant,
                                       household=household, in_person=True)
        if tenancy and inp.tenant_documents is not None:
            add_evidence(act, application, EvidenceKind.LEASE_CONTRACT,
                         reference=inp.tenant_documents.lease_contract_ref,
                         method=ConfirmationMethod.DOCUMENT)
            add_evidence(act, application, EvidenceKind.ID_COPY,
                         reference=inp.tenant_documents.id_copy_ref,
                         method=ConfirmationMethod.DOCUMENT)
        if owner is not None and inp.owner_confirmation is not None:
            add_evidence(act, application, EvidenceKind.OWNER_CONFIRMATION, person=owner,
                         method=inp.owner_confirmation.method,
                         at=inp.owner_confirmation.confirmed_at,
                         reference=inp.owner_confirmation.note)

        charges = []
        for line, holder, card, _groups, _rel in planned:
            if line.holder_person_id is not None:
                add_evidence(act, application, EvidenceKind.ID_CHECKED, person=holder,
                             method=ConfirmationMethod.DOCUMENT,
                             reference=f"ID {masked(line.id_number_presented)}")
            fee = issue_fee(settings, holder.holder_kind)
            if fee:
                charges.append(Charge(ReceiptItem.CARD_FEE, fee, "门禁卡工本费 card fee",
                                      card_uid=card.uid))
        receipt = (write_receipt(act, payer_name=applicant.name, charges=charges,
                                 method=inp.payment_method, household_id=household.id,
                                 person_id=applicant.id) if charges else None)

        issued = []
        for line, holder, card, groups, relationship in planned:
            until = valid_until(settings, holder.holder_kind, act.today, household.lease_end,
                                tenancy=tenancy)
            activate(act, card, holder=holder, kind=holder.holder_kind, valid_until=until,
                     groups=groups, relation=relationship, application_id=application.id)
            write_register(act, card, RegisterAction.ISSUE, line.holder_signoff,
                           receipt_number=receipt.number if receipt is not None else None,
                           detail=f"relationship to applicant: {relationship.value}")
            issued.append(IssuedCard(card.uid, holder.id, holder.name, holder.holder_kind, until,
                                     issue_fee(settings, holder.holder_kind)))
        return IssueResult(application.id, tuple(issued),
                           receipt.number if receipt is not None else None,
                           receipt.amount_fen if receipt is not None else 0)


def _new_holder(act: Action, household: Household, line: ResidentCardLine,
                applicant: Person, tenancy: bool) -> Person:
    """A family member (or a tenant's household member) the desk has no record of."""
    assert line.new_holder is not None
    details = line.new_holder
    # The stated relationship is to the applicant; it is also to the householder when the
    # applicant is the householder.
    to_householder = (line.relationship
                      if applicant.relation_to_householder is Relationship.SELF else None)
    person = Person(site_id=act.site.id, household_id=household.id, name=details.name,
                    holder_kind=HolderKind.TENANT if tenancy else HolderKind.FAMILY,
                    relation_to_householder=to_householder, id_number=details.id_number,
                    phone=details.phone, organisation=details.organisation,
                    created_at=act.now)
    act.session.add(person)
    act.session.flush()
    return person


@dataclass(frozen=True)
class HouseholdMember:
    """A person of the household, as the issue form offers them as holder or applicant."""

    id: int
    name: str
    holder_kind: HolderKind
    relation_to_householder: Relationship | None


@dataclass(frozen=True)
class PlannedLine:
    """One card line as far as the clerk has filled it: the relationship stated and the
    holder on record (None: a new holder)."""

    relationship: Relationship | None
    holder_person_id: int | None


@dataclass(frozen=True)
class ResidentIssuePreview:
    """What the desk shows before a household's cards are issued: who may hold them, the
    household quota (I4) and the fee (I2), computed as the issue itself computes them."""

    household_id: int
    unit_label: str
    kind: HouseholdKind
    area_m2: Decimal
    lease_end: date | None
    members: tuple[HouseholdMember, ...]
    cards_in_use: int
    # I4: the most cards once a holder is not a direct relative, and whether one already is
    # (among the cards in use or the lines planned).
    quota: int
    quota_applies: bool
    requested: int
    card_fee_fen: int  # I2: what a resident card costs
    fee_per_card_fen: tuple[int, ...]  # one per planned line
    total_fee_fen: int
    # What the issue would answer for the quota (I4), were it sent now.
    quota_refusal: RuleRefused | None


def resident_issue_preview(desk: Desk, actor: Actor, household_id: int,
                           planned: Sequence[PlannedLine] = ()) -> ResidentIssuePreview:
    """The quota (I4) and fee (I2) of issuing ``planned`` to a household, computed by the
    same rules as ``issue_resident_cards``; nothing is written."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        settings = act.site.settings
        household = _household(act, household_id)
        tenancy = household.kind is HouseholdKind.TENANCY
        members = sorted(household.members, key=lambda p: p.id)
        by_id = {p.id: p for p in members}
        in_use = [c.relation_to_applicant for c in cards_in_use(act, household)]
        stated = [p.relationship for p in planned if p.relationship is not None]
        fees = []
        for line in planned:
            person = by_id.get(line.holder_person_id) if line.holder_person_id else None
            kind = (person.holder_kind if person is not None
                    else HolderKind.TENANT if tenancy else HolderKind.FAMILY)
            fees.append(issue_fee(settings, kind))
        refusal = None
        try:
            check_quota(settings, household.unit.area_m2, in_use, stated)
        except RuleRefused as exc:
            refusal = exc
        return ResidentIssuePreview(
            household_id=household.id, unit_label=household.unit.label, kind=household.kind,
            area_m2=household.unit.area_m2, lease_end=household.lease_end,
            members=tuple(HouseholdMember(p.id, p.name, p.holder_kind,
                                          p.relation_to_householder)
                          for p in members if p.holder_kind in RESIDENT_KINDS),
            cards_in_use=len(in_use), quota=household_quota(settings, household.unit.area_m2),
            quota_applies=any(r is not None and r not in DIRECT_RELATIVES
                              for r in (*in_use, *stated)),
            requested=len(planned), card_fee_fen=issue_fee(settings, HolderKind.OWNER),
            fee_per_card_fen=tuple(fees), total_fee_fen=sum(fees),
            quota_refusal=refusal)


@dataclass(frozen=True)
class HouseholdChoice:
    """A current household as a chooser lists it."""

    id: int
    unit_label: str
    kind: HouseholdKind
    householder: str


def current_households(desk: Desk, actor: Actor) -> list[HouseholdChoice]:
    """The site's current households by unit, each with its householder's name."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        rows = act.session.scalars(
            select(Household).join(Unit).join(Building)
            .where(Building.site_id == act.site.id, Household.ended_on.is_(None))
            .options(selectinload(Household.members),
                     contains_eager(Household.unit).contains_eager(Unit.building))
            .order_by(Building.code, Unit.number, Household.id))
        out = []
        for h in rows:
            head = next((p.name for p in sorted(h.members, key=lambda p: p.id)
                         if p.relation_to_householder is Relationship.SELF), "")
            out.append(HouseholdChoice(h.id, h.unit.label, h.kind, head))
        return out
