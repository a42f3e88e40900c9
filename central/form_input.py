"""A desk input declared once, read generically.

An input is a frozen dataclass deriving ``FormInput`` whose fields carry their kind
(central/form_fields.py). ``Cls.from_form(data)`` reads a raw form (a JSON body, a page's
form, the command line's values) into it: unknown fields refused, then every field read
through central.forms.FormReader, nested inputs and lists of them included, every problem
reported at once. Checks that span fields live in the input's ``cross_check``.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Self, TypeVar

from central.form_fields import (
    Choice,
    Day,
    Flag,
    Instant,
    Integer,
    Items,
    Names,
    Nested,
    Spec,
    Text,
)
from central.forms import FormReader
from central.refusals import FieldError

T = TypeVar("T", bound="FormInput")


class FormInput:
    """Base of every desk input: ``from_form`` derived from the dataclass's fields."""

    @classmethod
    def from_form(cls, data: Any) -> Self:
        """Validate a form into the input; every problem at once (InvalidInputError)."""
        return read_input(cls, data)

    def cross_check(self, form: FormReader) -> Self:
        """Checks across fields, once each has been read: record problems on ``form``
        (``form.present(key)`` says whether a field was given) and return the input,
        adjusted if need be. None by default."""
        return self


@dataclass(frozen=True)
class FormField:
    """One field of an input as the form knows it."""

    name: str
    key: str
    spec: Spec
    required: bool
    # The value when absent: the dataclass default, None, or the kind's empty value.
    default: Any
    # A nested input (alone, or the element of a list), or the spec of a list's values.
    nested: type[FormInput] | None = None
    element: Spec | None = None

    @property
    def many(self) -> bool:
        """Whether the field holds a list of nested inputs or values."""
        return isinstance(self.spec, Items)


def _implied(kind: Any) -> Spec:
    """The spec of a field whose type says what it is."""
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return Choice(of=kind)
    implied: dict[Any, Spec] = {bool: Flag(), date: Day(), datetime: Instant(),
                                int: Integer(), str: Text()}
    if kind not in implied:
        raise TypeError(f"a form field of type {kind!r} needs its kind declared")
    return implied[kind]


def _split(hint: Any) -> tuple[Any, Spec | None, bool]:
    """(the bare type, its declared spec, whether None is allowed) of a type hint."""
    spec = None
    if typing.get_origin(hint) is Annotated:
        hint, *extras = typing.get_args(hint)
        spec = next((e for e in extras if isinstance(e, Spec)), None)
    nullable = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        nullable = len(options) < len(typing.get_args(hint))
        hint = options[0] if len(options) == 1 else hint
        if typing.get_origin(hint) is Annotated:
            hint, inner, _ = _split(hint)
            spec = spec or inner
    return hint, spec, nullable


def _is_input(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, FormInput)


def form_fields(cls: type[FormInput]) -> tuple[FormField, ...]:
    """The fields of an input class, in declaration order."""
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = _fields(cls)
    return known


_FIELDS: dict[type[FormInput], tuple[FormField, ...]] = {}


def _fields(cls: type[FormInput]) -> tuple[FormField, ...]:
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind, spec, nullable = _split(hints[f.name])
        nested = element = None
        if typing.get_origin(kind) is tuple:
            item, item_spec, _ = _split(typing.get_args(kind)[0])
            if isinstance(spec, Names) or (spec is None and item is str and item_spec is None):
                spec = spec or Names()
            else:
                spec = spec if isinstance(spec, Items) else Items(doc=spec.doc if spec else "")
                nested = item if _is_input(item) else None
                element = None if nested else (item_spec or _implied(item))
        elif _is_input(kind):
            nested, spec = kind, spec or Nested()
        elif spec is None:
            spec = _implied(kind)
        elif isinstance(spec, Choice) and spec.of is None:
            spec = dataclasses.replace(spec, of=kind)
        has_default = f.default is not dataclasses.MISSING
        # A list is required when it needs an item; absent, it is empty.
        required = spec.required if spec.required is not None else not (
            has_default or nullable or isinstance(spec, Flag | Names)
            or (isinstance(spec, Items) and not spec.min))
        if has_default:
            default = f.default
        elif nullable and nested is None:
            default = None
        else:
            default = None if nested else spec.empty
        out.append(FormField(f.name, spec.key or f.name, spec, required, default, nested,
                             element))
    return tuple(out)


def read_input(cls: type[T], data: Any, *, given: Mapping[str, Any] | None = None,
               refuse: Collection[str] = ()) -> T:
    """``data`` (and the values ``given`` apart, such as a path's, which it must not hold
    itself) read into ``cls``. Fields ``data`` holds that ``cls`` does not declare, or
    that are in ``refuse``, are reported first, then every field problem."""
    errors = unknown_fields(cls, data, refuse=set(refuse) | set(given or ()))
    if given:
        data = {**data, **given} if isinstance(data, Mapping) else data
    r = FormReader(data, errors=errors)
    value = _read(cls, r)
    r.finish()
    return value


def _read(cls: type[T], r: FormReader) -> T:
    values = {f.name: _read_field(f, r) for f in form_fields(cls)}
    made: T = typing.cast(Any, cls)(**values)
    return made.cross_check(r)


def _read_field(f: FormField, r: FormReader) -> Any:
    if f.many:
        return _read_items(f, r)
    if f.nested is not None:
        if not f.required and r.data.get(f.key) in (None, "", {}):
            return f.default
        return _read(f.nested, r.nested(f.key))
    value = f.spec.read(r, f.key, f.required)
    return f.default if value is None else value


def _read_items(f: FormField, r: FormReader) -> tuple[Any, ...]:
    assert isinstance(f.spec, Items)
    if f.nested is not None:
        nested = f.nested
        return r.items(f.key, lambda item: _read(nested, item), f.spec.min, f.spec.max)
    element = f.element
    assert element is not None
    return r.values(f.key, lambda item, key: element.read(item, key, True), f.spec.min,
                    f.spec.max)

def unknown_fields(cls: type[FormInput], data: Any, prefix: str = "",
                   refuse: Collection[str] = ()) -> list[FieldError]:
    """Every field of ``data`` (nested inputs and lists of them included) that ``cls`` does
    not declare, or that is in ``refuse``, named the way FormReader names fields."""
    if not isinstance(data, Mapping):
        return []
    fields = {f.key: f for f in form_fields(cls) if f.key not in refuse}
    found = []
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        f = fields.get(key)
        if f is None:
            found.append(FieldError(where, "没有这个字段", "unknown field"))
        elif f.nested is not None and f.many and isinstance(value, list):
            for i, item in enumerate(value):
                found += unknown_fields(f.nested, item, f"{where}[{i}]")
        elif f.nested is not None:
            found += unknown_fields(f.nested, value, where)
    return found
