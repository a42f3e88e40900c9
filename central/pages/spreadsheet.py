"""A desk list as an XLSX download (openpyxl, as the parking report's export in
central/services/parking_report_export.py): one sheet, the column titles in the reader's
language, times in the site's time zone, money as numbers in yuan with two decimals (exact:
fen to a Decimal, never through a float), so the sheet adds up in Excel or WPS."""

from __future__ import annotations

import enum
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from central.clock import zone
from central.pages.enum_labels import enum_label
from central.pages.templating import PageContext

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
DAY_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm"


class Kind(enum.Enum):
    """How a column's values are written."""

    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"  # integer fen, written in yuan
    DAY = "day"
    TIME = "time"  # an aware instant, written in the site's time zone


@dataclass(frozen=True)
class Column:
    """One column: its title (English source text, translated for the reader), its kind
    and its width in characters."""

    title: str
    kind: Kind = Kind.TEXT
    width: int = 14


def _cell(value: Any, kind: Kind, ctx: PageContext, tz: str) -> Any:
    if value is None or value == "":
        return None
    if kind is Kind.MONEY:
        return Decimal(int(value)).scaleb(-2)
    if kind is Kind.TIME and isinstance(value, datetime):
        # Excel has no time zones: the site's wall clock, as the desk shows it.
        return value.astimezone(zone(tz)).replace(tzinfo=None)
    if isinstance(value, enum.Enum):
        return ctx.gettext(enum_label(value))
    if isinstance(value, date | int | Decimal):
        return value
    return str(value)


_FORMATS = {Kind.MONEY: MONEY_FORMAT, Kind.DAY: DAY_FORMAT, Kind.TIME: TIME_FORMAT}


def workbook_bytes(ctx: PageContext, sheet_title: str, columns: Sequence[Column],
                   rows: Iterable[Sequence[Any]]) -> bytes:
    """The rows as an XLSX workbook of one sheet: a bold title row (frozen, filterable),
    then one row per item."""
    tz = ctx.caller.timezone if ctx.caller is not None else "Asia/Shanghai"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = ctx.gettext(sheet_title)[:31]  # Excel's limit on a sheet's name
    sheet.append([ctx.gettext(c.title) for c in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(v, c.kind, ctx, tz) for v, c in zip(row, columns, strict=True)])
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        number_format = _FORMATS.get(column.kind)
        if number_format is not None:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsx_response(content: bytes, filename: str) -> Response:
    """The workbook as a download named ``filename`` (ASCII)."""
    return Response(content, media_type=XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
