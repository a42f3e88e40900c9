"""Each request body of the OpenAPI document and the reader that validates it come from one
declaration (central/form_fields.py); what could still drift is a field kind's ``schema()``
against its ``read()``, and a ``cross_check`` reading a field that is not declared. Walked
over every body the app declares: the reader reads exactly the documented fields, and
refuses what the schema bounds (lengths, numbers, list sizes, enumerations, required and
unknown fields), at the field the schema names."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from central.api import create_app  # noqa: F401  (importing the routers declares the bodies)
from central.api.body_schema import BODIES, Body
from central.form_fields import SCHEDULE_DOC, UID_MARK
from central.form_input import read_input
from central.refusals import DeskError, InvalidInputError

Schema = dict[str, Any]
NAMES = sorted(BODIES)


def _resolve(schema: Schema, defs: dict[str, Schema]) -> Schema:
    if "$ref" in schema:
        return defs[schema["$ref"].rsplit("/", 1)[-1]]
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return _resolve(option, defs)
    return schema


class Recorder(dict[str, Any]):
    """A form that notes every field read from it, nested ones included."""

    def __init__(self, data: dict[str, Any], path: str, seen: set[str]) -> None:
        super().__init__(data)
        self.path, self.seen = path, seen

    def get(self, key: str, default: Any = None) -> Any:
        where = f"{self.path}.{key}" if self.path else key
        self.seen.add(where)
        return _wrap(super().get(key, default), where, self.seen)


def _wrap(value: Any, path: str, seen: set[str]) -> Any:
    if isinstance(value, dict):
        return Recorder(value, path, seen)
    if isinstance(value, list):
        return [_wrap(v, f"{path}[]", seen) for v in value]
    return value


def _full(schema: Schema, defs: dict[str, Schema], path: str, paths: set[str]) -> Any:
    """A body with every documented field present (values need not be valid)."""
    schema = _resolve(schema, defs)
    if schema.get("type") == "object":
        out = {}
        for key, sub in schema["properties"].items():
            where = f"{path}.{key}" if path else key
            paths.add(where)
            out[key] = _full(sub, defs, where, paths)
        return out
    if schema.get("type") == "array":
        return [_full(schema["items"], defs, f"{path}[]", paths)]
    return "x"


def _read(body: Body[Any], value: Any) -> list[str]:
    """The fields the reader refuses in ``value`` (the path's values given as ``1``)."""
    try:
        body.read(value, **dict.fromkeys(body.path, "1"))
    except InvalidInputError as exc:
        return [e.field for e in exc.errors]
    except DeskError:
        pass
    return []


@pytest.mark.parametrize("name", NAMES)
def test_the_reader_reads_exactly_the_documented_fields(name: str) -> None:
    body = BODIES[name]
    defs = body.schemas()
    documented: set[str] = set()
    value = _full(defs[name], defs, "", documented)
    read: set[str] = set()
    with contextlib.suppress(DeskError):  # "x" is rarely valid; what matters is the reads
        # The path's values are in the form as the reader sees it.
        read_input(body.cls, Recorder({**value, **dict.fromkeys(body.path, "1")}, "", read),
                   refuse=body.omit)
    assert read - body.path - body.omit == documented


def _probes(schema: Schema, defs: dict[str, Schema],
            path: str) -> Iterator[tuple[str, str, Any, bool]]:
    """(what, the field's path, a value for it, whether the reader must refuse it) for each
    bound the schema states, nested objects and lists of them included."""
    obj = _resolve(schema, defs)
    yield "unknown field", f"{path}.zz_unknown" if path else "zz_unknown", 1, True
    required = set(obj.get("required", ()))
    for key, sub in obj["properties"].items():
        where = f"{path}.{key}" if path else key
        spec = _resolve(sub, defs)
        if key in required:
            yield "required", where, None, True
        kind = spec.get("type")
        if kind == "object":
            yield from _probes(spec, defs, where)
        elif kind == "array":
            if "maxItems" in spec:
                yield "too many", where, [None] * (spec["maxItems"] + 1), True
            if spec.get("minItems"):
                yield "too few", where, [], True
            item = _resolve(spec["items"], defs)
            if item.get("type") == "object":
                yield from _probes(item, defs, f"{where}[0]")
        elif kind == "integer":
            yield "below minimum", where, spec["minimum"] - 1, True
            yield "above maximum", where, spec["maximum"] + 1, True
            yield "minimum", where, spec["minimum"], False
        elif "enum" in spec:
            yield "not in enum", where, "zz-none", True
        elif kind == "string" and "maxLength" in spec:
            yield "too long", where, "a" * (spec["maxLength"] + 1), True
            if spec.get("minLength"):
                yield "too short", where, "a" * (spec["minLength"] - 1), True
            plain = not ({"format", "pattern", "examples", UID_MARK} & set(spec))
            if plain and sub.get("description") != SCHEDULE_DOC:
                yield "longest", where, "a" * max(spec["maxLength"], spec.get("minLength", 1)), \
                    False


def _placed(path: str, value: Any) -> Any:
    """A body holding ``value`` at ``path`` (``a.b``, ``lines[0].uid``) and nothing else
    (None: the field absent)."""
    head, _, rest = path.partition(".")
    key, bracket, _ = head.partition("[")
    if not rest:
        return {} if value is None else {key: [value] if bracket else value}
    # An empty nested object counts as absent: something else keeps it there.
    inner = _placed(rest, value) or {"zz_pad": 1}
    return {key: [inner] if bracket else inner}


@pytest.mark.parametrize("name", NAMES)
def test_the_reader_refuses_what_the_schema_bounds(name: str) -> None:
    body = BODIES[name]
    defs = body.schemas()
    wrong = []
    for what, where, value, refused in _probes(defs[name], defs, ""):
        fields = _read(body, _placed(where, value))
        if (where in fields) != refused:
            wrong.append(f"{where}: {what} {'accepted' if refused else 'refused'}")
    assert wrong == []
