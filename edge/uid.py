"""Card UIDs as the system writes them: upper-case hex, no separators (rule conventions)."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-F]+$")


def normalize_uid(text: str) -> str:
    """Return ``text`` as a canonical UID; ``04:a1 b2`` and ``04A1B2`` are the same card.

    Raises ValueError for anything that is not an even number (2–20) of hex digits.
    """
    uid = _SEPARATORS.sub("", text).upper()
    if not uid or not _HEX.match(uid):
        raise ValueError(f"{text!r} is not a card UID (hex digits, optionally ':' separated)")
    if len(uid) % 2 or not 2 <= len(uid) <= 20:
        raise ValueError(f"{text!r} is not a card UID: expected 1 to 10 whole bytes")
    return uid


def uid_from_bytes(raw: bytes) -> str:
    """The canonical UID of bytes read from a card."""
    return raw.hex().upper()
