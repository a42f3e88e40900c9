"""Calendar arithmetic of the rules: months as the desk counts them (rule P2).

"N months from D" ends on the day before the same date N months later; when that date does
not exist, the month ends on the last day of the target month (31 January + 1 month ends on
28/29 February). Card validity (H1–H3) and the free-replacement month (I3) count the same
way, so one function serves them all; ``billing_period`` adds P2's renewal rule.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def same_date_months_later(start: date, months: int) -> date:
    """``start`` moved ``months`` calendar months, clamped to the month's last day."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last))


def months_end(start: date, months: int) -> date:
    """The last day (inclusive) of ``months`` months counted from ``start``.

    9 June + 1 → 8 July; 31 January + 1 → 28/29 February (the same date does not exist, so
    the month ends on the last day of February, rule P2); 9 June 2025 + 24 → 8 June 2027.
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    target = same_date_months_later(start, months)
    if target.day < start.day:
        # Clamped: the same date does not exist in the target month, whose last day ends it.
        return target
    return target - timedelta(days=1)


def billing_period(current_end: date | None, top_up_on: date, months: int) -> tuple[date, date]:
    """Rule P2: the first and last day (inclusive) that ``months`` months paid on
    ``top_up_on`` cover, given the subscription's current last paid day (None: never paid).

    A renewal on or before the current end continues from the day after it, so no paid day
    is lost; after a lapse the new period starts on the top-up day itself (the unpaid days
    between are not charged). Each period ends as ``months_end`` counts: 9 June + 1 → 8 July,
    31 January + 1 → 28/29 February.
    """
    if current_end is not None and current_end >= top_up_on:
        start = current_end + timedelta(days=1)
    else:
        start = top_up_on
    return start, months_end(start, months)
