"""Choosers on a drawn form: a field the declaration types as an id (a person, a
household) drawn as a list of the people the desk can offer, instead of a number box. The
value still goes through the input's declaration when posted; only the drawing changes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from central.pages.form_view import FieldView, GroupView

Options = Sequence[tuple[str, str]]


def with_choices(view: Sequence[FieldView | GroupView], choices: Mapping[str, Options],
                 ) -> tuple[FieldView | GroupView, ...]:
    """``view`` with each field whose key (the last part of its name, ``holder_person_id``
    of ``lines[0].holder_person_id``) or whole name is in ``choices`` drawn as a select of
    those (value, text) options (the template passes each text through the catalogs,
    which leaves a person's name as it is)."""
    out: list[FieldView | GroupView] = []
    for item in view:
        if isinstance(item, GroupView):
            out.append(dataclasses.replace(item, rows=tuple(
                with_choices(row, choices) for row in item.rows)))
            continue
        key = item.name.rsplit(".", 1)[-1]
        options = choices.get(item.name, choices.get(key))
        if options is None:
            out.append(item)
        else:
            out.append(dataclasses.replace(item, widget="select", options=tuple(options)))
    return tuple(out)
