"""Renovation filings (装修备案) and the workers' temporary access cards, rule H6.

A filing lasts at most three months (a site setting); each extension adds at most three more,
counted from the day after the current end, and the desk marks every card out "延期至 DATE".
The workers' cards are valid exactly as long as the filing — their ``valid_until`` moves with
it, so every gate follows without a message of its own — and they open only in the site's
permitted working hours (the ``renovation_schedule`` setting, carried on each card's gate
record). Deposits and the cards' return are rule G6 (central/services/renovation_deposits.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Self

from sqlalchemy import select

from central.calendar import months_end
from central.form_fields import CardUid, Choice, Day, Flag, Id, Integer, Items, Nested, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import (
    AccessGroup,
    ApplicationKind,
    Card,
    CardState,
    HolderKind,
    PaymentMethod,
    Person,
    Receipt,
    RegisterAction,
    RenovationDeposit,
    RenovationExtension,
    RenovationFiling,
    RenovationWorker,
    Role,
)
from central.refusals import ConflictError, FieldError, InvalidInputError, RuleRefused
from central.services.applications import open_application
from central.services.card_activation import activate, blank_card, schedule_for
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.fees import site_household
from central.services.inputs import PersonDetails, SignOff
from central.services.owner_consent import OwnerConsent, consenting_owner, record_consent
from central.services.privacy import id_number_for
from central.services.register import write_register
from central.services.renovation_deposits import (
    DepositTaken,
    cards_out,
    get_filing,
    take_deposits,
)
from edge.cards import parse_schedule


@dataclass(frozen=True)
class Contractor(FormInput):
    """The renovation company and its lead on site (装修负责人)."""

    name: Annotated[str, Text()]
    lead_name: Annotated[str, Text(max=100)]
    lead_phone: Annotated[str, Text(max=32)]


@dataclass(frozen=True)
class FileRenovation(FormInput):
    """The owner's renovation filing: the period (at most three months, a site setting,
    H6), and the contractor unless self-renovating."""

    household_id: Id
    applicant_person_id: Annotated[int, Integer(min=1, doc="a member of the household; anyone "
                                                       "but an owner brings the owner's "
                                                       "written consent")]
    starts_on: date
    ends_on: Annotated[date, Day(doc="inclusive")]
    self_renovation: Annotated[bool, Flag(doc="the owner renovates alone (one deposit of "
                                              "2000, G6)")] = False
    contractor: Annotated[Contractor | None, Nested(doc="required unless self_renovation")] = None
    payment_method: Annotated[PaymentMethod, Choice(doc="for the deposits")] = PaymentMethod.CASH
    # Anyone but an owner (a tenant, a family member): the owner's written consent (seed 004).
    owner_consent: Annotated[OwnerConsent | None, Nested(
        doc="the current owner's written consent, for a non-owner (H6)")] = None

    def cross_check(self, form: FormReader) -> Self:
        """A contractor unless self-renovating; the end not before the start."""
        if not self.self_renovation and self.contractor is None:
            form.fail("contractor", "非自装须填写装修单位及负责人",
                      "the contractor is required unless the owner renovates alone")
        if form.present("ends_on") and form.present("starts_on") and self.ends_on < self.starts_on:
            form.fail("ends_on", "不能早于开始日期", "before starts_on")
        return self


@dataclass(frozen=True)
class FilingResult:
    """The filing and the deposits taken for it (rule G6)."""

    filing_id: int
    starts_on: date
    ends_on: date
    deposits: tuple[DepositTaken, ...]
    approved: bool = True  # False: awaiting the manager's approval (seed 001)


def file_renovation(desk: Desk, actor: Actor, inp: FileRenovation) -> FilingResult:
    """Record a renovation filing and take its deposits (rules H6, G6, I7).

    Refused under H6 when the period is longer than the site's maximum (three months by
    default, counted as rule P2 counts months), or when the applicant is not an owner — a
    tenant, a family member — and brings no written consent of the unit's current owner
    (seed 004: 非业主使用人装修需提供业主同意装修的书面证明). One open filing per unit at a time.
    Where the site asks for the manager's approval (seed 001), the filing awaits the
    director's (``renovation_approval.approve_renovation``) before workers' cards are lent.
    """
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        household = site_household(act, inp.household_id)
        if not household.is_current:
            raise ConflictError("此住户已迁出", "this household has ended", "household_id")
        applicant = act.session.get(Person, inp.applicant_person_id)
        if applicant is None or applicant.household_id != household.id:
            raise ConflictError("申请人须为本户住户", "the applicant belongs to the household",
                                "applicant_person_id")
        owner = None
        if applicant.holder_kind is not HolderKind.OWNER:
            owner = consenting_owner(act, household.unit_id, inp.owner_consent, "H6",
                                     what_zh="装修", what_en="a renovation filing")
        if inp.starts_on < act.today:
            raise InvalidInputError([FieldError("starts_on", "开始日期不能早于今天",
                                                "cannot start on a day already past")])
        max_months = act.site.settings.renovation_max_months
        limit = months_end(inp.starts_on, max_months)
        if inp.ends_on > limit:
            raise RuleRefused("H6", f"装修备案期限最长不得超过 {max_months} 个月（至 {limit}），"
                              "超过须期满后办理延期",
                              f"a renovation filing lasts at most {max_months} months (to "
                              f"{limit}); longer works are extended when it runs out",
                              "ends_on")
        open_filing = act.session.scalars(select(RenovationFiling).where(
            RenovationFiling.unit_id == household.unit_id,
            RenovationFiling.completed_on.is_(None),
            RenovationFiling.ends_on >= act.today)).first()
        if open_filing is not None:
            raise ConflictError(f"此房屋已有装修备案（至 {open_filing.ends_on}）",
                                f"this unit already has a filing (to {open_filing.ends_on})",
                                "household_id")
        application = open_application(act, ApplicationKind.RENOVATION, applicant=applicant,
                                       household=household, in_person=True)
        if owner is not None and inp.owner_consent is not None:
            record_consent(act, application, owner, inp.owner_consent)
        # Approved at filing only where the site has no manager's approval step.
        approved = not act.site.settings.renovation_manager_approval
        contractor = inp.contractor
        filing = RenovationFiling(
            site_id=act.site.id, unit_id=household.unit_id, household_id=household.id,
            application_id=application.id, self_renovation=inp.self_renovation,
            contractor_name=contractor.name if contractor is not None else "",
            contractor_lead_name=contractor.lead_name if contractor is not None else "",
            contractor_lead_phone=contractor.lead_phone if contractor is not None else "",
            starts_on=inp.starts_on, ends_on=inp.ends_on,
            approved_by_staff_id=act.staff.id if approved else None,
            approved_at=act.now if approved else None, created_at=act.now)
        act.session.add(filing)
        act.session.flush()
        deposits = take_deposits(act, filing, applicant, inp.payment_method)
        return FilingResult(filing.id, filing.starts_on, filing.ends_on, deposits, approved)


@dataclass(frozen=True)
class WorkerLine(FormInput):
    """One worker (from the 施工人员登记表), the card lent to them, and the worker's
    signature (I1)."""

    uid: CardUid
    worker: Annotated[PersonDetails, Nested(doc="the ID number is required")]
    signoff: Annotated[SignOff | None, Nested(doc="missing is refused by rule I1")] = None

    def cross_check(self, form: FormReader) -> Self:
        """The workers' register records the worker's ID number."""
        if self.worker.id_number is None:
            form.nested("worker").fail("id_number", "须登记施工人员身份证号",
                                       "the worker's ID number is registered")
        return self


@dataclass(frozen=True)
class IssueWorkerCards(FormInput):
    """Temporary access cards (人员临时出入卡) for workers of a filing."""

    filing_id: Id
    lines: Annotated[tuple[WorkerLine, ...], Items(min=1)]


@dataclass(frozen=True)
class WorkerCardView:
    """A worker's card as the desk sees it; ``id_number`` as the viewer's role may see it
    (rule G5)."""

    uid: str
    person_id: int
    name: str
    id_number: str
    valid_until: date
    schedule: str
    returned: bool = False


def issue_worker_cards(desk: Desk, actor: Actor,
                       inp: IssueWorkerCards) -> tuple[WorkerCardView, ...]:
    """Lend each worker a temporary card tied to the filing (rule H6): valid from the
    filing's start to its end, for the unit's building, only in the site's working hours.

    Refused under H6 when the filing has ended (extend it first); I6 when a card is not
    blank; I1 when a line is not signed for. The cards are lent against the deposit (G6),
    so no card fee is taken.
    """
    with action(desk) as act:
        _staff, _site = act.authorise(actor, DESK_ROLES)
        filing = get_filing(act, inp.filing_id)
        if filing.approved_at is None:
            raise RuleRefused("H6", "装修申请须经服务中心经理（管理处主任）审批后"
                              "方可办理临时出入证",
                              "the manager (the director) approves the renovation before its "
                              "workers' cards are lent", "filing_id")
        if filing.completed_on is not None or filing.ends_on < act.today:
            raise RuleRefused("H6", f"装修备案已于 {filing.ends_on} 到期，须先办理延期",
                              f"the filing ran out on {filing.ends_on}; extend it first",
                              "filing_id")
        spec = parse_schedule(act.site.settings.renovation_schedule).spec
        schedule = schedule_for(act, spec)
        groups = list(filing_unit_groups(act, filing))
        views = []
        for i, line in enumerate(inp.lines):
            if line.signoff is None:
                raise RuleRefused("I1", "领卡须在《IC卡发行/异常情况登记表》上签名",
                                  "the worker signs the IC card register for the card",
                                  f"lines[{i}].signoff")
            card = blank_card(act, line.uid, f"lines[{i}].uid")
            worker = Person(site_id=act.site.id, name=line.worker.name,
                            holder_kind=HolderKind.RENOVATION_WORKER,
                            id_number=line.worker.id_number, phone=line.worker.phone,
                            organisation=filing.contractor_name or line.worker.organisation,
                            created_at=act.now)
            act.session.add(worker)
            act.session.flush()
            activate(act, card, holder=worker, kind=HolderKind.RENOVATION_WORKER,
                     valid_until=filing.ends_on, groups=groups, schedule=schedule,
                     application_id=filing.application_id)
            # A filing starting later lends its cards early; they open from its first day.
            card.valid_from = max(act.today, filing.starts_on)
            act.session.add(RenovationWorker(filing_id=filing.id, person_id=worker.id,
                                             card_id=card.id))
            write_register(act, card, RegisterAction.ISSUE, line.signoff,
                           detail=f"renovation filing {filing.id}; valid to {filing.ends_on}; "
                                  f"hours {spec}")
            views.append(WorkerCardView(card.uid, worker.id, worker.name,
                                        id_number_for(act.role, worker.id_number),
                                        filing.ends_on, spec))
        return tuple(views)


def filing_unit_groups(act: Action, filing: RenovationFiling) -> list[AccessGroup]:
    """The access groups a worker of ``filing`` needs: those of the unit's building."""
    household = site_household(act, filing.household_id)
    return list(household.unit.building.default_access_groups)


@dataclass(frozen=True)
class ExtendRenovation(FormInput):
    """An extension to ``new_end``, brought by the contractor's lead with the workers'
    cards (H6)."""

    filing_id: Id
    new_end: Annotated[date, Day(doc="at most three months after the current end")]
    signoff: Annotated[SignOff | None, Nested(doc="missing is refused by rule I1")] = None


@dataclass(frozen=True)
class ExtensionResult:
    """The filing's old and new end, what is written on each card, and the cards moved."""

    filing_id: int
    previous_end: date
    new_end: date
    marking: str
    cards: tuple[str, ...]


def extend_renovation(desk: Desk, actor: Actor, inp: ExtendRenovation) -> ExtensionResult:
    """Extend a filing (rule H6): at most the site's maximum (three months) from the day
    after its current end. Every card still out follows: its validity moves to the new end
    and the register notes "延期至 DATE" for it."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        filing = get_filing(act, inp.filing_id)
        if filing.completed_on is not None:
            raise ConflictError("装修已完工，不能延期", "the renovation is complete",
                                "filing_id")
        if inp.new_end <= filing.ends_on:
            raise InvalidInputError([FieldError(
                "new_end", f"须晚于现有期限 {filing.ends_on}", f"after the current end, "
                f"{filing.ends_on}")])
        max_months = act.site.settings.renovation_max_months
        limit = months_end(filing.ends_on + timedelta(days=1), max_months)
        if inp.new_end > limit:
            raise RuleRefused("H6", f"每次延期最长不得超过 {max_months} 个月（至 {limit}）",
                              f"each extension is at most {max_months} months (to {limit})",
                              "new_end")
        if inp.signoff is None:
            raise RuleRefused("I1", "延期须在登记表上签名（装修负责人持临时出入卡办理）",
                              "the contractor's lead signs the register for the extension",
                              "signoff")
        previous = filing.ends_on
        act.session.add(RenovationExtension(filing_id=filing.id, previous_end=previous,
                                            new_end=inp.new_end,
                                            approved_by_staff_id=act.staff.id,
                                            created_at=act.now))
        filing.ends_on = inp.new_end
        marking = f"延期至 {inp.new_end.isoformat()}"
        moved = []
        for card in cards_out(act, filing):
            if card.state is CardState.ACTIVE:
                card.valid_until = inp.new_end
                card.updated_at = act.now
                write_register(act, card, RegisterAction.VALIDITY_CHANGED, inp.signoff,
                               detail=f"{marking} (was {previous}); filing {filing.id}")
                moved.append(card.uid)
        return ExtensionResult(filing.id, previous, inp.new_end, marking, tuple(moved))


@dataclass(frozen=True)
class FilingView:
    """A filing as the desk's renovation ledger (装修台帐) shows it; ID numbers as the
    viewer's role may see them (rule G5)."""

    filing_id: int
    unit: str
    starts_on: date
    ends_on: date
    extensions: int
    workers: tuple[WorkerCardView, ...]
    deposits: tuple[DepositTaken, ...]
    approved: bool = True  # False: awaiting the director's approval (seed 001)
    contractor: str = ""  # empty: the owner renovates alone
    contractor_lead: str = ""
    household_id: int = 0


def filing_summary(desk: Desk, actor: Actor, filing_id: int) -> FilingView:
    """Look a filing up: its period, its workers and their cards, its deposits."""
    with action(desk) as act:
        _staff, _site = act.authorise(actor, DESK_ROLES | {Role.GUARD})
        filing = get_filing(act, filing_id)
        spec = parse_schedule(act.site.settings.renovation_schedule).spec
        workers = []
        for worker, person, card in act.session.execute(
                select(RenovationWorker, Person, Card)
                .join(Person, Person.id == RenovationWorker.person_id)
                .join(Card, Card.id == RenovationWorker.card_id)
                .where(RenovationWorker.filing_id == filing.id)
                .order_by(RenovationWorker.id)):
            workers.append(WorkerCardView(card.uid, person.id, person.name,
                                          id_number_for(act.role, person.id_number),
                                          filing.ends_on, spec,
                                          worker.card_returned_at is not None))
        deposits = tuple(
            DepositTaken(deposit.payer, receipt.payer_name, deposit.amount_fen, receipt.number,
                         deposit.refunded_at is not None)
            for deposit, receipt in act.session.execute(
                select(RenovationDeposit, Receipt)
                .join(Receipt, Receipt.id == RenovationDeposit.receipt_id)
                .where(RenovationDeposit.filing_id == filing.id)
                .order_by(RenovationDeposit.id)))
        extensions = len(act.session.scalars(select(RenovationExtension.id).where(
            RenovationExtension.filing_id == filing.id)).all())
        unit = site_household(act, filing.household_id).unit.label
        return FilingView(filing.id, unit, filing.starts_on, filing.ends_on, extensions,
                          tuple(workers), deposits, filing.approved_at is not None,
                          filing.contractor_name,
                          " ".join(filter(None, (filing.contractor_lead_name,
                                                 filing.contractor_lead_phone))),
                          filing.household_id)


@dataclass(frozen=True)
class LedgerLine:
    """One filing in the renovation ledger's list (装修台帐)."""

    filing_id: int
    unit: str
    contractor: str
    starts_on: date
    ends_on: date
    approved: bool
    cards_out: int
    deposits_held: int  # deposits not yet refunded
    running: bool  # not complete and not past its end


# The ledger lists the filings of the last year and any still holding cards or deposits.
LEDGER_DAYS = 366


def renovation_ledger(desk: Desk, actor: Actor) -> tuple[LedgerLine, ...]:
    """The filings, newest first: the last year's, and older ones still holding workers'
    cards or deposits (G6)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        since = act.today - timedelta(days=LEDGER_DAYS)
        lines = []
        for filing in act.session.scalars(select(RenovationFiling).where(
                RenovationFiling.site_id == act.site.id)
                .order_by(RenovationFiling.id.desc()).limit(1000)):
            out = len(cards_out(act, filing))
            held = len(act.session.scalars(select(RenovationDeposit.id).where(
                RenovationDeposit.filing_id == filing.id,
                RenovationDeposit.refunded_at.is_(None))).all())
            if filing.ends_on < since and not out and not held:
                continue
            lines.append(LedgerLine(
                filing.id, site_household(act, filing.household_id).unit.label,
                filing.contractor_name, filing.starts_on, filing.ends_on,
                filing.approved_at is not None, out, held,
                filing.completed_on is None and filing.ends_on >= act.today))
        return tuple(lines)
