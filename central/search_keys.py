"""Text as the desk's search box compares it: a unit's address reduced to its tokens, a
phone number reduced to its digits.

A clerk writes the same unit many ways — ``1栋2单元301``, ``1-2-301``, ``1号楼2单元301室``,
``１－２－３０１`` from a full-width keyboard — and the site file writes it as a building code
and a unit number (``1`` and ``2-301``, or ``2单元301``). Each is reduced to the same key:
its tokens (runs of digits, runs of letters, anything between separators or the words
栋/单元/室 …) joined by ``-``, with a ``-`` at either end (``-1-2-301-``) so that a token
boundary is always a ``-`` and a search can anchor on one. The key is stored on the unit
(``units.search_key``, kept by the model) and indexed.

Phones are stored as typed (``138 0000 0001``); their digits, without a leading ``+86`` or
``0086``, are kept beside them (``persons.phone_digits``) for the search to compare.

No model is imported here: the models use these functions to keep their keys.
"""

from __future__ import annotations

import re
import unicodedata

# Words that end a part of an address; each separates tokens like a dash does.
_ADDRESS_WORDS = re.compile(r"号楼|单元|栋|幢|座|楼|室|号|门|区|#")
# Between a run of letters and a run of digits (``A101`` is building A, unit 101).
_LETTER_DIGIT = re.compile(r"(?<=[A-Z])(?=[0-9])|(?<=[0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-_.,/\\:·•、，。]+")
_NOT_DIGIT = re.compile(r"\D")
_COUNTRY_PREFIXES = ("0086", "86")
MAINLAND_MOBILE_DIGITS = 11


def _plain(text: str) -> str:
    """Full-width forms folded to ASCII (``１２Ａ`` → ``12A``), upper case."""
    return unicodedata.normalize("NFKC", text).upper()


def address_tokens(text: str) -> list[str]:
    """The tokens of an address or part of one: ``1栋2单元301`` → ``['1', '2', '301']``."""
    spaced = _LETTER_DIGIT.sub("-", _ADDRESS_WORDS.sub("-", _plain(text)))
    return [token for token in _SEPARATORS.split(spaced) if token]


def unit_search_key(building_code: str, number: str) -> str:
    """The stored key of a unit: ``('1', '2单元301')`` → ``-1-2-301-``."""
    return "-" + "-".join(address_tokens(building_code) + address_tokens(number)) + "-"


def address_query(text: str) -> str | None:
    """What a typed address is compared with: its tokens joined, anchored at the front but
    open at the end (``1栋2单元30`` → ``-1-2-30``); None when the text has no digit or
    letter (a name, say), which no address search would find."""
    tokens = address_tokens(text)
    if not any(ch.isascii() and ch.isalnum() for token in tokens for ch in token):
        return None
    return "-" + "-".join(tokens)


def phone_digits(phone: str | None) -> str | None:
    """The digits of a phone number as stored for search: ``+86 138-0000-0001`` →
    ``13800000001``; None when it has none."""
    if phone is None:
        return None
    digits = _NOT_DIGIT.sub("", _plain(phone))
    for prefix in _COUNTRY_PREFIXES:
        if (digits.startswith(prefix)
                and len(digits) == len(prefix) + MAINLAND_MOBILE_DIGITS):
            digits = digits[len(prefix):]
            break
    return digits or None
