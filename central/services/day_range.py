"""A list filter's days: from ``since`` to ``until`` (site-local, both inclusive), checked
once for every list that is filtered by them (the receipts, the register)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Self

from central.form_input import FormInput
from central.forms import FormReader


@dataclass(frozen=True)
class DayRange(FormInput):
    """Days from ``since`` to ``until``; either may be left open."""

    since: date | None = None
    until: date | None = None

    def cross_check(self, form: FormReader) -> Self:
        """A range that ends before it starts finds nothing: say so instead."""
        if self.since is not None and self.until is not None and self.until < self.since:
            form.fail("until", "结束日期早于开始日期", "the end date is before the start date")
        return self
