"""Request bodies and query strings: one validation path.

A JSON body is parsed here (malformed JSON, a body too large or not JSON are refused), then
handed as it is to the service input's ``from_form`` — the same reader the command line
and the tests use, which reports every field problem at once in both languages.

The pydantic models of the routers describe the bodies for the OpenAPI document and one
thing more: which fields exist. A field the model does not declare is refused (a typo such
as ``holder_signof`` must not silently drop a signature); those errors are reported
together with ``from_form``'s. Types and values are ``from_form``'s business alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel

from central.api.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from central.forms import FormReader
from central.models import ReaderUidOrder
from central.refusals import FieldError, InvalidInputError
from central.uids import from_reader, is_reader_decimal

T = TypeVar("T")

# The largest desk form (50 card lines) is a few kilobytes.
MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 16

# Models describing request bodies, by name: the OpenAPI document adds their schemas.
BODY_MODELS: dict[str, type[BaseModel]] = {}
# The schema keyword marking a field that holds a card UID (central/api/shapes.py Uid).
UID_MARK = "x-card-uid"


def body_doc(model: type[BaseModel], description: str = "") -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON request body of an operation."""
    BODY_MODELS[model.__name__] = model
    return {"requestBody": {
        "required": True, "description": description or (model.__doc__ or "").strip(),
        "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _invalid(field: str, zh: str, en: str) -> InvalidInputError:
    return InvalidInputError([FieldError(field, zh, en)])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def json_body(request: Request) -> Any:
    """The request's JSON body, parsed (None when empty); a dependency of every operation
    that takes a body."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError("请求内容须为 JSON", "the body must be application/json")
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"请求内容不能超过 {MAX_BODY_BYTES} 字节",
                                       f"the body may be at most {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return None
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        # UnicodeDecodeError is a ValueError; RecursionError is absurd nesting.
        raise _invalid("(body)", "不是有效的 JSON", f"not valid JSON: {exc}"[:200]) from None
    _check_text(value)
    return value


def _check_text(value: Any) -> None:
    """Refuse nesting deeper than any form and text no database can store (unpaired
    surrogates, which JSON's ``\\ud800`` escapes can produce)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _invalid(path or "(body)", "嵌套层次过深", "nested too deeply")
        if isinstance(item, str):
            if not _encodable(item):
                raise _invalid(path or "(body)", "含有无效字符", "contains invalid characters")
        elif isinstance(item, dict):
            for key, sub in item.items():
                if not _encodable(key):
                    raise _invalid(path or "(body)", "字段名含有无效字符",
                                   "a field name contains invalid characters")
                stack.append((sub, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------- unknown fields


@cache
def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def unknown_fields(value: Any, model: type[BaseModel]) -> list[FieldError]:
    """Every field of ``value`` (nested objects and lists included) that ``model`` does not
    declare, named the way ``FormReader`` names fields."""
    schema = _schema(model)
    found: list[FieldError] = []
    _walk(value, schema, schema.get("$defs", {}), "", found)
    return found


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _resolve(defs[ref.rsplit("/", 1)[-1]], defs)
    return schema


def _branch(schema: Mapping[str, Any], defs: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """The part of ``schema`` (itself or one of its anyOf branches) of JSON type ``kind``."""
    schema = _resolve(schema, defs)
    if schema.get("type") == kind:
        return schema
    for option in schema.get("anyOf", ()):
        resolved = _resolve(option, defs)
        if resolved.get("type") == kind:
            return resolved
    return {}


def _walk(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], path: str,
          found: list[FieldError]) -> None:
    if isinstance(value, dict):
        obj = _branch(schema, defs, "object")
        properties: Mapping[str, Any] = obj.get("properties", {})
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in properties:
                _walk(sub, properties[key], defs, where, found)
            elif obj.get("additionalProperties") is False:
                found.append(FieldError(where, "没有这个字段", "unknown field"))
    elif isinstance(value, list):
        items = _branch(schema, defs, "array").get("items")
        if isinstance(items, Mapping):
            for i, sub in enumerate(value):
                _walk(sub, items, defs, f"{path}[{i}]", found)


def body_model(request: Request) -> type[BaseModel] | None:
    """The model ``body_doc`` declared for the operation being called, if it takes a body."""
    extra = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    ref = (extra.get("requestBody", {}).get("content", {}).get("application/json", {})
           .get("schema", {}).get("$ref", ""))
    return BODY_MODELS.get(ref.rsplit("/", 1)[-1]) if ref else None


def reader_uids_to_hex(value: Any, model: type[BaseModel],
                       order: Callable[[], ReaderUidOrder]) -> Any:
    """``value`` with every UID field (marked ``x-card-uid`` in ``model``'s schema) that holds
    a desk reader's 10-digit decimal replaced by its hex UID (central/uids.py); ``order`` is
    asked only when there is one."""
    schema = _schema(model)
    return _to_hex(value, schema, schema.get("$defs", {}), order)


def _to_hex(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any],
            order: Callable[[], ReaderUidOrder]) -> Any:
    if isinstance(value, str):
        if is_reader_decimal(value) and _branch(schema, defs, "string").get(UID_MARK):
            return from_reader(value, order())
        return value
    if isinstance(value, dict):
        properties: Mapping[str, Any] = _branch(schema, defs, "object").get("properties", {})
        return {k: _to_hex(v, properties[k], defs, order) if k in properties else v
                for k, v in value.items()}
    if isinstance(value, list):
        items = _branch(schema, defs, "array").get("items")
        return [_to_hex(v, items, defs, order) for v in value] \
            if isinstance(items, Mapping) else value
    return value


def form_input(body: Any, model: type[BaseModel], from_form: Callable[[Any], T],
               **from_path: Any) -> T:
    """Validate ``body`` (with the values the path gives, e.g. the card's UID) into a
    service input: unknown fields and ``from_form``'s problems, every one at once."""
    unknown = unknown_fields(body, model)
    data = {**body, **from_path} if isinstance(body, dict) else body
    try:
        value = from_form(data)
    except InvalidInputError as exc:
        raise InvalidInputError([*unknown, *exc.errors]) from None
    if unknown:
        raise InvalidInputError(unknown)
    return value


def path_integer(name: str, value: str) -> int:
    """A record id given in the path, read like any form field."""
    r = FormReader({name: value})
    number = r.integer(name, 1)
    r.finish()
    return number


def path_uid(name: str, value: str) -> str:
    """A card UID given in the path, in canonical form."""
    r = FormReader({name: value})
    uid = r.uid(name)
    r.finish()
    return uid


def query_reader(values: Mapping[str, str | None]) -> FormReader:
    """A FormReader over the declared query parameters that were given."""
    return FormReader({k: v for k, v in values.items() if v is not None})


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {p.alias for p in getattr(dependant, "query_params", ())}
    for sub in getattr(dependant, "dependencies", ()):
        names |= _query_names(sub)
    return names


def check_query(request: Request) -> None:
    """Refuse query parameters the operation does not declare (a misspelt filter would
    otherwise silently return everything)."""
    declared = _query_names(getattr(request.scope.get("route"), "dependant", None))
    unknown = [FieldError(k[:64], "没有这个查询参数", "unknown query parameter")
               for k in dict.fromkeys(request.query_params) if k not in declared]
    if unknown:
        raise InvalidInputError(unknown)
