"""Rule P4's three steps on the monthly parking report, each stamped: by the 10th the desk
totals last month's fees; by the 15th security adds each card's actual use from the gates'
logs; the office director then signs the reconciled report. A step done late is done and
shown as late; the signature keeps the report's SHA-256 (parking_report_export.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Annotated, Any

from sqlalchemy import select

from central.clock import local_date
from central.form_fields import Spec, Text
from central.form_input import FormInput
from central.forms import MAX_DATE, MIN_DATE, FormReader
from central.models import ParkingMonthlyReport, Role, Staff
from central.refusals import ConflictError, RuleRefused, UnavailableError
from central.services.context import DESK_ROLES, Action, Actor, Desk, action, reading
from central.services.parking_report import (
    GateEventSource,
    ParkingReport,
    ReportStamps,
    build_report,
    due_dates,
    next_month,
)
from central.services.parking_report_export import content_digest

# Security (安管部) adds the use: the guards' accounts, or the director on their behalf.
USAGE_ROLES = frozenset({Role.GUARD, Role.DIRECTOR})
# ASCII digits only: ``\d`` would also take other scripts' digits.
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})(?:-01)?$")


def read_month(r: FormReader, key: str = "month") -> date:
    """A month written ``2026-06`` (or its first day), as its first day; within the years
    every date of the forms is (central/forms.py), so the month after it always exists."""
    text = r.text(key, 10)
    match = _MONTH.match(text)
    if text and (match is None or not 1 <= int(match.group(2)) <= 12):
        r.fail(key, "月份格式应为 2026-06", f"{text!r} is not a month like 2026-06")
        return date.min
    if match is None:
        return date.min
    month = date(max(int(match.group(1)), 1), int(match.group(2)), 1)
    if not MIN_DATE <= month <= MAX_DATE:
        r.fail(key, f"月份须在 {MIN_DATE:%Y-%m} 至 {MAX_DATE:%Y-%m} 之间",
               f"must be between {MIN_DATE:%Y-%m} and {MAX_DATE:%Y-%m}")
        return date.min
    return month


@dataclass(frozen=True, kw_only=True)
class Month(Spec):
    """A month written ``2026-06`` (or its first day), read as its first day."""

    empty: Any = date.min

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        if not required and not r.present(key):
            return None
        return read_month(r, key)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _MONTH.pattern}


@dataclass(frozen=True)
class ReportMonth(FormInput):
    """Which month: ``{"month": "2026-06"}`` (its first day)."""

    month: Annotated[date, Month()]


def _row(act: Action, month: date) -> ParkingMonthlyReport | None:
    return act.session.scalars(select(ParkingMonthlyReport).where(
        ParkingMonthlyReport.site_id == act.site.id,
        ParkingMonthlyReport.month == month)).one_or_none()


def _stamps(act: Action, row: ParkingMonthlyReport) -> ReportStamps:
    tz = act.site.timezone

    def name(staff_id: int | None) -> str | None:
        staff = act.session.get(Staff, staff_id) if staff_id is not None else None
        return staff.display_name if staff is not None else None

    fees_due, usage_due = due_dates(row.month)
    return ReportStamps(
        name(row.fees_totalled_by_staff_id) or "", local_date(row.fees_totalled_at, tz),
        fees_due, name(row.usage_added_by_staff_id),
        local_date(row.usage_added_at, tz) if row.usage_added_at is not None else None,
        usage_due, name(row.signed_by_staff_id),
        local_date(row.signed_at, tz) if row.signed_at is not None else None,
        row.content_sha256, row.director_note)


def _with_stamps(act: Action, report: ParkingReport,
                 row: ParkingMonthlyReport | None) -> ParkingReport:
    return report if row is None else replace(report, stamps=_stamps(act, row))


def _unsigned(row: ParkingMonthlyReport | None) -> None:
    if row is not None and row.signed_at is not None:
        raise ConflictError("本月报表已由管理处主任签字确认", "the director has signed this "
                            "month's report", "month")


def no_gate_logs() -> UnavailableError:
    """The refusal (503) of a step or a report that needs the barriers' logs when the
    site's gate event store is not connected."""
    return UnavailableError("本小区的门禁事件库未连接，无法读取道闸记录",
                            "the gate event store of this site is not connected: "
                            "the barriers' logs cannot be read")


def parking_report(desk: Desk, actor: Actor, month: date,
                   events: GateEventSource | None = None) -> ParkingReport:
    """The report of ``month`` as it stands (any desk role or a guard); with ``events``,
    the use and the reconciliation too. Writes nothing."""
    with reading(desk, actor, DESK_ROLES | {Role.GUARD}) as act:
        return _with_stamps(act, build_report(act, month, events), _row(act, month))


def current_parking_report(desk: Desk, actor: Actor, month: date,
                           events: GateEventSource | None) -> ParkingReport:
    """The report of ``month`` as it stands, the way it is read and exported: the fees,
    and once security has added it (P4's second step) the use and the reconciliation read
    again from the gates' logs, as the signature's digest was. Refused (503) when the use
    is in but ``events`` — the site's gate event store — is not connected. Writes nothing."""
    with reading(desk, actor, DESK_ROLES | {Role.GUARD}) as act:
        row = _row(act, month)
        with_use = row is not None and row.usage_added_at is not None
        if with_use and events is None:
            raise no_gate_logs()
        report = build_report(act, month, events if with_use else None)
        return _with_stamps(act, report, row)


def total_parking_fees(desk: Desk, actor: Actor, month: date) -> ParkingReport:
    """The desk totals ``month``'s parking fees (rule P4: by the 10th of the next month).
    Totalling again before the signature replaces the totals (after a voided receipt)."""
    with action(desk) as act:
        act.authorise(actor, DESK_ROLES)
        if next_month(month) > act.today:
            raise ConflictError(f"{month:%Y-%m} 尚未结束", f"{month:%Y-%m} is not over yet",
                                "month")
        row = _row(act, month)
        _unsigned(row)
        report = build_report(act, month, None)
        if row is None:
            row = ParkingMonthlyReport(site_id=act.site.id, month=month, director_note="",
                                       fees_total_fen=0, fees_count=0,
                                       fees_totalled_by_staff_id=act.staff.id,
                                       fees_totalled_at=act.now)
            act.session.add(row)
        row.fees_total_fen, row.fees_count = report.fees_total_fen, report.fees_count
        row.fees_totalled_by_staff_id, row.fees_totalled_at = act.staff.id, act.now
        act.session.flush()
        return _with_stamps(act, report, row)


def add_parking_usage(desk: Desk, actor: Actor, month: date,
                      events: GateEventSource) -> ParkingReport:
    """Security adds each card's actual use of ``month`` from the gates' logs (rule P4:
    by the 15th). Refused under P4 before the desk has totalled the fees."""
    with action(desk) as act:
        act.authorise(actor, USAGE_ROLES, "P4")
        row = _row(act, month)
        if row is None:
            raise RuleRefused("P4", "客服中心须先统计上月停车费，安管部再填写使用情况",
                              "the desk totals the month's fees before security adds the use",
                              "month")
        _unsigned(row)
        report = build_report(act, month, events)
        row.usage_entries, row.usage_exits = report.entries_total, report.exits_total
        row.usage_added_by_staff_id, row.usage_added_at = act.staff.id, act.now
        act.session.flush()
        return _with_stamps(act, report, row)


@dataclass(frozen=True)
class SignParkingReport(FormInput):
    """The director's signature on ``month``'s reconciled report, with their remarks."""

    month: Annotated[date, Month()]
    note: Annotated[str, Text(max=500)] = ""


def _not_the_director(role: Role) -> RuleRefused:
    return RuleRefused("P4", "停车费月统计表由管理处主任签字确认",
                       "the monthly parking report is signed by the office director, "
                       f"not a {role.value}")


def sign_parking_report(desk: Desk, actor: Actor, inp: SignParkingReport,
                        events: GateEventSource) -> ParkingReport:
    """The office director signs the reconciled report (rule P4).

    Refused under P4 for anyone but the director, before both parts are in, or when the
    figures no longer agree with those stamped (a fee voided or taken, an event arrived
    late, since): the step concerned is done again first.
    """
    with action(desk) as act:
        staff, _site = act.authorise(actor, frozenset({Role.DIRECTOR}),
                                     refusal=_not_the_director)
        row = _row(act, inp.month)
        if row is None or row.usage_added_at is None:
            raise RuleRefused("P4", "须待客服中心统计收费、安管部填写使用情况后方可签字",
                              "the desk's fees and security's use are both needed before the "
                              "signature", "month")
        _unsigned(row)
        report = build_report(act, inp.month, events)
        if (report.fees_total_fen, report.fees_count) != (row.fees_total_fen, row.fees_count):
            raise RuleRefused("P4", "收费数据与统计时不符，须重新统计后再签字",
                              "the fees no longer agree with the desk's totals: total them "
                              "again before signing", "month")
        if (report.entries_total, report.exits_total) != (row.usage_entries, row.usage_exits):
            raise RuleRefused("P4", "使用数据与安管部填写时不符，须重新填写后再签字",
                              "the use no longer agrees with security's figures: add it again "
                              "before signing", "month")
        row.content_sha256 = content_digest(report)
        row.signed_by_staff_id, row.signed_at = staff.id, act.now
        row.director_note = inp.note
        act.session.flush()
        return _with_stamps(act, report, row)
