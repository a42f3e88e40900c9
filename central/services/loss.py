"""Lost and damaged cards: the report (L1), the director's review and the replacement
(L2, with the fee of I3), and a staff holder's compensation (L3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Self

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from central.amounts import yuan
from central.form_fields import CardUid, Choice, Flag, Id, Integer, Nested, Text, Yuan
from central.form_input import FormInput
from central.forms import FormReader
from central.models import (
    Card,
    CardState,
    HolderKind,
    LossKind,
    LossReport,
    PaymentMethod,
    Person,
    ReceiptItem,
    RegisterAction,
    Role,
)
from central.refusals import ConflictError, NotFoundError, RuleRefused
from central.services.balance_ledger import carry_balance
from central.services.card_activation import (
    STATE_ZH,
    activate,
    blank_card,
    clear_grants,
    get_card,
    same_name,
)
from central.services.card_fees import replacement_fee, staff_loss_compensation
from central.services.context import DESK_ROLES, Action, Actor, Desk, action, reading
from central.services.inputs import SignOff
from central.services.other_cards import require_lead_for_staff_card
from central.services.receipts import Charge, write_receipt
from central.services.register import write_register


@dataclass(frozen=True)
class ReportLoss(FormInput):
    """The holder's loss or damage application (智能卡挂失/报损申请书), L1 and L2."""

    uid: CardUid
    reporter_person_id: Annotated[int, Integer(min=1, doc="the holder, who reports in person")]
    in_person: Annotated[bool, Flag(doc="L1: the holder is at the desk")]
    # Rule L1: the balance the desk showed the holder, and the holder's agreement.
    balance_shown_fen: Annotated[int, Yuan(key="balance_shown_yuan",
                                           doc="the balance the desk showed the holder")]
    holder_agrees: Annotated[bool, Flag(doc="L1: the holder agreed to stop it")]
    signoff: Annotated[SignOff | None, Nested(doc="missing is refused by rule I1")]
    # Damage only: was it the holder's doing (I3, L3), and is the card handed in (L2)?
    holder_fault: Annotated[bool, Flag(doc="damaged by the holder (default true): I3 and L3 "
                                           "charge for it")] = True
    card_taken_back: Annotated[bool, Flag(doc="L2: the damaged card is handed in")] = False
    payment_method: Annotated[PaymentMethod, Choice(
        doc="for L3's compensation")] = PaymentMethod.CASH


# What only a damaged card's report says.
DAMAGE_ONLY = ("holder_fault", "card_taken_back")


@dataclass(frozen=True)
class LossResult:
    """The report written, the balance the card held, and any L3 compensation taken."""

    report_id: int
    balance_fen: int
    compensation_fen: int
    receipt_number: int | None


def _report(act: Action, inp: ReportLoss, kind: LossKind) -> LossResult:
    card = get_card(act, inp.uid)
    if card.state is not CardState.ACTIVE or card.holder is None or card.holder_kind is None:
        raise ConflictError(f"卡 {card.uid} {STATE_ZH[card.state]}，不能挂失或报损",
                            f"card {card.uid} is {card.state.value}", "uid")
    holder, holder_kind = card.holder, card.holder_kind
    if inp.reporter_person_id != holder.id:
        raise RuleRefused("L1", f"须由持卡人 {holder.name} 本人办理挂失/报损",
                          f"the holder, {holder.name}, reports the card",
                          "reporter_person_id")
    if not inp.in_person:
        raise RuleRefused("L1", "原持卡人须亲临客服部填写申请书",
                          "the holder applies at the desk in person", "in_person")
    if inp.balance_shown_fen != card.balance_fen:
        raise RuleRefused("L1", f"须向持卡人出示卡内余额 {yuan(card.balance_fen)} 元",
                          f"show the holder the card's remaining balance, "
                          f"{yuan(card.balance_fen)} yuan", "balance_shown_yuan")
    if not inp.holder_agrees:
        raise RuleRefused("L1", "持卡人认同余额后方可挂失", "the card is stopped only on the "
                          "holder's agreement", "holder_agrees")
    if inp.signoff is None:
        raise RuleRefused("I1", "须在登记表上签名", "the holder signs the register", "signoff")
    if kind is LossKind.DAMAGED and not inp.card_taken_back:
        raise RuleRefused("L2", "损坏的旧卡须由客服部收回", "a damaged card is taken back",
                          "card_taken_back")
    holder_fault = True if kind is LossKind.LOST else inp.holder_fault
    settings = act.site.settings
    compensation = staff_loss_compensation(settings, holder_kind, holder_fault=holder_fault)
    receipt = None
    if compensation:
        receipt = write_receipt(act, payer_name=holder.name, person_id=holder.id,
                                method=inp.payment_method, charges=[Charge(
                                    ReceiptItem.STAFF_CARD_COMPENSATION, compensation,
                                    "员工卡遗失/人为损坏赔偿工本费 staff card compensation",
                                    card.uid)])
    # Lost: withdrawn at every gate (L1). Damaged: taken back, so revoked.
    card.state = CardState.LOST if kind is LossKind.LOST else CardState.REVOKED
    card.updated_at = act.now
    report = LossReport(
        card_id=card.id, kind=kind, reported_by_person_id=holder.id, reported_on=act.today,
        reported_at=act.now, handled_by_staff_id=act.staff.id,
        balance_shown_fen=card.balance_fen, holder_fault=holder_fault,
        card_taken_back=inp.card_taken_back, compensation_fen=compensation,
        compensation_receipt_id=receipt.id if receipt is not None else None)
    act.session.add(report)
    act.session.flush()
    what = RegisterAction.REPORT_LOST if kind is LossKind.LOST else RegisterAction.REPORT_DAMAGED
    write_register(act, card, what, inp.signoff,
                   receipt_number=receipt.number if receipt is not None else None,
                   detail=f"balance {yuan(card.balance_fen)}; report {report.id}")
    return LossResult(report.id, card.balance_fen, compensation,
                      receipt.number if receipt is not None else None)


def report_lost(desk: Desk, actor: Actor, inp: ReportLoss) -> LossResult:
    """Rule L1: the holder, in person, having seen the balance and agreed, reports the card
    lost; it is marked lost and refused at every gate. A staff card costs 20 (L3)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        return _report(act, inp, LossKind.LOST)


def report_damaged(desk: Desk, actor: Actor, inp: ReportLoss) -> LossResult:
    """Rule L2: a damaged card is reported like a lost one and taken back (revoked). A staff
    card damaged by its holder costs 20 (L3)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        return _report(act, inp, LossKind.DAMAGED)


@dataclass(frozen=True)
class ReviewLoss(FormInput):
    """The office director's review of a loss application and its operation record."""

    report_id: Id
    approved: bool
    note: Annotated[str, Text(max=500)] = ""


def _open_report(act: Action, card: Card) -> LossReport | None:
    return act.session.scalars(
        select(LossReport).where(LossReport.card_id == card.id,
                                 LossReport.replacement_card_id.is_(None))
        .order_by(LossReport.id.desc()).limit(1)).first()


def review_loss(desk: Desk, actor: Actor, inp: ReviewLoss) -> None:
    """Rule L2: only the office director reviews the application and operation record."""
    with action(desk) as act:
        staff, _site = act.authorise(actor, frozenset(Role))
        if act.role is not Role.DIRECTOR:
            raise RuleRefused("L2", "挂失/报损申请书及操作记录须经管理处主任审核",
                              "the loss application and operation record are reviewed by the "
                              f"office director, not a {act.role.value}")
        report = act.session.get(LossReport, inp.report_id)
        if report is None or report.card.site_id != act.site.id:
            raise NotFoundError("没有此挂失/报损申请", f"no loss report {inp.report_id}",
                                "report_id")
        if report.review_approved:
            # A rejected report may be reviewed again once what was missing is there.
            raise ConflictError("此申请已审核通过", "this report has been approved", "report_id")
        report.reviewed_by_staff_id = staff.id
        report.reviewed_at = act.now
        report.review_approved = inp.approved
        report.review_note = inp.note


@dataclass(frozen=True)
class ReplaceCard(FormInput):
    """Rule L2: the new card for a lost or damaged one."""

    old_uid: CardUid
    new_uid: CardUid
    # The holder checks the balance moved to the new card, then signs for it.
    balance_checked_fen: Annotated[int, Yuan(key="balance_checked_yuan",
                                             doc="the balance the holder checked")]
    signoff: Annotated[SignOff | None, Nested(doc="the holder signs (L2)")]
    payment_method: PaymentMethod = PaymentMethod.CASH

    def cross_check(self, form: FormReader) -> Self:
        """The new card is another card."""
        if self.old_uid and self.old_uid == self.new_uid:
            form.fail("new_uid", "新卡不能是旧卡", "the new card cannot be the old one")
        return self


@dataclass(frozen=True)
class ReplaceResult:
    """The new card, its fee (0 when free under I3) and the receipt, if any."""

    new_uid: str
    fee_fen: int
    receipt_number: int | None
    balance_fen: int


def replace_card(desk: Desk, actor: Actor, inp: ReplaceCard) -> ReplaceResult:
    """Issue the replacement of a reported card, after the director approved the report.

    The new card gets the old card's holder, validity, grants, schedule, parking and
    balance; the old card keeps nothing. The fee follows I3 (free within a month of issue
    when not the holder's fault, else 20; staff cards free, their holder paid at the report
    under L3). The holder checks the balance and signs.
    """
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        old = get_card(act, inp.old_uid, "old_uid")
        report = _open_report(act, old)
        if report is None or old.holder is None or old.holder_kind is None:
            raise ConflictError(f"卡 {old.uid} 未挂失或报损，不能补办",
                                f"card {old.uid} has not been reported lost or damaged",
                                "old_uid")
        if not report.review_approved:
            state = "未经审核" if report.reviewed_at is None else "审核未通过"
            raise RuleRefused("L2", f"挂失/报损申请{state}：须经管理处主任审核同意后方可补办新卡",
                              "the office director reviews and approves the loss application "
                              "before the new card is issued", "old_uid")
        holder, kind = old.holder, old.holder_kind
        if kind is HolderKind.STAFF:
            # Seed 000: 内部员工IC卡的授权办理,必须由前台负责人或客服负责人办理 — a new
            # active staff card is an authorisation like any other.
            require_lead_for_staff_card(act, "补办", "replace")
        if inp.balance_checked_fen != old.balance_fen:
            raise RuleRefused("L2", f"持卡人须核实新卡余额 {yuan(old.balance_fen)} 元",
                              f"the holder checks the new card's balance, "
                              f"{yuan(old.balance_fen)} yuan", "balance_checked_yuan")
        if inp.signoff is None or not same_name(inp.signoff.signer_name, holder.name):
            raise RuleRefused("L2", f"须由持卡人 {holder.name} 核实余额后签收新卡",
                              f"the holder, {holder.name}, signs for the new card", "signoff")
        new = blank_card(act, inp.new_uid, "new_uid")
        settings = act.site.settings
        fee = replacement_fee(settings, kind, lost=report.kind is LossKind.LOST,
                              holder_fault=report.holder_fault, issued_on=old.issued_on,
                              today=act.today)
        receipt = None
        if fee:
            receipt = write_receipt(act, payer_name=holder.name, person_id=holder.id,
                                    household_id=holder.household_id,
                                    method=inp.payment_method, charges=[Charge(
                                        ReceiptItem.REPLACEMENT_FEE, fee,
                                        f"补卡工本费（原卡 {old.uid}）replacement", new.uid)])
        groups = [g.access_group for g in old.active_grants]
        activate(act, new, holder=holder, kind=kind, valid_until=old.valid_until,
                 groups=groups, schedule=old.schedule, relation=old.relation_to_applicant,
                 application_id=old.application_id)
        new.replaces_card_id = old.id
        carry_balance(act, old, new)
        for sub in list(old.parking_subscriptions):
            sub.card = new
        clear_grants(act, old, "replaced")
        report.replacement_card_id = new.id
        write_register(act, new, RegisterAction.REPLACE, inp.signoff,
                       receipt_number=receipt.number if receipt is not None else None,
                       related_uid=old.uid,
                       detail=f"replaces {old.uid} ({report.kind.value}); balance "
                              f"{yuan(new.balance_fen)}; "
                              f"{'free (I3)' if not fee and kind is not HolderKind.STAFF else ''}")
        return ReplaceResult(new.uid, fee, receipt.number if receipt is not None else None,
                             new.balance_fen)


@dataclass(frozen=True)
class LossReportView:
    """A loss or damage report as the review queue lists it."""

    id: int
    uid: str
    kind: LossKind
    reported_on: date
    holder_person_id: int
    holder_name: str
    balance_shown_fen: int
    holder_fault: bool
    card_taken_back: bool
    compensation_fen: int
    reviewed_at: datetime | None
    review_approved: bool | None
    review_note: str
    replacement_uid: str | None


def loss_reports(desk: Desk, actor: Actor, *, pending_only: bool = False,
                 open_only: bool = False, uid: str | None = None,
                 limit: int = 500) -> list[LossReportView]:
    """The site's loss and damage reports, newest first; ``pending_only``: those not yet
    approved and not yet replaced (the director's queue, L2); ``open_only``: those not yet
    replaced (awaiting the review or the new card)."""
    replacement = aliased(Card)
    with reading(desk, actor, DESK_ROLES) as act:
        query = (select(LossReport, Card.uid, Person.name, replacement.uid)
                 .join(Card, LossReport.card_id == Card.id)
                 .outerjoin(Person, Person.id == LossReport.reported_by_person_id)
                 .outerjoin(replacement, replacement.id == LossReport.replacement_card_id)
                 .where(Card.site_id == act.site.id).order_by(LossReport.id.desc())
                 .limit(limit))
        if uid is not None:
            query = query.where(Card.uid == uid)
        if pending_only or open_only:
            query = query.where(LossReport.replacement_card_id.is_(None))
        if pending_only:
            query = query.where(or_(
                LossReport.review_approved.is_(None), LossReport.review_approved.is_(False)))
        return [LossReportView(
            r.id, card_uid, r.kind, r.reported_on, r.reported_by_person_id, holder or "",
            r.balance_shown_fen, r.holder_fault, r.card_taken_back, r.compensation_fen,
            r.reviewed_at, r.review_approved, r.review_note, new_uid)
            for r, card_uid, holder, new_uid in act.session.execute(query)]


@dataclass(frozen=True)
class ReplacementPreview:
    """What the desk shows before a replacement (L2): the report and its review, the
    balance the new card will carry, and the fee (I3)."""

    report_id: int
    kind: LossKind
    reviewed: bool
    approved: bool
    holder_name: str
    holder_kind: HolderKind
    balance_fen: int
    fee_fen: int


def replacement_preview(desk: Desk, actor: Actor, old_uid: str) -> ReplacementPreview:
    """The replacement of ``old_uid`` as ``replace_card`` would compute it; nothing is
    written. Refused as the replacement is when the card has no open report."""
    with reading(desk, actor, DESK_ROLES) as act:
        old = get_card(act, old_uid, "old_uid")
        report = _open_report(act, old)
        if report is None or old.holder is None or old.holder_kind is None:
            raise ConflictError(f"卡 {old.uid} 未挂失或报损，不能补办",
                                f"card {old.uid} has not been reported lost or damaged",
                                "old_uid")
        fee = replacement_fee(act.site.settings, old.holder_kind,
                              lost=report.kind is LossKind.LOST,
                              holder_fault=report.holder_fault, issued_on=old.issued_on,
                              today=act.today)
        return ReplacementPreview(report.id, report.kind, report.reviewed_at is not None,
                                  bool(report.review_approved), old.holder.name,
                                  old.holder_kind, old.balance_fen, fee)
