"""Who is at the booth's screen: the guard's sign-in, kept in a signed cookie.

The booth works with the network down, so a sign-in is checked against the desk's signed
list (booth.sign_in) and kept by the booth itself: the cookie holds the guard's username
and when they signed in, with an HMAC under the booth's own key (``booth.secret``), and is
``HttpOnly; SameSite=Strict``. It ends at sign-out, at the end of the longest shift
(``SIGN_IN_HOURS``), or when the desk's newest list no longer has the guard (an account
stopped at the desk signs its guard out of every booth as soon as the list arrives).
Every form carries a CSRF token derived from the cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

GUARD_COOKIE = "booth_guard"
LOCALE_COOKIE = "booth_lang"
CSRF_FIELD = "csrf"
SIGN_IN_HOURS = 14


@dataclass(frozen=True)
class SignedIn:
    """The guard signed in at this screen."""

    username: str
    name: str
    signed_in_at: float
    csrf: str


def _mac(secret: bytes, body: str) -> str:
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()


def cookie_value(secret: bytes, username: str, name: str, at: float) -> str:
    """The cookie of a fresh sign-in."""
    body = base64.urlsafe_b64encode(json.dumps(
        {"u": username, "n": name, "t": at}, ensure_ascii=False).encode()).decode()
    return f"{body}.{_mac(secret, body)}"


def read_cookie(secret: bytes, value: str, now: float) -> SignedIn | None:
    """The sign-in a cookie holds, or None when it is forged, damaged or too old."""
    body, _, mac = value.rpartition(".")
    if not body or not hmac.compare_digest(_mac(secret, body), mac):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
        username, name, at = str(data["u"]), str(data["n"]), float(data["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if not 0 <= now - at <= SIGN_IN_HOURS * 3600:
        return None
    return SignedIn(username, name, at, _mac(secret, "csrf:" + value))


def csrf_matches(expected: str, sent: object) -> bool:
    """Whether a form's CSRF token is the sign-in's."""
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(expected, sent)
