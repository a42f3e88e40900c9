"""Licence plates as a lane reads them: one written form, and the keys that let a plate
camera's usual misreadings still find the car (rule P1: the plate is on the card record).

A Chinese plate is a province character (粤, 京, …), a letter for the city, then five or six
letters and digits (``粤B12345``, new-energy ``粤BD12345``). Cameras confuse a few look-alike
symbols (0/D/O/Q, 8/B, 1/I, 2/Z, 5/S) and, more often than anything, the province character,
which is the smallest and least distinct on the plate. So the whitelist keeps two keys per
plate: ``plate_key`` with every look-alike folded to one symbol, and ``plate_tail``, the same
without the province. Which of them a lane may use is its ``plate_tolerance``
(edge.plate_match).
"""

from __future__ import annotations

import unicodedata

from firmware_config.lane_tables import PlateTolerance

# Each look-alike folds to the symbol listed first; letters a plate never uses (I, O after
# 2007 rules) still come out of cameras, so they fold too.
_FOLD = str.maketrans({"D": "0", "O": "0", "Q": "0", "B": "8", "I": "1", "Z": "2", "S": "5"})
_SEPARATORS = " \t·•.-_"


__all__ = ["PlateTolerance", "normalize_plate", "plate_key", "plate_tail"]


def normalize_plate(text: str) -> str:
    """The plate written one way: full-width forms folded (ＡＢ１ → AB1), upper case,
    separators and blanks removed (``粤B·12345``, ``粤 b12345`` → ``粤B12345``).

    ValueError for a text that cannot be a plate (empty, too short or too long, symbols)."""
    folded = unicodedata.normalize("NFKC", text).upper()
    plate = "".join(ch for ch in folded if ch not in _SEPARATORS)
    if not 5 <= len(plate) <= 10:
        raise ValueError(f"{text!r} is not a licence plate")
    if not all(ch.isalnum() for ch in plate):
        raise ValueError(f"{text!r} is not a licence plate")
    return plate


def plate_key(plate: str) -> str:
    """The normalised plate with every look-alike folded: 粤B12345 and 粤812345 share it."""
    return plate.translate(_FOLD)


def plate_tail(plate: str) -> str | None:
    """``plate_key`` without the province character; None for a plate that does not begin
    with one (a military or embassy plate, a read that lost it)."""
    if not plate or plate[0].isascii():
        return None
    return plate_key(plate[1:])
