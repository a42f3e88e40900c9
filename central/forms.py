"""Reading a raw form (a JSON body, a parsed page form) into typed values, once.

Every reader records a bilingual FieldError instead of raising, so a half-filled form is
answered with every problem at once; ``finish()`` raises InvalidInputError if there were any.
Required readers return a placeholder after an error so the caller's types stay simple —
the placeholder never escapes, because ``finish()`` runs before the object is used.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from central.refusals import FieldError, InvalidInputError
from central.uids import desk_uid
from edge.cards import parse_schedule

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")

_MISSING_ZH, _MISSING_EN = "必填", "required"
# Bounds every value must fit whatever the database: ids and counts are 32-bit on
# PostgreSQL, amounts stay far below that, and the rules' date arithmetic (a year or two
# added, a day taken off) must never leave Python's date range. Out of range is the
# caller's mistake, answered per field like any other, never an overflow deep inside.
MAX_INTEGER = 2**31 - 1
MAX_FEN = 100_000_000  # one million yuan: no desk amount comes near it
MIN_DATE, MAX_DATE = date(1900, 1, 1), date(2999, 12, 31)
# Free text goes into databases and printed receipts; control characters (NUL above all,
# which PostgreSQL refuses) are never meant. Tab and line breaks are.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FormReader:
    """Typed access to one mapping; nested readers share the error list."""

    def __init__(self, data: Any, prefix: str = "",
                 errors: list[FieldError] | None = None) -> None:
        self.errors: list[FieldError] = [] if errors is None else errors
        self.prefix = prefix
        if isinstance(data, Mapping):
            self.data: Mapping[str, Any] = data
        else:
            self.data = {}
            self.fail("", "应为一个对象", "expected an object")

    def path(self, key: str) -> str:
        """The dotted name of ``key`` as the API reports it."""
        if not key:
            return self.prefix
        return f"{self.prefix}.{key}" if self.prefix else key

    def fail(self, key: str, zh: str, en: str) -> None:
        """Record a problem with ``key``."""
        self.errors.append(FieldError(self.path(key) or "(form)", zh, en))

    def finish(self) -> None:
        """Raise InvalidInputError listing every problem, if there is any."""
        if self.errors:
            raise InvalidInputError(list(self.errors))

    def _raw(self, key: str) -> Any:
        value = self.data.get(key)
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    def present(self, key: str) -> bool:
        """Whether the form has a non-empty value for ``key``."""
        return self._raw(key) is not None

    def _missing(self, key: str, required: bool) -> bool:
        if self._raw(key) is None:
            if required:
                self.fail(key, _MISSING_ZH, _MISSING_EN)
            return True
        return False

    # ------------------------------------------------------------------ scalars

    def opt_text(self, key: str, max_len: int = 200) -> str | None:
        """A stripped string, or None when empty or absent."""
        if self._missing(key, False):
            return None
        value = self._raw(key)
        if not isinstance(value, str):
            self.fail(key, "应为文字", "expected text")
            return None
        if len(value) > max_len:
            self.fail(key, f"不能超过 {max_len} 个字", f"at most {max_len} characters")
            return None
        if _CONTROL.search(value):
            self.fail(key, "含有控制字符", "contains control characters")
            return None
        return value

    def text(self, key: str, max_len: int = 200) -> str:
        """A required non-empty string."""
        if self._missing(key, True):
            return ""
        return self.opt_text(key, max_len) or ""

    def uid(self, key: str) -> str:
        """A card UID of 4, 7 or 10 bytes in canonical form (``04:a1 b2 c3`` → ``04A1B2C3``);
        the API has already turned a desk reader's decimal into hex (central/uids.py)."""
        value = self.text(key, 64)
        if not value:
            return ""
        try:
            return desk_uid(value)
        except ValueError as exc:
            self.fail(key, "不是有效的卡号（4、7 或 10 字节的十六进制）",
                      f"{_shown(value)} is not a card UID: {exc}")
            return ""

    def opt_date(self, key: str) -> date | None:
        """A calendar date, ``2026-07-08``."""
        if self._missing(key, False):
            return None
        value = self._raw(key)
        if isinstance(value, date) and not isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = date.fromisoformat(str(value))
            except ValueError:
                self.fail(key, "日期格式应为 2026-07-08",
                          f"{_shown(value)} is not a date like 2026-07-08")
                return None
        if not MIN_DATE <= parsed <= MAX_DATE:
            self.fail(key, f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间",
                      f"must be between {MIN_DATE} and {MAX_DATE}")
            return None
        return parsed

    def date(self, key: str) -> date:
        """A required date."""
        if self._missing(key, True):
            return date.min
        return self.opt_date(key) or date.min

    def opt_instant(self, key: str) -> datetime | None:
        """An instant with its UTC offset, ``2026-07-08T09:30:00+08:00``."""
        if self._missing(key, False):
            return None
        value = self._raw(key)
        try:
            parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(key, "时间格式应为 2026-07-08T09:30+08:00",
                      f"{_shown(value)} is not a time like 2026-07-08T09:30+08:00")
            return None
        if parsed.tzinfo is None:
            self.fail(key, "时间须带时区", "the time needs its UTC offset (+08:00)")
            return None
        if not MIN_DATE <= parsed.date() <= MAX_DATE:
            self.fail(key, f"时间须在 {MIN_DATE} 至 {MAX_DATE} 之间",
                      f"must be between {MIN_DATE} and {MAX_DATE}")
            return None
        return parsed

    def instant(self, key: str) -> datetime:
        """A required instant."""
        if self._missing(key, True):
            return datetime.min
        return self.opt_instant(key) or datetime.min

    def opt_integer(self, key: str, minimum: int | None = None,
                    maximum: int = MAX_INTEGER) -> int | None:
        """A whole number (a JSON number or its text), at most ``maximum``."""
        if self._missing(key, False):
            return None
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.fail(key, "应为整数", "expected a whole number")
            return None
        try:
            number = int(value)
        except ValueError:
            self.fail(key, "应为整数", f"{_shown(value)} is not a whole number")
            return None
        if minimum is not None and number < minimum:
            self.fail(key, f"不能小于 {minimum}", f"must be at least {minimum}")
            return None
        if number > maximum:
            self.fail(key, f"不能大于 {maximum}", f"must be at most {maximum}")
            return None
        return number

    def integer(self, key: str, minimum: int | None = None) -> int:
        """A required whole number."""
        if self._missing(key, True):
            return 0
        value = self.opt_integer(key, minimum)
        return 0 if value is None else value

    def fen(self, key: str) -> int:
        """An amount given in yuan (``20``, ``"20.50"``) as integer fen; never a float."""
        if self._missing(key, True):
            return 0
        value = self._raw(key)
        if isinstance(value, bool | float):
            self.fail(key, "金额请写成文字，如 \"20.50\"", 'write amounts as text, like "20.50"')
            return 0
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            self.fail(key, "不是金额", f"{_shown(value)} is not an amount")
            return 0
        # Checked before any arithmetic (copy_abs is exact; abs() would round and overflow):
        # NaN, infinities and 1E+999999999 would otherwise raise instead of being answered.
        if not amount.is_finite() or amount.copy_abs() > Decimal(MAX_FEN) / 100:
            self.fail(key, f"金额须在 0 至 {MAX_FEN // 100} 元之间",
                      f"an amount between 0 and {MAX_FEN // 100} yuan")
            return 0
        fen = amount * 100
        if fen != fen.to_integral_value() or fen < 0:
            self.fail(key, "金额须为非负且最多两位小数",
                      "a non-negative amount with at most 2 decimals")
            return 0
        return int(fen)

    def opt_decimal(self, key: str) -> Decimal | None:
        """A decimal number such as an area in m² (``128.5``)."""
        if self._missing(key, False):
            return None
        value = self._raw(key)
        if isinstance(value, bool):
            self.fail(key, "应为数字", "expected a number")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(key, "应为数字", f"{_shown(value)} is not a number")
            return None
        if not number.is_finite():
            self.fail(key, "应为数字", f"{_shown(value)} is not a number")
            return None
        return number

    def flag(self, key: str, default: bool = False) -> bool:
        """A yes/no answer (true/false, or the text "true"/"false"/"1"/"0")."""
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
            return False
        self.fail(key, "应为是或否", "expected true or false")
        return default

    def opt_enum(self, key: str, cls: type[E]) -> E | None:
        """One of an enumeration's values."""
        if self._missing(key, False):
            return None
        value = self._raw(key)
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(str(m.value) for m in cls)
            self.fail(key, f"应为以下之一：{names}", f"{_shown(value)} is not one of {names}")
            return None

    def enum(self, key: str, cls: type[E]) -> E:
        """A required enumeration value."""
        if self._missing(key, True):
            return next(iter(cls))
        return self.opt_enum(key, cls) or next(iter(cls))

    def names(self, key: str, max_items: int = 100, max_len: int = 64) -> tuple[str, ...]:
        """A list of short names (access groups); absent means none."""
        value = self.data.get(key)
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            value = [v for v in value.replace(";", "|").split("|")]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            self.fail(key, "应为名称列表", "expected a list of names")
            return ()
        if len(value) > max_items or any(len(v) > max_len or _CONTROL.search(v)
                                         for v in value):
            self.fail(key, f"最多 {max_items} 个名称，每个不超过 {max_len} 个字",
                      f"at most {max_items} names of at most {max_len} characters")
            return ()
        names = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
        return names

    def opt_schedule(self, key: str) -> str | None:
        """A weekly schedule as the gates parse it (``Mon-Sat 08:00-12:00 14:00-18:00``)."""
        spec = self.opt_text(key)
        if spec is None:
            return None
        try:
            return parse_schedule(spec).spec
        except ValueError as exc:
            self.fail(key, "时段格式有误，例：Mon-Sat 08:00-12:00 14:00-18:00", str(exc))
            return None

    # ------------------------------------------------------------------ structure

    def nested(self, key: str) -> FormReader:
        """A reader of the object under ``key`` (errors go to the same list)."""
        return FormReader(self.data.get(key), self.path(key), self.errors)

    def opt_object(self, key: str, read: Callable[[FormReader], T]) -> T | None:
        """An optional nested object read by ``read``."""
        if self.data.get(key) in (None, "", {}):
            return None
        return read(self.nested(key))

    def _list(self, key: str, min_items: int, max_items: int) -> list[Any] | tuple[Any, ...]:
        """The list under ``key`` (absent: empty), its length checked; () after a problem."""
        value = self.data.get(key)
        if value is None:
            value = []
        if not isinstance(value, list | tuple):
            self.fail(key, "应为列表", "expected a list")
            return ()
        if len(value) < min_items:
            self.fail(key, f"至少需要 {min_items} 项", f"needs at least {min_items} item(s)")
        if len(value) > max_items:
            self.fail(key, f"最多 {max_items} 项", f"at most {max_items} items")
            return ()
        return value

    def items(self, key: str, read: Callable[[FormReader], T], min_items: int = 0,
              max_items: int = 50) -> tuple[T, ...]:
        """A list of objects, each read by ``read`` (fields named ``key[i].field``)."""
        return tuple(read(FormReader(item, f"{self.path(key)}[{i}]", self.errors))
                     for i, item in enumerate(self._list(key, min_items, max_items)))

    def values(self, key: str, read: Callable[[FormReader, str], T], min_items: int = 0,
               max_items: int = 50) -> tuple[T, ...]:
        """A list of plain values, each read by ``read(reader, name)`` under the name
        ``key[i]``; each value kept once, in order."""
        found = []
        for i, item in enumerate(self._list(key, min_items, max_items)):
            name = f"{key}[{i}]"
            found.append(read(FormReader({name: item}, self.prefix, self.errors), name))
        return tuple(dict.fromkeys(found))

def _shown(value: Any) -> str:
    """A rejected value as a message quotes it: short, whatever was sent."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
