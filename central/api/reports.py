"""The monthly parking report (停车费收取情况月统计表), rule P4: read as JSON, CSV or XLSX,
and its three stamped steps — the desk totals the fees (by the 10th), security adds each
card's use from the gates' logs (by the 15th), the office director signs.

The gates' events come from the same per-site sources as ``GET /events`` (central/api/
ports.py); a step or a report that needs them answers 503 when the site's store is not
connected, rather than a report silently without its second part.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from central.api.body import query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.ports import GateEventSource
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import Money
from central.api.state import api_state
from central.forms import FormReader
from central.services import parking_report_signoff as signoff
from central.services.context import Actor
from central.services.parking_report import ParkingReport, ReportStamps, UsageLine
from central.services.parking_report_export import report_csv, report_xlsx

router = protected_router("parking report")
SIGN_REPORT_BODY = Body(signoff.SignParkingReport, path=("month",), name="SignReportBody")

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("json", "csv", "xlsx")
MonthPath = Annotated[str, Path(json_schema_extra={"pattern": "^[0-9]{4}-[0-9]{2}$"},
                                description="the month, `2026-06`")]
REPORT_ERRORS = error_responses(404, 409, 413, 415, 503)


class FeeLineOut(BaseModel):
    """One parking fee taken in the month (part one, the desk's)."""

    receipt_number: int
    paid_on: date
    card_uid: str
    holder_name: str
    plate: str
    space: str
    months: int
    paid_from: date
    paid_until: date
    amount: Money
    void: bool


class UsageLineOut(BaseModel):
    """One card's granted taps at the car-park barriers (part two, security's)."""

    card_uid: str
    holder_name: str
    plate: str
    entries: int
    exits: int
    days_used: int
    unpaid_days: list[date] = Field(description="days used that no paid period covers")


class PaidNotUsedOut(BaseModel):
    """A subscription paid for (part of) the month whose card never used the car park."""

    card_uid: str
    holder_name: str
    plate: str
    paid_days: int


class StampsOut(BaseModel):
    """Who did each step of rule P4 and when (site-local dates), and the deadlines."""

    fees_totalled_by: str
    fees_totalled_on: date
    fees_due_on: date
    fees_late: bool
    usage_added_by: str | None
    usage_added_on: date | None
    usage_due_on: date
    usage_late: bool
    signed_by: str | None
    signed_on: date | None
    content_sha256: str | None = Field(description="SHA-256 of the signed content")
    director_note: str


class ParkingReportOut(BaseModel):
    """The report of one site and month. ``usage`` is null until security has added it."""

    site_code: str
    site_name: str
    month: str = Field(description="`2026-06`")
    fees: list[FeeLineOut]
    fees_total: Money
    fees_count: int
    usage: list[UsageLineOut] | None
    entries_total: int
    exits_total: int
    paid_not_used: list[PaidNotUsedOut]
    used_without_paying: list[UsageLineOut]
    untrusted_clock_events: int = Field(description="taps whose gate clock was not trusted")
    stamps: StampsOut | None = Field(description="null until the desk totals the fees")


def _stamps(s: ReportStamps) -> StampsOut:
    return StampsOut(fees_totalled_by=s.fees_totalled_by, fees_totalled_on=s.fees_totalled_on,
                     fees_due_on=s.fees_due_on, fees_late=s.fees_late,
                     usage_added_by=s.usage_added_by, usage_added_on=s.usage_added_on,
                     usage_due_on=s.usage_due_on, usage_late=s.usage_late,
                     signed_by=s.signed_by, signed_on=s.signed_on,
                     content_sha256=s.content_sha256, director_note=s.director_note)


def _usage(u: UsageLine) -> UsageLineOut:
    return UsageLineOut(card_uid=u.card_uid, holder_name=u.holder_name, plate=u.plate,
                        entries=u.entries, exits=u.exits, days_used=u.days_used,
                        unpaid_days=list(u.unpaid_days))


def report_out(r: ParkingReport) -> ParkingReportOut:
    """The API's view of a report."""
    return ParkingReportOut(
        site_code=r.site_code, site_name=r.site_name, month=r.month.strftime("%Y-%m"),
        fees=[FeeLineOut(receipt_number=f.receipt_number, paid_on=f.paid_on,
                         card_uid=f.card_uid, holder_name=f.holder_name, plate=f.plate,
                         space=f.space, months=f.months, paid_from=f.paid_from,
                         paid_until=f.paid_until, amount=Money.of(f.amount_fen), void=f.void)
              for f in r.fees],
        fees_total=Money.of(r.fees_total_fen), fees_count=r.fees_count,
        usage=[_usage(u) for u in r.usage] if r.usage is not None else None,
        entries_total=r.entries_total, exits_total=r.exits_total,
        paid_not_used=[PaidNotUsedOut(card_uid=p.card_uid, holder_name=p.holder_name,
                                      plate=p.plate, paid_days=p.paid_days)
                       for p in r.paid_not_used],
        used_without_paying=[_usage(u) for u in r.used_without_paying],
        untrusted_clock_events=r.untrusted_clock_events,
        stamps=_stamps(r.stamps) if r.stamps is not None else None)


def _month(value: str) -> date:
    """The month in the path, read as the services' forms read it."""
    r = FormReader({"month": value})
    month = signoff.read_month(r)
    r.finish()
    return month


def _events(request: Request, actor: Actor) -> GateEventSource:
    """The gate event source of the caller's site, or 503."""
    source = api_state(request).events.get(actor.site)
    if source is None:
        raise signoff.no_gate_logs()
    return source


def _filename(report: ParkingReport, ext: str) -> str:
    # Site codes are ASCII slugs (site.toml), so the name needs no RFC 5987 encoding.
    return f"parking-report-{report.site_code}-{report.month:%Y-%m}.{ext}"


@router.get("/parking/reports/{month}", response_model=ParkingReportOut,
            responses={**error_responses(404, 503), 200: {"content": {
                CSV_TYPE: {"schema": {"type": "string"}},
                XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}},
                "description": "the report: JSON, or the file `format` asks for"}})
def get_parking_report(
        request: Request, actor: ActorDep, month: MonthPath,
        format: Annotated[str | None, Query(
            json_schema_extra={"enum": list(FORMATS)},
            description="json (default), csv or xlsx")] = None,
) -> Response | ParkingReportOut:
    """The report of a month as it stands: the fees, and once security has added it the
    use and the reconciliation (rule P4), with the stamps of each step. Writes nothing."""
    # The path's month and the query read together, so both problems are told at once.
    q = query_reader({"format": format, "month": month})
    chosen = (q.opt_text("format", 8) or "json").lower()
    if chosen not in FORMATS:
        q.fail("format", "格式应为 json、csv 或 xlsx", "one of json, csv, xlsx")
    the_month = signoff.read_month(q)
    q.finish()
    state = api_state(request)
    report = signoff.current_parking_report(state.desk, actor, the_month,
                                            state.events.get(actor.site))
    if chosen == "csv":
        # With a byte-order mark: Excel, which the desk opens it in, otherwise reads
        # UTF-8 as the system's code page and garbles the Chinese.
        return Response(report_csv(report).encode("utf-8-sig"),
                        media_type=f"{CSV_TYPE}; charset=utf-8", headers={
                            "Content-Disposition":
                                f'attachment; filename="{_filename(report, "csv")}"'})
    if chosen == "xlsx":
        return Response(report_xlsx(report), media_type=XLSX_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{_filename(report, "xlsx")}"'})
    return report_out(report)


@router.post("/parking/reports/{month}/fees", responses=REPORT_ERRORS)
def total_parking_fees(request: Request, actor: ActorDep, month: MonthPath) -> ParkingReportOut:
    """The desk totals a finished month's parking fees (P4, by the 10th of the next
    month); again before the signature after a receipt is voided."""
    report = signoff.total_parking_fees(api_state(request).desk, actor, _month(month))
    return report_out(report)


@router.post("/parking/reports/{month}/usage", responses=REPORT_ERRORS)
def add_parking_usage(request: Request, actor: ActorDep, month: MonthPath) -> ParkingReportOut:
    """Security adds each card's use of the car park from the barriers' logs (P4, by the
    15th); refused with rule P4 before the desk has totalled the fees."""
    the_month = _month(month)
    report = signoff.add_parking_usage(api_state(request).desk, actor, the_month,
                                       _events(request, actor))
    return report_out(report)


@router.post("/parking/reports/{month}/sign", responses=REPORT_ERRORS,
             openapi_extra=SIGN_REPORT_BODY.openapi)
def sign_parking_report(request: Request, actor: ActorDep, month: MonthPath,
                        body: BodyDep) -> ParkingReportOut:
    """The office director signs the reconciled report (P4); refused before both parts are
    in, or when the figures changed since they were stamped."""
    inp = SIGN_REPORT_BODY.read(body, month=month)
    report = signoff.sign_parking_report(api_state(request).desk, actor, inp,
                                         _events(request, actor))
    return report_out(report)
