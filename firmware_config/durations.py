"""Durations in human units, as installers write them: ``"500ms"``, ``"3s"``, ``"2m"``, ``"12h"``.

One number (whole or with a decimal point) and one unit, optionally separated by spaces:
``ms``, ``s``, ``m`` or ``min``, ``h``, ``d``. A bare number is refused, since ``3`` could
mean seconds or milliseconds; so are signs, exponents and compound forms such as ``"1h30m"``
(write ``"90m"``).
"""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)\s*$", re.ASCII)


def parse_duration(text: str) -> float:
    """Return the duration written in ``text`` in seconds.

    Raises ValueError with a message that shows the accepted forms.
    """
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit, e.g. \"500ms\", \"3s\", "
            "\"2m\", \"12h\", \"1d\""
        )
    return float(match.group(1)) * _UNITS[match.group(2)]
