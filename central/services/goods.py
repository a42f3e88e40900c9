"""Goods release (物品放行), rule G4: the desk issues a release slip only when the unit has
no arrears, to anyone but an owner only with the current owner's written consent; the
customer-service lead (seed 003's 管家部负责人) approves it; at the exit the guard checks
the approval and the slip against the goods and the person, records when they left and
signs; the day's slips are filed at the desk by 08:30 the next day (a site setting) and late
ones are reported. A long-term goods pass (常住物品放行证) lasts one year (a site setting)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated

from sqlalchemy import func, select

from central.amounts import yuan
from central.calendar import months_end
from central.clock import local_date, zone
from central.form_fields import Day, Flag, Id, Nested, Text
from central.form_input import FormInput
from central.models import (
    RESIDENT_KINDS,
    ApplicationKind,
    ConfirmationMethod,
    EvidenceKind,
    Fee,
    Gate,
    GoodsPass,
    GoodsReleaseSlip,
    HolderKind,
    Household,
    Person,
    Role,
)
from central.refusals import (
    ConflictError,
    FieldError,
    InvalidInputError,
    NotFoundError,
    RuleRefused,
)
from central.services.applications import add_evidence, masked, open_application
from central.services.card_activation import same_name
from central.services.context import DESK_ROLES, Action, Actor, Desk, action
from central.services.fees import site_household
from central.services.id_checks import checking_ids
from central.services.inputs import SignOff
from central.services.owner_consent import OwnerConsent, consenting_owner, record_consent


def filing_deadline(left_at: datetime, timezone: str, filing_time: str) -> datetime:
    """When a slip whose goods left at ``left_at`` must be filed: ``filing_time`` (HH:MM,
    site-local) on the next day, as an aware instant."""
    hours, minutes = (int(part) for part in filing_time.split(":"))
    next_day = local_date(left_at, timezone) + timedelta(days=1)
    return datetime.combine(next_day, time(hours, minutes), zone(timezone))


@dataclass(frozen=True)
class IssueGoodsSlip(FormInput):
    """A release slip (物品放行条): whose goods, who carries them, what, on which day."""

    household_id: Id
    applicant_person_id: Id
    carrier_name: Annotated[str, Text(max=100)]
    items: Annotated[str, Text(max=1000)]
    valid_on: Annotated[date, Day(doc="the one day the slip is good for")]
    # Anyone but an owner: the current owner's written consent (rule G4).
    owner_consent: Annotated[OwnerConsent | None, Nested(
        doc="anyone but an owner needs it (G4)")] = None


def unit_arrears(act: Action, unit_id: int) -> list[Fee]:
    """The unit's arrears (拖欠, seed 003: 查看是否拖欠物业管理费、水电费): fees past their due
    day and not settled by a receipt, on any household record of the unit — the owner's
    when a tenant asks, the tenant's when the owner does. A fee not yet due is no arrear."""
    return list(act.session.scalars(
        select(Fee).join(Household, Fee.household_id == Household.id)
        .where(Household.unit_id == unit_id, Fee.settled_by_receipt_id.is_(None),
               Fee.due_on < act.today)
        .order_by(Fee.due_on, Fee.id)))


def issue_goods_slip(desk: Desk, actor: Actor, inp: IssueGoodsSlip) -> int:
    """Issue a numbered release slip (rule G4); its number.

    Refused under G4 while the unit is in arrears (``unit_arrears``: the message says how
    much), or for an applicant who is not an owner — a tenant, a family member — without the
    written consent of the unit's current owner (central/services/owner_consent.py; who,
    how, when, which paper: kept as evidence). The slip then awaits the customer-service
    lead's approval when the site asks for it (``approve_goods_slip``).
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
        if inp.valid_on < act.today:
            raise InvalidInputError([FieldError("valid_on", "不能早于今天",
                                                "cannot be a day already past")])
        owed = unit_arrears(act, household.unit_id)
        if owed:
            total = yuan(sum(f.amount_fen for f in owed))
            raise RuleRefused("G4", f"本房屋尚拖欠 {len(owed)} 笔费用共 {total} 元（最早应缴于 "
                              f"{owed[0].due_on}），须缴清后方可开具放行条",
                              f"the unit is in arrears: {total} yuan in {len(owed)} overdue "
                              f"fee(s), the oldest due on {owed[0].due_on}; a release slip is "
                              "issued only when they are paid", "household_id")
        owner = None
        if applicant.holder_kind is not HolderKind.OWNER:
            owner = consenting_owner(act, household.unit_id, inp.owner_consent, "G4",
                                     what_zh="搬出物品", what_en="a goods release slip")
        application = open_application(act, ApplicationKind.GOODS_RELEASE, applicant=applicant,
                                       household=household, in_person=True)
        if owner is not None and inp.owner_consent is not None:
            record_consent(act, application, owner, inp.owner_consent)
        last = act.session.scalar(select(func.max(GoodsReleaseSlip.number)).where(
            GoodsReleaseSlip.site_id == act.site.id))
        slip = GoodsReleaseSlip(
            site_id=act.site.id, number=(last or 0) + 1, household_id=household.id,
            application_id=application.id, carrier_name=inp.carrier_name, items=inp.items,
            valid_on=inp.valid_on, issued_by_staff_id=act.staff.id, issued_at=act.now)
        act.session.add(slip)
        act.session.flush()
        return slip.number


# 管家部负责人 (seed 003) — the head of the stewards who look after the residents — is the
# customer-service lead here: the closest role the desk has (docs/central.md).
SLIP_APPROVERS = frozenset({Role.CUSTOMER_SERVICE_LEAD})


def _not_a_slip_approver(role: Role) -> RuleRefused:
    return RuleRefused("G4", f"放行条须由管家部负责人（客服负责人）审批签名，{role.value} 无权审批",
                       "a release slip is approved by the head of the stewards (the "
                       f"customer-service lead), not a {role.value}")


def approve_goods_slip(desk: Desk, actor: Actor, number: int) -> datetime:
    """Seed 003 4.3: 经办人签字后,交由管家部负责人审批确认签名 — the customer-service lead
    approves a slip another staff member issued (rule G4); when. Refused under G4 for any
    other role or for the slip's own issuer."""
    with action(desk) as act:
        staff, _site = act.authorise(actor, SLIP_APPROVERS, refusal=_not_a_slip_approver)
        slip = _slip(act, number)
        if slip.approved_at is not None or slip.left_at is not None:
            raise ConflictError("此放行条已审批或已使用", "this slip is already approved or used",
                                "number")
        if slip.valid_on < act.today:
            raise ConflictError(f"此放行条限 {slip.valid_on} 当日有效，已过期",
                                f"this slip was valid on {slip.valid_on} only", "number")
        if slip.issued_by_staff_id == staff.id:
            raise RuleRefused("G4", "经办人不能审批自己开具的放行条", "the slip's issuer cannot "
                              "approve it: the approval is a second person's check", "number")
        slip.approved_by_staff_id, slip.approved_at = staff.id, act.now
        return act.now


@dataclass(frozen=True)
class RecordGoodsExit(FormInput):
    """At the exit: the slip, what the guard checked against it, and the guard's
    signature."""

    number: Id
    gate_code: Annotated[str, Text(max=64, doc="the exit (site.toml gate code)")]
    items_match: Annotated[bool, Flag(doc="the goods are those on the slip")] = False
    carrier_matches: Annotated[bool, Flag(doc="the person is the one named")] = False
    guard_signoff: Annotated[SignOff | None, Nested(doc="the guard on duty, by name")] = None


def _slip(act: Action, number: int, field: str = "number") -> GoodsReleaseSlip:
    slip = act.session.scalars(select(GoodsReleaseSlip).where(
        GoodsReleaseSlip.site_id == act.site.id,
        GoodsReleaseSlip.number == number)).one_or_none()
    if slip is None:
        raise NotFoundError(f"没有第 {number} 号放行条", f"no release slip {number}", field)
    return slip


def record_goods_exit(desk: Desk, actor: Actor, inp: RecordGoodsExit) -> datetime:
    """The guard lets the goods out (rule G4); the time they left.

    Refused under G4 when the slip is not for today, not approved (where the site asks for
    the approval), when the goods or the person do not match it, or without the guard's
    signature. Only a guard records an exit.
    """
    with action(desk) as act:
        staff, _site = act.authorise(actor, frozenset({Role.GUARD}), "G4")
        slip = _slip(act, inp.number)
        if slip.left_at is not None:
            raise ConflictError("此放行条已使用", "this slip has been used", "number")
        if slip.valid_on != act.today:
            raise RuleRefused("G4", f"此放行条限 {slip.valid_on} 当日有效",
                              f"this slip is valid on {slip.valid_on} only", "number")
        if act.site.settings.goods_slip_approval and slip.approved_at is None:
            # Seed 003 4.4: 出入口岗位确认《物品放行条》有管家负责人签名.
            raise RuleRefused("G4", "放行条未经管家部负责人审批签名，不能放行",
                              "the slip has not been approved by the head of the stewards "
                              "(customer-service lead): the goods stay", "number")
        if not (inp.items_match and inp.carrier_matches):
            raise RuleRefused("G4", "须核对放行条与所搬物品及搬出人员一致后方可放行",
                              "the goods and the person are checked against the slip before "
                              "they leave", "items_match" if not inp.items_match
                              else "carrier_matches")
        if inp.guard_signoff is None or not same_name(inp.guard_signoff.signer_name,
                                                      staff.display_name):
            raise RuleRefused("G4", "放行岗位须在放行条上登记离场时间并签名",
                              "the guard on duty records the time and signs the slip",
                              "guard_signoff")
        gate = act.session.scalars(select(Gate).where(
            Gate.site_id == act.site.id, Gate.code == inp.gate_code)).one_or_none()
        if gate is None:
            raise NotFoundError(f"没有门岗 {inp.gate_code}", f"no gate {inp.gate_code!r}",
                                "gate_code")
        slip.left_at, slip.exit_gate_id = act.now, gate.id
        slip.guard_staff_id, slip.guard_signed = staff.id, True
        return act.now


@dataclass(frozen=True)
class FiledSlip:
    """A slip filed at the desk, and whether after its deadline."""

    number: int
    due_at: datetime
    late: bool


def file_goods_slips(desk: Desk, actor: Actor, numbers: tuple[int, ...]) -> tuple[FiledSlip, ...]:
    """File used slips handed in by the exit posts (rule G4: by 08:30 the next day). A late
    slip is still filed, and reported as late."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        settings, tz = act.site.settings, act.site.timezone
        filed = []
        for i, number in enumerate(numbers):
            slip = _slip(act, number, f"numbers[{i}]")
            if slip.left_at is None or slip.filed_at is not None:
                raise ConflictError(f"第 {number} 号放行条未使用或已归档",
                                    f"slip {number} was not used, or is filed already",
                                    f"numbers[{i}]")
            slip.filed_at = act.now
            due = filing_deadline(slip.left_at, tz, settings.goods_slip_filing_time)
            filed.append(FiledSlip(number, due, act.now > due))
        return tuple(filed)


def overdue_goods_slips(desk: Desk, actor: Actor) -> tuple[FiledSlip, ...]:
    """Used slips not filed by their deadline (rule G4), oldest first: what the desk
    chases (催收)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        settings, tz = act.site.settings, act.site.timezone
        overdue = []
        for slip in act.session.scalars(select(GoodsReleaseSlip).where(
                GoodsReleaseSlip.site_id == act.site.id, GoodsReleaseSlip.left_at.is_not(None),
                GoodsReleaseSlip.filed_at.is_(None)).order_by(GoodsReleaseSlip.left_at)):
            assert slip.left_at is not None  # the query's condition
            due = filing_deadline(slip.left_at, tz, settings.goods_slip_filing_time)
            if act.now > due:
                overdue.append(FiledSlip(slip.number, due, True))
        return tuple(overdue)


@dataclass(frozen=True)
class IssueGoodsPass(FormInput):
    """A long-term goods pass (常住物品放行证) for a resident showing an ID matching the
    record."""

    person_id: Id
    id_number_presented: Annotated[str | None, Text(max=32)] = None


def issue_goods_pass(desk: Desk, actor: Actor, inp: IssueGoodsPass) -> tuple[int, date]:
    """Issue a long-term goods pass (rule G4): valid one year (the site's
    ``goods_pass_months``, counted as rule P2 counts months). Refused under G4 unless the
    person is a current resident showing an ID that matches the record. Returns the pass's
    id and its last valid day."""
    with checking_ids(desk, "issue_goods_pass") as ids, action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        person = act.session.get(Person, inp.person_id)
        if person is None or person.site_id != act.site.id:
            raise NotFoundError("没有此人的登记资料", f"no person {inp.person_id}", "person_id")
        if (person.holder_kind not in RESIDENT_KINDS or person.household is None
                or not person.household.is_current):
            raise RuleRefused("G4", "常住物品放行证只为本小区现住户办理",
                              "a long-term goods pass is for current residents", "person_id")
        if not inp.id_number_presented:
            raise RuleRefused("G4", "须出示与登记信息一致的身份证明",
                              "the ID shown must match the record", "id_number_presented")
        ids.check(act, person, inp.id_number_presented, "G4", "id_number_presented")
        until = months_end(act.today, act.site.settings.goods_pass_months)
        row = GoodsPass(site_id=act.site.id, person_id=person.id, valid_from=act.today,
                        valid_until=until, issued_by_staff_id=act.staff.id, created_at=act.now)
        act.session.add(row)
        act.session.flush()
        # The application trail notes which ID was checked, masked (rule G5).
        application = open_application(act, ApplicationKind.GOODS_RELEASE, applicant=person,
                                       household=person.household, in_person=True,
                                       note=f"long-term goods pass {row.id}")
        add_evidence(act, application, EvidenceKind.ID_CHECKED, person=person,
                     method=ConfirmationMethod.DOCUMENT,
                     reference=f"ID {masked(inp.id_number_presented)}")
        return row.id, until


@dataclass(frozen=True)
class SlipView:
    """A release slip as the desk's list and its print show it."""

    number: int
    unit: str
    carrier_name: str
    items: str
    valid_on: date
    issued_at: datetime
    approved_at: datetime | None
    left_at: datetime | None
    filed_at: datetime | None
    filing_due_at: datetime | None  # once the goods left: when the slip is to be filed
    overdue: bool  # used, not filed, past its deadline (G4)


def _slip_view(act: Action, slip: GoodsReleaseSlip) -> SlipView:
    settings, tz = act.site.settings, act.site.timezone
    due = (filing_deadline(slip.left_at, tz, settings.goods_slip_filing_time)
           if slip.left_at is not None else None)
    household = site_household(act, slip.household_id)
    return SlipView(slip.number, household.unit.label, slip.carrier_name, slip.items,
                    slip.valid_on, slip.issued_at, slip.approved_at, slip.left_at,
                    slip.filed_at, due,
                    due is not None and slip.filed_at is None and act.now > due)


# The desk's list looks back a month: older slips are filed paper.
SLIP_LIST_DAYS = 31


def recent_goods_slips(desk: Desk, actor: Actor) -> tuple[SlipView, ...]:
    """The slips issued in the last month or still open (not used, or used and not filed),
    newest first; the overdue ones (G4) say so."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        since = act.now - timedelta(days=SLIP_LIST_DAYS)
        slips = act.session.scalars(select(GoodsReleaseSlip).where(
            GoodsReleaseSlip.site_id == act.site.id,
            (GoodsReleaseSlip.issued_at >= since) | GoodsReleaseSlip.filed_at.is_(None))
            .order_by(GoodsReleaseSlip.number.desc()).limit(500))
        return tuple(_slip_view(act, slip) for slip in slips)


def goods_slip(desk: Desk, actor: Actor, number: int) -> SlipView:
    """One slip by its number (for its print, which the exit guard scans)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES | {Role.GUARD})
        return _slip_view(act, _slip(act, number))
