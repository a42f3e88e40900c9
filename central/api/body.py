"""Request bodies and query strings: one validation path.

A JSON body is parsed here (malformed JSON, a body too large or not JSON are refused), a
desk reader's decimal UIDs turned into hex, then read by the operation's ``Body``
(central/api/body_schema.py) through the input's one declaration — the same reader the
command line and the tests use, which refuses unknown fields (a typo such as
``holder_signof`` must not silently drop a signature) and reports every field problem at
once in both languages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import Request

from central.api.body_schema import BODIES, Body
from central.api.errors import PayloadTooLargeError, UnsupportedMediaTypeError
from central.form_fields import Uid
from central.form_input import FormField, FormInput, form_fields, read_input
from central.forms import FormReader
from central.models import ReaderUidOrder
from central.refusals import FieldError, InvalidInputError
from central.uids import from_reader, is_reader_decimal

T = TypeVar("T", bound=FormInput)

# The largest desk form (50 card lines) is a few kilobytes.
MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 16

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


# ---------------------------------------------------------------- desk reader UIDs


def body_of(request: Request) -> Body[Any] | None:
    """The body declared for the operation being called, if it takes one."""
    extra = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    ref = (extra.get("requestBody", {}).get("content", {}).get("application/json", {})
           .get("schema", {}).get("$ref", ""))
    return BODIES.get(ref.rsplit("/", 1)[-1]) if ref else None


def reader_uids_to_hex(value: Any, cls: type[FormInput],
                       order: Callable[[], ReaderUidOrder]) -> Any:
    """``value`` with every UID field of ``cls`` (declared ``Uid``, central/form_fields.py)
    that holds a desk reader's 10-digit decimal replaced by its hex UID (central/uids.py);
    ``order`` is asked only when there is one."""
    if not isinstance(value, dict):
        return value
    fields = {f.key: f for f in form_fields(cls)}
    return {key: _field_to_hex(fields.get(key), item, order) for key, item in value.items()}


def _field_to_hex(f: FormField | None, value: Any, order: Callable[[], ReaderUidOrder]) -> Any:
    if f is None:
        return value
    if f.nested is not None:
        nested = f.nested
        return ([reader_uids_to_hex(v, nested, order) for v in value]
                if isinstance(value, list) else reader_uids_to_hex(value, nested, order))
    if isinstance(f.element if f.many else f.spec, Uid):
        return [_hex(v, order) for v in value] if isinstance(value, list) else _hex(value, order)
    return value


def _hex(value: Any, order: Callable[[], ReaderUidOrder]) -> Any:
    if isinstance(value, str) and is_reader_decimal(value):
        return from_reader(value, order())
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


def query_input(cls: type[T], values: Mapping[str, str | None]) -> T:
    """The declared query parameters that were given, read into the desk input ``cls``
    through its one declaration (every problem at once)."""
    return read_input(cls, {k: v for k, v in values.items() if v is not None})


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
