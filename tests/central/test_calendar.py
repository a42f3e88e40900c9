"""Months as the rules count them (rule P2), used for validity (H1–H3) and I3's month."""

from __future__ import annotations

from datetime import date

import pytest

from central.calendar import months_end


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2026, 6, 9), 1, date(2026, 7, 8)),  # the seed's example
    (date(2026, 1, 31), 1, date(2026, 2, 28)),  # no 31 February: its last day
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2026, 1, 30), 1, date(2026, 2, 28)),
    (date(2026, 1, 31), 2, date(2026, 3, 30)),
    (date(2026, 6, 9), 24, date(2028, 6, 8)),  # H1: two years
    (date(2026, 12, 15), 1, date(2027, 1, 14)),
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
])
def test_months_end(start: date, months: int, end: date) -> None:
    assert months_end(start, months) == end


def test_months_end_needs_a_month() -> None:
    with pytest.raises(ValueError):
        months_end(date(2026, 1, 1), 0)
