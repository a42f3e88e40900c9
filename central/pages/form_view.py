"""A desk input's declaration (central/form_input.py) as a page form, and a posted page
form back into the shape the declaration reads.

The page never declares a field of its own: ``form_view`` walks the input's fields —
their kind, bounds, whether required, the label — into what ``templates/_form.html``
draws, and ``posted_values`` turns the browser's flat ``name=value`` pairs (``cards[0].uid``,
a checkbox that is absent when unticked, a list typed one per line) into the nested values
the same reader (``read_input``) validates for the API. So a page, the API and the OpenAPI
document accept exactly the same things.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from starlette.datastructures import FormData

from central.clock import zone
from central.form_fields import (
    Choice,
    Day,
    Flag,
    Instant,
    Integer,
    Names,
    Password,
    Schedule,
    Spec,
    Text,
    Uid,
    Yuan,
)
from central.form_input import FormField, FormInput, form_fields
from central.pages.enum_labels import enum_label
from central.pages.field_labels import field_label
from central.refusals import FieldError

_ROW = re.compile(r"\[(\d{1,3})\]")
# The most rows of a list a page form may post (the declaration's own max is checked by
# the reader; this only bounds the parsing).
_MAX_ROWS = 200


@dataclass(frozen=True)
class FieldView:
    """One input of a page form."""

    name: str  # the form's name of the value, e.g. ``cards[0].uid``
    label: str  # English source text; the template translates it
    widget: str  # text, password, number, money, date, datetime, checkbox, select, lines
    required: bool
    value: str
    doc: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, English label) of a select
    errors: tuple[FieldError, ...] = ()
    max_length: int | None = None


@dataclass(frozen=True)
class GroupView:
    """A nested input (one card line, the holder's sign-off) or a list of them."""

    name: str
    label: str
    rows: tuple[tuple[FieldView | GroupView, ...], ...]
    many: bool
    errors: tuple[FieldError, ...] = ()


@dataclass
class _Errors:
    by_field: dict[str, list[FieldError]] = field(default_factory=dict)

    def of(self, name: str) -> tuple[FieldError, ...]:
        return tuple(self.by_field.get(name, ()))


def _widget(spec: Spec) -> str:
    kinds: list[tuple[type[Spec], str]] = [
        (Password, "password"), (Yuan, "money"), (Integer, "number"), (Day, "date"),
        (Instant, "datetime"), (Flag, "checkbox"), (Choice, "select"), (Names, "lines"),
        (Uid, "uid"), (Schedule, "text"), (Text, "text")]
    return next((w for kind, w in kinds if isinstance(spec, kind)), "text")


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "\n".join(_shown(v) for v in value)
    return str(value)


def _field(f: FormField, name: str, value: Any, errors: _Errors) -> FieldView:
    spec = f.element if f.many and f.element is not None else f.spec
    widget = "lines" if f.many else _widget(spec)
    options: tuple[tuple[str, str], ...] = ()
    if isinstance(spec, Choice) and spec.of is not None:
        options = tuple((str(m.value), enum_label(m)) for m in spec.of)
    shown = value if value is not None else (None if f.required else f.default)
    return FieldView(name=name, label=field_label(f), widget=widget, required=f.required,
                     value=_shown(shown), doc=f.spec.doc, options=options,
                     errors=errors.of(name),
                     max_length=spec.max if isinstance(spec, Text) else None)


def _views(cls: type[FormInput], values: Mapping[str, Any], errors: _Errors, prefix: str,
           *, leave_out: Collection[str] = (), rows: Mapping[str, int] | None = None,
           in_group: bool = False) -> tuple[FieldView | GroupView, ...]:
    out: list[FieldView | GroupView] = []
    for f in form_fields(cls):
        if f.key in leave_out:
            continue
        name = f"{prefix}{f.key}"
        value = values.get(f.key)
        if f.nested is not None and f.many:
            given = value if isinstance(value, list) else []
            count = max(len(given), (rows or {}).get(f.key, 1), getattr(f.spec, "min", 0))
            group_rows = tuple(
                _views(f.nested, given[i] if i < len(given) and isinstance(given[i], Mapping)
                       else {}, errors, f"{name}[{i}].", in_group=True)
                for i in range(count))
            out.append(GroupView(name, field_label(f), group_rows, True, errors.of(name)))
        elif f.nested is not None:
            nested = value if isinstance(value, Mapping) else {}
            out.append(GroupView(name, field_label(f),
                                 (_views(f.nested, nested, errors, f"{name}.",
                                         in_group=True),),
                                 False, errors.of(name)))
        else:
            drawn = _field(f, name, value, errors)
            # Inside a group (a card line, the owner's consent) a field is required only
            # when the group is filled in at all: a line left blank is skipped, an owner
            # needs no consent. The browser cannot know that; the reader refuses a group
            # filled in by half, beside its field.
            out.append(dataclasses.replace(drawn, required=False) if in_group else drawn)
    return tuple(out)


def form_view(cls: type[FormInput], values: Mapping[str, Any] | None = None,
              errors: Sequence[FieldError] = (), *, leave_out: Collection[str] = (),
              rows: Mapping[str, int] | None = None) -> tuple[FieldView | GroupView, ...]:
    """The page form of ``cls``: its fields less ``leave_out`` (those the page fills
    itself, such as the card being acted on), showing ``values`` (what was posted, so a
    refused form comes back as typed) and ``errors`` beside their fields. ``rows`` says
    how many lines to draw of a list of nested inputs."""
    by_field = _Errors()
    for e in errors:
        by_field.by_field.setdefault(e.field, []).append(e)
    return _views(cls, values or {}, by_field, "", leave_out=leave_out, rows=rows)


Options = Sequence[tuple[str, str]]


def with_choices(view: Sequence[FieldView | GroupView], choices: Mapping[str, Options],
                 ) -> tuple[FieldView | GroupView, ...]:
    """``view`` with each field whose key (the last part of its name, ``holder_person_id``
    of ``lines[0].holder_person_id``) or whole name is in ``choices`` drawn as a select of
    those (value, text) options: a household, a person or a gate picked from a list rather
    than typed as a number nobody at the counter knows. The value posted is the same id the
    declaration reads, so the form still goes through ``read_input``."""
    out: list[FieldView | GroupView] = []
    for item in view:
        if isinstance(item, GroupView):
            out.append(dataclasses.replace(item, rows=tuple(
                with_choices(row, choices) for row in item.rows)))
            continue
        key = item.name.rsplit(".", 1)[-1]
        options = choices.get(item.name, choices.get(key))
        out.append(item if options is None else
                   dataclasses.replace(item, widget="select", options=tuple(options)))
    return tuple(out)


def unplaced_errors(view: Sequence[FieldView | GroupView],
                    errors: Sequence[FieldError]) -> list[FieldError]:
    """The errors no drawn field shows (a cross-field check, a field the page fills)."""
    names: set[str] = set()

    def walk(items: Sequence[FieldView | GroupView]) -> None:
        for item in items:
            names.add(item.name)
            if isinstance(item, GroupView):
                for row in item.rows:
                    walk(row)
    walk(view)
    return [e for e in errors if e.field not in names]


def posted_values(cls: type[FormInput], form: FormData | Mapping[str, Any], tz: str,
                  prefix: str = "") -> dict[str, Any]:
    """The posted page form as the values ``read_input(cls, ...)`` reads: only the
    declared fields (the CSRF token and buttons are not the input's), lists of nested
    inputs from their numbered rows with rows left blank dropped, lists of values one per
    line, an unticked checkbox as false, a time typed without offset in the site's zone
    ``tz`` (a browser's date-and-time box has none)."""
    out: dict[str, Any] = {}
    for f in form_fields(cls):
        name = f"{prefix}{f.key}"
        if f.nested is not None and f.many:
            rows = []
            for i in _row_numbers(form, name):
                row = posted_values(f.nested, form, tz, f"{name}[{i}].")
                if any(v not in (None, "", [], False) for v in row.values()):
                    rows.append(row)
            out[f.key] = rows
        elif f.nested is not None:
            nested = posted_values(f.nested, form, tz, f"{name}.")
            if any(v not in (None, "", [], False) for v in nested.values()):
                out[f.key] = nested
        elif f.many or isinstance(f.spec, Names):
            raw = _all(form, name)
            lines = [line.strip() for text in raw for line in text.splitlines()]
            out[f.key] = [line for line in lines if line]
        elif isinstance(f.spec, Flag):
            if name in form:
                out[f.key] = str(form[name]).strip().lower() in {"true", "1", "yes", "on"}
        elif name in form:
            value = form[name]
            if isinstance(value, str) and isinstance(f.spec, Instant) and value.strip():
                out[f.key] = _in_zone(value.strip(), tz)
            elif isinstance(value, str):
                out[f.key] = value
    return out


def _in_zone(text: str, tz: str) -> str:
    """``2026-12-03T08:15`` as that site-local time with its offset; anything else as
    typed, for the reader to refuse."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(tz))
    return parsed.isoformat()


def _all(form: FormData | Mapping[str, Any], name: str) -> list[str]:
    if isinstance(form, FormData):
        return [v for v in form.getlist(name) if isinstance(v, str)]
    value = form.get(name)
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def _row_numbers(form: FormData | Mapping[str, Any], name: str) -> list[int]:
    numbers = set()
    for key in form:
        if key.startswith(name + "["):
            m = _ROW.match(key, len(name))
            if m:
                numbers.add(int(m.group(1)))
    return sorted(n for n in numbers if n < _MAX_ROWS)
