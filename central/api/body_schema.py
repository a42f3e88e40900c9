"""Request bodies of the OpenAPI document, derived from the declared desk inputs.

An operation that takes a body declares it as ``Body(SomeInput, path=("uid",))``: the
input's fields less those the path gives (or that this operation does not take, ``omit``).
The JSON schema comes from the declaration (central/form_fields.py): types, bounds,
descriptions, closed objects (``additionalProperties: false``); nested inputs are
components of their own, ``<Input>Body``. ``Body.read`` validates a parsed body through the
same declaration (central/form_input.py), so what the document says and what the API
accepts cannot drift apart.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Collection
from typing import Any, Generic, TypeVar

from central.form_fields import Items, Uid
from central.form_input import FormField, FormInput, form_fields, read_input

T = TypeVar("T", bound=FormInput)

# Every body an operation declared, by its schema's name.
BODIES: dict[str, Body[Any]] = {}


def schema_name(cls: type[FormInput]) -> str:
    """The component name of an input's schema."""
    return f"{cls.__name__}Body"


def _ref(cls: type[FormInput]) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{schema_name(cls)}"}


def _default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    return value if isinstance(value, str | int | bool) else None


def _property(f: FormField, defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any]
    if isinstance(f.spec, Items):
        if f.nested is not None:
            items = _ref(f.nested)
            _collect(f.nested, defs)
        else:
            assert f.element is not None
            items = f.element.schema()
        spec = {"type": "array", "items": items, "maxItems": f.spec.max}
        if f.spec.min:
            spec["minItems"] = f.spec.min
    elif f.nested is not None:
        spec = _ref(f.nested)
        _collect(f.nested, defs)
    else:
        spec = f.spec.schema()
    if not f.required:
        spec = {"anyOf": [spec, {"type": "null"}], "default": _default(f.default)}
    if f.spec.doc:
        spec["description"] = f.spec.doc
    if f.spec.label:
        spec["title"] = f.spec.label
    return spec


def object_schema(cls: type[FormInput], defs: dict[str, dict[str, Any]], *,
                  name: str | None = None, leave_out: Collection[str] = ()) -> dict[str, Any]:
    """The JSON schema of ``cls`` less the fields ``leave_out``; the schemas of the inputs
    it nests are added to ``defs``."""
    fields = [f for f in form_fields(cls) if f.key not in leave_out]
    schema: dict[str, Any] = {
        "title": name or schema_name(cls), "type": "object",
        "description": inspect.cleandoc(cls.__doc__ or ""),
        "properties": {f.key: _property(f, defs) for f in fields},
        "additionalProperties": False}
    required = [f.key for f in fields if f.required]
    if required:
        schema["required"] = required
    return schema


def _collect(cls: type[FormInput], defs: dict[str, dict[str, Any]]) -> None:
    name = schema_name(cls)
    if name not in defs:
        defs[name] = {}  # a placeholder first: an input may nest itself
        defs[name] = object_schema(cls, defs)


class Body(Generic[T]):
    """The JSON body of one or more operations: ``cls`` less the fields ``path`` gives
    and those in ``omit``, documented under ``name`` (default ``<Input>Body``)."""

    def __init__(self, cls: type[T], *, path: Collection[str] = (), omit: Collection[str] = (),
                 name: str | None = None, description: str = "") -> None:
        self.cls = cls
        self.path = frozenset(path)
        self.omit = frozenset(omit)
        self.name = name or schema_name(cls)
        self.description = description or inspect.cleandoc(cls.__doc__ or "")
        known = {f.key for f in form_fields(cls)}
        if not self.path | self.omit <= known:
            raise ValueError(f"{self.name}: {sorted(self.path | self.omit - known)} "
                             f"are not fields of {cls.__name__}")
        same = BODIES.setdefault(self.name, self)
        if (same.cls, same.path, same.omit) != (cls, self.path, self.omit):
            raise ValueError(f"two different bodies named {self.name}")

    @property
    def openapi(self) -> dict[str, Any]:
        """``openapi_extra`` declaring this as the operation's JSON request body."""
        return {"requestBody": {
            "required": True, "description": self.description,
            "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{self.name}"}}}}}

    def schemas(self) -> dict[str, dict[str, Any]]:
        """This body's schema and those of the inputs it nests, by component name."""
        defs: dict[str, dict[str, Any]] = {}
        defs[self.name] = object_schema(self.cls, defs, name=self.name,
                                        leave_out=self.path | self.omit)
        return defs

    def read(self, value: Any, **from_path: Any) -> T:
        """Validate a parsed body, with the values the path gives (e.g. the card's UID),
        into the input: fields it does not take and every field problem, all at once."""
        if set(from_path) != self.path:
            raise TypeError(f"{self.name} takes {sorted(self.path)} from the path")
        return read_input(self.cls, value, given=from_path, refuse=self.omit)


def uid_fields(cls: type[FormInput]) -> dict[str, bool]:
    """The fields of ``cls`` that hold a card UID (True) or a list of them (False)."""
    out = {}
    for f in form_fields(cls):
        if isinstance(f.spec, Uid):
            out[f.key] = True
        elif f.many and isinstance(f.element, Uid):
            out[f.key] = False
    return out
