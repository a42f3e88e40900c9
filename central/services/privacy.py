"""Personal ID numbers are never disclosed (rule G5, 严禁泄露登记信息): one masking function
and one role policy, used by every service output that carries an ID number.

Only the roles that need the full number see it: the office director (who reviews and
answers for the records) and the administrator (who corrects them). Everyone else — guards at
the gate, clerks and leads at the desk — sees ``110***********1234``: enough to tell two
visitors apart and to check a card shown against the record, not enough to copy.
"""

from __future__ import annotations

from central.models import Role
from central.search_keys import phone_digits

# Who sees an ID number in full. A design choice the seeds leave open; kept to the two roles
# accountable for the records as a whole.
FULL_ID_ROLES = frozenset({Role.DIRECTOR, Role.ADMIN})

_HEAD, _TAIL = 3, 4
# Shorter than this (a passport, a mistyped number), head and tail together would show most
# of it: only the last two characters are left.
_SHORT = 10


def mask_id_number(id_number: str | None) -> str:
    """``110101199003071234`` → ``110***********1234`` (same length, the middle starred).

    Numbers shorter than ten characters keep only their last two; empty stays empty.
    """
    if not id_number:
        return ""
    text = id_number.strip()
    if len(text) < _SHORT:
        keep = min(2, len(text) - 1) if len(text) > 1 else 0
        return "*" * (len(text) - keep) + text[len(text) - keep:]
    return text[:_HEAD] + "*" * (len(text) - _HEAD - _TAIL) + text[-_TAIL:]


def sees_full_id(role: Role) -> bool:
    """Whether ``role`` may see ID numbers unmasked (rule G5's role policy)."""
    return role in FULL_ID_ROLES


def id_number_for(role: Role, id_number: str | None) -> str:
    """The ID number as ``role`` may see it: full for FULL_ID_ROLES, masked for the rest."""
    if not id_number:
        return ""
    return id_number.strip() if sees_full_id(role) else mask_id_number(id_number)


_PHONE_HEAD, _PHONE_TAIL = 3, 4


def mask_phone(phone: str | None) -> str:
    """``13800000001`` (or ``+86 138-0000-0001``) → ``138****0001``: enough for the person
    at the desk to confirm "the number ending 0001", not enough to copy. Numbers shorter
    than eight digits keep only their last two; empty stays empty."""
    text = phone_digits(phone) or (phone or "").strip()
    if not text:
        return ""
    if len(text) < _PHONE_HEAD + _PHONE_TAIL + 1:
        keep = min(2, len(text) - 1) if len(text) > 1 else 0
        return "*" * (len(text) - keep) + text[len(text) - keep:]
    return text[:_PHONE_HEAD] + "*" * (len(text) - _PHONE_HEAD - _PHONE_TAIL) + text[-_PHONE_TAIL:]


def mask_name(name: str | None) -> str:
    """``王建国`` → ``王*国``, ``李明`` → ``李*``: what a screen outside the desk shows of a
    person's name (a booth's pass list, rule G5) — enough for the guard to match the person
    who says it, not a list of residents to copy. One character stays as it is."""
    text = (name or "").strip()
    if len(text) <= 1:
        return text
    if len(text) == 2:  # a two-character name keeps its surname only
        return text[0] + "*"
    return text[0] + "*" * (len(text) - 2) + text[-1]
