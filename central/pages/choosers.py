"""The options of choosers on a desk form (central/pages/form_view.py ``with_choices``):
the unit's households and people, as a clerk recognises them; and the site's date."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from fastapi import Request

from central.api.state import api_state
from central.clock import local_date, utc_now
from central.pages.enum_labels import enum_label
from central.pages.templating import PageContext
from central.services.desk_choices import HouseholdChoice


def household_options(households: Sequence[HouseholdChoice],
                      gettext: Callable[[str], str]) -> list[tuple[str, str]]:
    """The unit's households: ``1-1202 · Tenancy · 赵磊``."""
    return [(str(h.household_id),
             f"{h.unit_label} · {gettext(enum_label(h.kind))} · "
             f"{'、'.join(p.name for p in h.people)}") for h in households]


def person_options(households: Sequence[HouseholdChoice], gettext: Callable[[str], str],
                   *, owners_only: bool = False) -> list[tuple[str, str]]:
    """The people of the unit's households (or only its owners): ``赵磊 (Tenant, 1-1202)``."""
    return [(str(p.person_id),
             f"{p.name}（{gettext(enum_label(p.holder_kind))} · {h.unit_label} "
             f"{gettext(enum_label(h.kind))}）")
            for h in households for p in (h.owners if owners_only else h.people)]


def site_today(request: Request, ctx: PageContext) -> date:
    """Today's date at the site, by the desk's clock."""
    assert ctx.caller is not None
    return local_date(utc_now(api_state(request).desk.clock), ctx.caller.timezone)
