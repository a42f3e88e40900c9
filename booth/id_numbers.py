"""The ID document a visitor shows at the gate (rule G5): its kind, the number checked as
far as the booth can check it, and the number masked for every screen of the booth.

A resident ID (居民身份证, GB 11643) is 18 characters: 17 digits (region, birth date,
sequence) and an ISO 7064 MOD 11-2 check character, so a mistyped digit is caught at the
gate. Other documents (a passport, a 港澳通行证, anything else) are taken as written.

Registered personal data is never disclosed (严禁泄露登记信息): once saved, the booth shows
a number only through ``mask_id_number``, which mirrors the desk's
(central/services/privacy.py: the first three and the last four characters, the middle
starred; numbers shorter than ten keep only their last two). The booth may not import
central, hence this small copy; keep the two alike. An ``IdDocument`` never prints its
number (its repr is masked), so a log line or a traceback cannot carry it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date

from booth.refusals import BoothRefusal

RESIDENT_ID_LENGTH = 18
MAX_OTHER_LENGTH = 32
_CHECK_CHARACTERS = "10X98765432"
_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))
_HEAD, _TAIL = 3, 4
_SHORT = 10


class IdKind(enum.StrEnum):
    """The kind of document shown."""

    RESIDENT = "resident_id"
    PASSPORT = "passport"
    HK_MACAU = "hk_macau_permit"
    OTHER = "other"


def mask_id_number(id_number: str | None) -> str:
    """``110101199003071234`` → ``110***********1234`` (the desk's mask, see the module
    docstring); numbers shorter than ten characters keep only their last two."""
    if not id_number:
        return ""
    text = id_number.strip()
    if len(text) < _SHORT:
        keep = min(2, len(text) - 1) if len(text) > 1 else 0
        return "*" * (len(text) - keep) + text[len(text) - keep:]
    return text[:_HEAD] + "*" * (len(text) - _HEAD - _TAIL) + text[-_TAIL:]


def resident_id_check_character(body17: str) -> str:
    """The check character of the first 17 digits of a resident ID number (GB 11643)."""
    return _CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(body17, _WEIGHTS, strict=True))
                             % 11]


def _compact(text: str) -> str:
    return "".join(text.split())


def check_resident_id(text: str) -> str:
    """The resident ID number as stored (spaces dropped, ``x`` as ``X``); refused, in words
    that never repeat the number, when it is not 18 characters, has a bad birth date or a
    wrong check character."""
    number = _compact(text).upper()
    if len(number) != RESIDENT_ID_LENGTH or not number[:17].isdigit() \
            or not (number[17].isdigit() or number[17] == "X"):
        raise BoothRefusal("身份证号码应为18位（前17位为数字，末位为数字或X）",
                           "a resident ID number has 18 characters: 17 digits, then a digit "
                           "or X", "id_number")
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise BoothRefusal("身份证号码中的出生日期不正确，请核对",
                           "the birth date inside the ID number is not a date: check it",
                           "id_number") from None
    if resident_id_check_character(number[:17]) != number[17]:
        raise BoothRefusal("身份证号码校验位不正确，请核对证件重新输入",
                           "the ID number's check character does not match: check the card "
                           "and type it again", "id_number")
    return number


@dataclass(frozen=True)
class IdDocument:
    """A checked ID document. ``number`` is the full number (stored, journalled for the
    desk's director); it is left out of the repr."""

    kind: IdKind
    number: str = field(repr=False)

    @property
    def masked(self) -> str:
        """The number as every booth screen shows it."""
        return mask_id_number(self.number)

    def __repr__(self) -> str:
        return f"IdDocument(kind={self.kind.value!r}, number={self.masked!r})"


def read_id_document(kind: str, number: str) -> IdDocument:
    """The document a guard typed: the kind one of ``IdKind``, the number checked (a
    resident ID fully, any other as non-empty text without spaces at either end)."""
    try:
        id_kind = IdKind(kind or IdKind.RESIDENT)
    except ValueError:
        raise BoothRefusal("请选择证件类型", "choose the kind of ID document",
                           "id_kind") from None
    if not number.strip():
        raise BoothRefusal("请输入证件号码（访客登记须查验证件）",
                           "type the ID document's number (a visitor shows an ID)",
                           "id_number")
    if id_kind is IdKind.RESIDENT:
        return IdDocument(id_kind, check_resident_id(number))
    text = _compact(number).upper()
    if len(text) > MAX_OTHER_LENGTH or not text.isprintable():
        raise BoothRefusal(f"证件号码不能超过{MAX_OTHER_LENGTH}个字符",
                           f"an ID number has at most {MAX_OTHER_LENGTH} characters",
                           "id_number")
    return IdDocument(id_kind, text)
