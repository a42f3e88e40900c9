"""The monthly parking report (rule P4) as files: CSV (one file, the parts one after the
other) and XLSX (one sheet per part), both carrying the fees, the use, the reconciliation and
the sign-off. ``content_digest`` is what the director's signature keeps: the SHA-256 of the
report's parts without the sign-off (which cannot sign itself)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import Workbook

from central.amounts import yuan
from central.services.parking_report import ParkingReport, due_dates

Row = Sequence[Any]
FEE_HEADER = ("收据号 receipt", "收费日期 paid on", "卡号 card", "持卡人 holder",
              "车牌 plate", "车位 space", "月数 months", "起 from", "止 until",
              "金额 amount (yuan)", "作废 void")
USE_HEADER = ("卡号 card", "持卡人 holder", "车牌 plate", "进场 entries", "出场 exits",
              "使用天数 days used", "未缴费使用日 days used unpaid")


def _fee_rows(report: ParkingReport, money: Any) -> list[Row]:
    rows: list[Row] = [FEE_HEADER]
    rows += [(f.receipt_number, f.paid_on.isoformat(), f.card_uid, f.holder_name, f.plate,
              f.space, f.months, f.paid_from.isoformat(), f.paid_until.isoformat(),
              money(f.amount_fen), "void" if f.void else "") for f in report.fees]
    rows.append(("合计 total", "", "", "", "", "", "", "", "", money(report.fees_total_fen),
                 f"{report.fees_count} fee(s)"))
    return rows


def _use_rows(report: ParkingReport) -> list[Row]:
    if report.usage is None:
        return [("（安管部尚未填写 security has not added the use yet）",)]
    rows: list[Row] = [USE_HEADER]
    rows += [(u.card_uid, u.holder_name, u.plate, u.entries, u.exits, u.days_used,
              " ".join(d.isoformat() for d in u.unpaid_days)) for u in report.usage]
    rows.append(("合计 total", "", "", report.entries_total, report.exits_total, "", ""))
    if report.untrusted_clock_events:
        rows.append((f"其中 {report.untrusted_clock_events} 次记录时钟未校准 "
                     "(gate clock untrusted: times approximate)",))
    return rows


def _reconciliation_rows(report: ParkingReport) -> list[Row]:
    if report.usage is None:
        return [("（待使用情况填写后对账 reconciled once the use is added）",)]
    rows: list[Row] = [("已缴费未使用 paid, never used",),
                       ("卡号 card", "持卡人 holder", "车牌 plate", "已缴天数 paid days")]
    rows += [(p.card_uid, p.holder_name, p.plate, p.paid_days) for p in report.paid_not_used]
    rows += [(), ("未缴费使用 used without paying",),
             ("卡号 card", "持卡人 holder", "车牌 plate", "天数 days", "日期 dates")]
    rows += [(u.card_uid, u.holder_name, u.plate, len(u.unpaid_days),
              " ".join(d.isoformat() for d in u.unpaid_days))
             for u in report.used_without_paying]
    return rows


def _on(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _signoff_rows(report: ParkingReport) -> list[Row]:
    fees_due, usage_due = due_dates(report.month)
    stamps = report.stamps
    if stamps is None:
        return [("客服中心统计 fees totalled", "", f"due {fees_due}"),
                ("安管部填写 use added", "", f"due {usage_due}"),
                ("管理处主任签字 director", "", "")]
    return [
        ("客服中心统计 fees totalled", stamps.fees_totalled_by, _on(stamps.fees_totalled_on),
         f"due {fees_due}", "late" if stamps.fees_late else ""),
        ("安管部填写 use added", stamps.usage_added_by or "", _on(stamps.usage_added_on),
         f"due {usage_due}", "late" if stamps.usage_late else ""),
        ("管理处主任签字 director", stamps.signed_by or "", _on(stamps.signed_on),
         stamps.director_note, stamps.content_sha256 or ""),
    ]


def _sections(report: ParkingReport, money: Any,
              with_signoff: bool) -> list[tuple[str, list[Row]]]:
    fees_due, usage_due = due_dates(report.month)
    sections = [
        (f"一、停车费收取 fees (客服中心 desk, by {fees_due})", _fee_rows(report, money)),
        (f"二、停车卡使用 use (安管部 security, by {usage_due})", _use_rows(report)),
        ("三、对账 reconciliation", _reconciliation_rows(report)),
    ]
    if with_signoff:
        sections.append(("四、签字 sign-off", _signoff_rows(report)))
    return sections


def _title(report: ParkingReport) -> Row:
    return ("停车费收取情况月统计表 monthly parking report", report.site_code, report.site_name,
            report.month.strftime("%Y-%m"))


def _csv(rows: Iterable[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_rows(report: ParkingReport, with_signoff: bool) -> list[Row]:
    rows: list[Row] = [_title(report)]
    for heading, part in _sections(report, yuan, with_signoff):
        rows += [(), (heading,), *part]
    return rows


def report_csv(report: ParkingReport) -> str:
    """The report as CSV text (UTF-8 when written; amounts in yuan with two decimals)."""
    return _csv(_csv_rows(report, with_signoff=True))


def content_digest(report: ParkingReport) -> str:
    """SHA-256 (hex) of the report's parts, without the sign-off: what the director signs."""
    return hashlib.sha256(_csv(_csv_rows(report, with_signoff=False)).encode()).hexdigest()


def _decimal_yuan(fen: int) -> Decimal:
    # Exact: fen / 100 as a Decimal, never through a float.
    return Decimal(fen).scaleb(-2)


def report_xlsx(report: ParkingReport) -> bytes:
    """The report as an XLSX workbook: one sheet per part, amounts as numbers in yuan."""
    workbook = Workbook()
    titles = ("Fees 停车费", "Use 使用", "Reconciliation 对账", "Sign-off 签字")
    for index, (title, (heading, rows)) in enumerate(
            zip(titles, _sections(report, _decimal_yuan, with_signoff=True), strict=True)):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = title
        sheet.append(list(_title(report)))
        sheet.append([heading])
        for row in rows:
            sheet.append(list(row))
        if index == 0:
            amount_column = FEE_HEADER.index("金额 amount (yuan)") + 1
            for cells in sheet.iter_rows(min_row=4, min_col=amount_column,
                                         max_col=amount_column):
                for cell in cells:
                    cell.number_format = "0.00"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
