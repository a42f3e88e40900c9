"""How long a card is valid: rules H1 (owner and family, 2 years), H2 (tenant, 1 year and
never past the lease end), H3 (merchant, 1 year), H4 (staff) and H5 (per-site, "no expiry"
allowed). Months count as rule P2 counts them (central/calendar.py)."""

from __future__ import annotations

from datetime import date

from central.calendar import months_end
from central.models import HolderKind, SiteSettings
from central.refusals import RuleRefused


def valid_until(settings: SiteSettings, kind: HolderKind, issued_on: date,
                lease_end: date | None = None, *, tenancy: bool = False) -> date | None:
    """The last valid day (inclusive) of a card of ``kind`` issued on ``issued_on``, or None
    for no expiry (rule H5).

    A card of a tenancy (the tenant and the family living with them) never outlives the
    lease (rule H2), even on a site where resident cards do not expire.
    """
    months = settings.validity_months(kind)
    until = None if months is None else months_end(issued_on, months)
    if tenancy or kind is HolderKind.TENANT:
        if lease_end is None:
            raise RuleRefused("H2", "租户登记资料中须有租赁合同的到期日", "a tenant's card needs "
                              "the lease end date (from the lease contract) on the tenancy's "
                              "record")
        if lease_end < issued_on:
            raise RuleRefused("H2", f"租约已于 {lease_end} 到期，不能办卡",
                              f"the lease ended on {lease_end}; no card can be issued on it")
        until = lease_end if until is None else min(until, lease_end)
    return until
