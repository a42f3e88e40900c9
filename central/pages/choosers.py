"""Choosers on a desk form: a field that names a household, a person or a gate by its id
or code is drawn as a list to pick from (the unit's households and people, the site's
gates) instead of a box for a number nobody at the counter knows. The value posted is the
same id the input's declaration reads, so the form still goes through ``read_input``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from fastapi import Request

from central.api.state import api_state
from central.clock import local_date, utc_now
from central.pages.enum_labels import enum_label
from central.pages.form_view import FieldView, GroupView
from central.pages.templating import PageContext
from central.services.desk_choices import HouseholdChoice

Options = Sequence[tuple[str, str]]
View = tuple[FieldView | GroupView, ...]


def with_choices(view: View, choices: Mapping[str, Options], *,
                 in_group: bool = False) -> View:
    """``view`` with each field named in ``choices`` drawn as a list of those (value,
    shown text) options.

    A field inside a group (the owner's consent, a line of workers) is not marked required
    for the browser: the group itself may be left blank — an owner needs no consent, a
    line left blank is skipped — and the browser would refuse to send the form. The
    declaration's reader still refuses a group filled in by half, beside its field.
    """
    out: list[FieldView | GroupView] = []
    for item in view:
        if isinstance(item, GroupView):
            out.append(replace(item, rows=tuple(with_choices(row, choices, in_group=True)
                                                for row in item.rows)))
            continue
        drawn = (replace(item, widget="select", options=tuple(choices[item.name]))
                 if item.name in choices else item)
        out.append(replace(drawn, required=False) if in_group else drawn)
    return tuple(out)


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
