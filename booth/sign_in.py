"""Guard sign-in at the booth, offline (rule G2): the username and password are checked
against the desk's signed list (``BoothList.guards``, the desk account's argon2id hash), so
a guard signs in with the network, the broker and the desk all down.

Failed attempts are kept in the booth's own table: after ``MAX_FAILURES`` failures for a
username within ``WINDOW_SECONDS`` the username is refused without checking its password
until the oldest of those failures leaves the window (a guessing attack gets five tries per
ten minutes, and the desk hears of it as an alarm). A success forgets the failures before
it. Every attempt is journalled (``booth_sign_in`` / ``booth_sign_in_refused``).

Argon2 is slow by design (tens of milliseconds at the desk's parameters): the password is
checked with no store lock held, so another screen's request is not held up by it."""

from __future__ import annotations

import math
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from booth.refusals import BoothRefusal
from booth.store import BoothStore, Recording
from sync.wire.booth_list import BoothGuard, BoothList

MAX_FAILURES = 5
WINDOW_SECONDS = 600.0
# Failures counted towards the throttle; a refusal by the throttle itself is not one, or a
# guard locked out who tries again would never get back in.
COUNTED = ("password", "not_listed")

MIGRATIONS = [
    """
    CREATE TABLE sign_in_attempts (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL,
        at REAL NOT NULL,
        result TEXT NOT NULL CHECK (result IN ('ok', 'password', 'not_listed', 'throttled'))
    );
    CREATE INDEX sign_in_attempts_username ON sign_in_attempts (username, at)
    """,
]

# The newest failures of a username inside the window and after its last success.
_RECENT_FAILURES = (
    "SELECT at FROM sign_in_attempts WHERE username = :u AND at > :since "
    "AND result IN ('password', 'not_listed') AND at > COALESCE("
    "(SELECT MAX(at) FROM sign_in_attempts WHERE username = :u AND result = 'ok'), 0) "
    "ORDER BY at DESC LIMIT :n")

_HASHER = PasswordHasher()


def _recent(username: str, now: float) -> dict[str, object]:
    return {"u": username, "since": now - WINDOW_SECONDS, "n": MAX_FAILURES}


class SignInRefused(BoothRefusal):
    """A sign-in refused: wrong password or a username this booth does not know."""

    http_status = 401


class SignInThrottled(SignInRefused):
    """Too many failed sign-ins for a username: wait until ``retry_after`` seconds pass."""

    http_status = 429

    def __init__(self, retry_after: float) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(f"密码错误次数过多，请{minutes}分钟后再试",
                         f"too many failed sign-ins: try again in {minutes} minutes",
                         "password")
        self.retry_after = retry_after


def normal_username(username: str) -> str:
    """A username as the desk's list holds it (trimmed, lower case)."""
    return username.strip().lower()


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one hashed in ``password_hash`` (argon2; the parameters
    are read from the hash itself). A damaged or empty hash matches nothing."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class SignIn:
    """Checks guards' passwords against the desk's list, with the throttle."""

    def __init__(self, store: BoothStore, booth_list: Callable[[], BoothList]) -> None:
        self.store = store
        self.booth_list = booth_list
        store.migrate("sign_in", MIGRATIONS)

    def locked_for(self, username: str) -> float:
        """Seconds until ``username`` may try again (0 when it may now)."""
        now = self.store.clock.wall()
        times = [float(r["at"]) for r in self.store.query(_RECENT_FAILURES,
                                                          _recent(username, now))]
        if len(times) < MAX_FAILURES:
            return 0.0
        return max(0.0, times[-1] + WINDOW_SECONDS - now)

    def _attempt(self, rec: Recording, username: str, result: str) -> None:
        now = self.store.clock.wall()
        # Old attempts say nothing any more: the table stays as small as the window.
        rec.execute("DELETE FROM sign_in_attempts WHERE at < ?", (now - WINDOW_SECONDS,))
        rec.execute("INSERT INTO sign_in_attempts (username, at, result) VALUES (?, ?, ?)",
                    (username, now, result))

    def _refuse(self, username: str, reason: str, refusal: SignInRefused) -> SignInRefused:
        with self.store.record() as rec:
            self._attempt(rec, username, reason)
            locked = reason == "throttled" or (
                reason in COUNTED and len(rec.execute(_RECENT_FAILURES, _recent(
                    username, self.store.clock.wall())).fetchall()) >= MAX_FAILURES)
            rec.append("booth_sign_in_refused", {"username": username, "reason": reason},
                       alarm=locked)
        return refusal

    def verify(self, username: str, password: str) -> BoothGuard:
        """The listed guard whose password this is; refused (and the refusal journalled)
        when the list has not arrived, the username is throttled, not listed, or the
        password is wrong. A success is not journalled here: ``journal_sign_in`` does it
        in the transaction of what the sign-in is for."""
        current = self.booth_list()
        name = normal_username(username)
        if not name:
            raise SignInRefused("请输入用户名", "enter your username", "username")
        wait = self.locked_for(name)
        if wait > 0:
            raise self._refuse(name, "throttled", SignInThrottled(wait))
        guard = next((g for g in current.guards if g.username == name), None)
        if guard is None:
            raise self._refuse(name, "not_listed", SignInRefused(
                "此账号不能在本岗登录", "this account may not sign in at this booth",
                "username"))
        # No lock held here: argon2 takes its time, other screens do not wait for it.
        if not password_matches(guard.password_hash, password):
            raise self._refuse(name, "password", SignInRefused(
                "用户名或密码错误", "wrong username or password", "password"))
        return guard

    def journal_sign_in(self, rec: Recording, guard: BoothGuard) -> None:
        """Record ``guard``'s sign-in inside ``rec`` (it clears their failures)."""
        self._attempt(rec, guard.username, "ok")
        rec.append("booth_sign_in", {"guard": guard.username})

    def sign_in(self, username: str, password: str) -> BoothGuard:
        """Sign a guard in at this booth: the guard, or refused as ``verify`` says."""
        guard = self.verify(username, password)
        with self.store.record() as rec:
            self.journal_sign_in(rec, guard)
        return guard

    def sign_out(self, username: str) -> None:
        """Journal that ``username`` signed out at this booth."""
        with self.store.record() as rec:
            rec.append("booth_sign_out", {"guard": username})
