"""The options of choosers on a desk form (central/pages/form_view.py ``with_choices``):
the unit's households and people, as a clerk recognises them, found from the unit typed in
the unit finder (templates/choosers/_unit.html); and the site's date."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from central.api.state import api_state
from central.clock import local_date, utc_now
from central.pages.enum_labels import enum_label
from central.pages.form_view import Options
from central.pages.templating import PageContext
from central.refusals import DeskError
from central.services.desk_choices import HouseholdChoice, unit_households


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


def household_choices(households: Sequence[HouseholdChoice],
                      gettext: Callable[[str], str]) -> dict[str, Options]:
    """The choosers of a form a household hands in (a goods slip, a renovation filing):
    the household, the applicant among its people, and the owner who consents."""
    return {
        "household_id": household_options(households, gettext),
        "applicant_person_id": person_options(households, gettext),
        "owner_consent.owner_person_id": person_options(households, gettext,
                                                        owners_only=True),
    }


@dataclass(frozen=True)
class FoundUnit:
    """The unit a form's choosers come from: as typed (else the unit of the household
    asked for), its current households, or why it was not found."""

    unit: str = ""
    households: tuple[HouseholdChoice, ...] = ()
    error: DeskError | None = None

    @property
    def shown(self) -> dict[str, Any]:
        """What the unit finder and the form below it draw (``choosers/_unit.html``)."""
        return {"unit": self.unit, "unit_error": self.error, "households": self.households}

    def household(self, asked: int | None) -> dict[str, Any]:
        """The household the form starts with: the one asked for (from its page), else the
        unit's only one."""
        if asked is not None and self.households:
            return {"household_id": asked}
        if len(self.households) == 1:
            return {"household_id": self.households[0].household_id}
        return {}


async def find_unit(request: Request, ctx: PageContext, unit: str | None,
                    household_id: int | None = None) -> FoundUnit:
    """The households of ``unit`` (or of the unit of ``household_id``); nothing asked,
    nothing found."""
    if not unit and household_id is None:
        return FoundUnit()
    try:
        found = await run_in_threadpool(unit_households, api_state(request).desk, ctx.actor,
                                        unit=unit, household_id=household_id)
    except DeskError as exc:
        return FoundUnit(unit or "", (), exc)
    return FoundUnit(unit or (found[0].unit_label if found else ""), found)


def posted_unit(form: FormData) -> str:
    """The unit a form was posted with (``unit_form`` sends it back hidden), for a refused
    form to find its choosers again."""
    unit = form.get("unit")
    return unit if isinstance(unit, str) else ""


def site_today(request: Request, ctx: PageContext) -> date:
    """Today's date at the site, by the desk's clock."""
    assert ctx.caller is not None
    return local_date(utc_now(api_state(request).desk.clock), ctx.caller.timezone)
