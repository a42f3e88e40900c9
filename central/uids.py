"""Card UIDs as the desk accepts them: what its readers can give, in the form the gates use.

Readers give 4, 7 or 10 bytes (ISO 14443 single, double and triple size UIDs); the desk
accepts those only, written as hex (``04A1B2C3``, any case, ``:``/space separators).

Many USB desk readers are keyboard wedges that type a 4-byte UID as a 10-digit decimal
number (``0461851553``). Which byte is the most significant is the reader's choice, not the
card's: NXP gives no rule for turning the UID bytes into a number, and readers differ.
``SiteSettings.desk_reader_uid_order`` says which the site's desk reader does:

- ``lsb_first`` (the default): the number is the UID bytes read least-significant first,
  i.e. in reverse. The common cheap 125 kHz / 13.56 MHz wedges print this ("reversed" /
  little-endian decimal); ``04A1B2C3`` is typed as ``3283263748`` (0xC3B2A104).
- ``msb_first``: the bytes in card order; ``04A1B2C3`` is typed as ``0077705923``.

A 10-digit decimal can never be mistaken for hex: 10 hex digits would be 5 bytes.
"""

from __future__ import annotations

import re

from central.models import ReaderUidOrder
from edge.uid import normalize_uid

DEFAULT_READER_UID_ORDER = ReaderUidOrder.LSB_FIRST
UID_BYTES = (4, 7, 10)
_READER_DECIMAL = re.compile(r"^[0-9]{10}$")
# As the gate's normaliser (edge/uid.py) reads them.
_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def desk_uid(text: str) -> str:
    """``text`` as a canonical UID of 4, 7 or 10 bytes. Anything else — the reader's decimal
    form included, which only the API converts (``from_reader``) — raises ValueError whose
    message says why, in words a clerk can act on."""
    if is_reader_decimal(text):
        if int(text) > 0xFFFFFFFF:
            raise ValueError("a desk reader's 10-digit number is at most 4294967295 (4 bytes)")
        raise ValueError("a 10-digit number is a desk reader's decimal form, which only the "
                         "API reads (site setting desk_reader_uid_order)")
    digits = _SEPARATORS.sub("", text)
    if not _HEX.match(digits):
        raise ValueError("expected hex digits, optionally ':' or space separated")
    if len(digits) not in (2 * n for n in UID_BYTES):
        raise ValueError(f"{len(digits)} hex digits; card UIDs are 4, 7 or 10 bytes "
                         "(8, 14 or 20 hex digits)")
    return normalize_uid(digits)


def is_reader_decimal(text: str) -> bool:
    """Whether ``text`` is a desk reader's 10-digit decimal UID."""
    return bool(_READER_DECIMAL.match(text.strip()))


def from_reader(text: str, order: ReaderUidOrder) -> str:
    """The hex UID a desk reader's 10-digit decimal stands for, read in ``order``; any other
    text, and ten digits above 4294967295 (no 4-byte UID), is returned as it is for
    ``desk_uid`` to accept or refuse where the form is read.
    """
    if not is_reader_decimal(text):
        return text
    number = int(text.strip())
    if number > 0xFFFFFFFF:
        return text
    raw = number.to_bytes(4, "little" if order is ReaderUidOrder.LSB_FIRST else "big")
    return raw.hex().upper()
