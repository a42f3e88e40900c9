"""What a desk input's field is, declared once on the input's dataclass.

A field is annotated with one of these, ``Annotated[str, Text(max=100, doc=...)]``; a field
whose type says it all (a flag, a date, an instant, an enumeration) needs none. Each kind
knows how to read its value off a FormReader (central/forms.py: bounds, control characters,
bilingual messages) and the JSON schema of the value, so the reader
(central/form_input.py), the API's request schema (central/api/body_schema.py) and the desk
pages' forms all come from the same declaration. ``doc`` describes the field (the
document's description), ``label`` names it on a page.

``required`` is inferred: a field is required unless its type admits None or it has a
default; ``required=False`` says otherwise for a field that must stay positional.
``key`` is the form's name of the field when it is not the attribute's (``amount_yuan``
read into ``amount_fen``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from central.forms import MAX_INTEGER, FormReader

UID_DOC = ("card UID, hex of 4, 7 or 10 bytes (`04A1B2C3`; any case, `:` or spaces "
           "allowed), or the desk reader's 10-digit decimal (site setting "
           "`desk_reader_uid_order`)")
YUAN_DOC = 'an amount in yuan as text, e.g. "20.50" (never a float)'
GROUPS_DOC = "access group names; empty: the building's default groups (resident cards)"
SCHEDULE_DOC = "weekly hours, e.g. `Mon-Sat 08:00-12:00 14:00-18:00`; omit for always"
# The schema keyword marking a field that holds a card UID: the API turns a desk reader's
# decimal into hex there (central/api/reader_uids.py).
UID_MARK = "x-card-uid"


@dataclass(frozen=True, kw_only=True)
class Spec:
    """A field's kind and its constraints; subclasses say how it is read."""

    doc: str = ""
    label: str = ""
    key: str | None = None
    required: bool | None = None
    # What a required field holds after a problem (never seen: finish() raises first).
    empty: Any = None

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        """The value under ``key`` (None when absent), problems recorded on ``r``."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The JSON schema of a value."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Text(Spec):
    """Free text, stripped, at most ``max`` characters, no control characters; ``then``
    normalises what was read (a plate's spelling)."""

    max: int = 200
    then: Callable[[str], str] | None = None
    empty: Any = ""

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        value = r.text(key, self.max) if required else r.opt_text(key, self.max)
        return self.then(value) if value and self.then is not None else value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max}


@dataclass(frozen=True, kw_only=True)
class Password(Spec):
    """A password, taken exactly as typed (not stripped); at least ``min`` and at most
    ``max`` characters (argon2 reads all of it: a megabyte is a way to burn the CPU)."""

    min: int = 0
    max: int = 1024
    empty: Any = ""

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        value = r.data.get(key)
        if value is None or value == "":
            if self.min:
                r.fail(key, f"密码至少 {self.min} 个字符", f"at least {self.min} characters")
            elif required:
                r.fail(key, "必填", "required (text)")
            return None
        if not isinstance(value, str):
            r.fail(key, "应为文字", "expected text")
        elif len(value) < self.min:
            r.fail(key, f"密码至少 {self.min} 个字符", f"at least {self.min} characters")
        elif len(value) > self.max:
            r.fail(key, f"不能超过 {self.max} 个字符", f"at most {self.max} characters")
        else:
            return value
        return None

    def schema(self) -> dict[str, Any]:
        least = {"minLength": self.min} if self.min else {}
        return {"type": "string", **least, "maxLength": self.max}


@dataclass(frozen=True, kw_only=True)
class Integer(Spec):
    """A whole number (a JSON number or its text) between ``min`` and ``max``."""

    min: int | None = None
    max: int = MAX_INTEGER
    empty: Any = 0

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        if required and not r.present(key):
            return r.integer(key, self.min)
        return r.opt_integer(key, self.min, self.max)

    def schema(self) -> dict[str, Any]:
        bounds = {} if self.min is None else {"minimum": self.min}
        return {"type": "integer", **bounds, "maximum": self.max}


@dataclass(frozen=True, kw_only=True)
class Yuan(Spec):
    """An amount given in yuan as text (``"20.50"``), read as integer fen; ``positive``
    refuses zero."""

    positive: bool = False
    empty: Any = 0

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        if not required and not r.present(key):
            return None
        errors = len(r.errors)
        fen = r.fen(key)
        if self.positive and fen == 0 and len(r.errors) == errors and r.present(key):
            r.fail(key, "金额须大于零", "must be more than zero")
        return fen

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": 32, "description": YUAN_DOC,
                "examples": ["20.00"]}


@dataclass(frozen=True, kw_only=True)
class Uid(Spec):
    """A card UID in canonical hex (a desk reader's decimal is turned into hex by the API
    before the form is read)."""

    empty: Any = ""

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        if not required and not r.present(key):
            return None
        return r.uid(key)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": 64, "description": UID_DOC, UID_MARK: True}


@dataclass(frozen=True, kw_only=True)
class Names(Spec):
    """Short names (access groups): a list, or one text with ``|`` between; absent: none."""

    max_items: int = 100
    max_len: int = 64
    doc: str = GROUPS_DOC
    empty: Any = ()

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        return r.names(key, self.max_items, self.max_len)

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "maxLength": self.max_len},
                "maxItems": self.max_items}


@dataclass(frozen=True, kw_only=True)
class Schedule(Spec):
    """A weekly schedule as the gates parse it."""

    doc: str = SCHEDULE_DOC
    empty: Any = ""

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        if required and not r.present(key):
            return r.text(key)  # refused: required
        return r.opt_schedule(key)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": 200, "examples": ["Mon-Fri 07:00-09:00"]}


@dataclass(frozen=True, kw_only=True)
class Flag(Spec):
    """Yes or no (true/false, or their text); absent: the field's default, else no."""

    empty: Any = False

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        return r.flag(key) if r.present(key) else None

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, kw_only=True)
class Day(Spec):
    """A calendar date, ``2026-07-08``."""

    empty: Any = date.min

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        return r.date(key) if required else r.opt_date(key)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


@dataclass(frozen=True, kw_only=True)
class Instant(Spec):
    """An instant with its UTC offset, ``2026-07-08T09:30:00+08:00``."""

    empty: Any = datetime.min

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        return r.instant(key) if required else r.opt_instant(key)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}


@dataclass(frozen=True, kw_only=True)
class Choice(Spec):
    """One of an enumeration's values; the enumeration is the field's type."""

    of: type[enum.Enum] | None = None

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        assert self.of is not None  # bound by central/form_input.py
        return r.enum(key, self.of) if required else r.opt_enum(key, self.of)

    def schema(self) -> dict[str, Any]:
        assert self.of is not None
        return {"type": "string", "enum": [m.value for m in self.of]}


@dataclass(frozen=True, kw_only=True)
class Items(Spec):
    """A list of nested inputs or of values (each read by the element's own declaration,
    named ``key[i]``); values are kept once each, in order."""

    min: int = 0
    max: int = 50
    empty: Any = ()


@dataclass(frozen=True, kw_only=True)
class Nested(Spec):
    """Only a description for a field holding a nested input."""


# The common ones: a record's id, a card UID.
Id = Annotated[int, Integer(min=1)]
CardUid = Annotated[str, Uid()]
