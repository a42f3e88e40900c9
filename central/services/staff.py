"""Staff accounts and logging in: argon2id password hashes, and a throttle on failures.

After five failed logins within fifteen minutes an account waits until the oldest of those
five is fifteen minutes old; every attempt is recorded (also for unknown user names, which
are throttled alike so the answer never tells whether a name exists).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from central.forms import FormReader
from central.models import LoginAttempt, Role, Site, Staff
from central.rules import (
    ConflictError,
    FieldError,
    InvalidInputError,
    LoginFailedError,
    LoginThrottledError,
    NotFoundError,
)
from central.services.context import Actor, Desk, action

MAX_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class NewStaff:
    """A staff account to create."""

    username: str
    display_name: str
    role: Role
    password: str
    site: str | None = None  # a site code; None: every site of the company

    @staticmethod
    def from_form(data: Any) -> NewStaff:
        """Validate; the user name is lower-case letters, digits, ``.``, ``_``, ``-``."""
        r = FormReader(data)
        username = r.text("username", 64).lower()
        if username and not _USERNAME.match(username):
            r.fail("username", "用户名只能用小写字母、数字和 . _ -",
                   "use 2-64 lower-case letters, digits, '.', '_' or '-'")
        inp = NewStaff(username, r.opt_text("display_name", 100) or username,
                       r.enum("role", Role), str(r.data.get("password") or ""),
                       r.opt_text("site", 64))
        if len(inp.password) < MIN_PASSWORD_LENGTH:
            r.fail("password", f"密码至少 {MIN_PASSWORD_LENGTH} 个字符",
                   f"at least {MIN_PASSWORD_LENGTH} characters")
        r.finish()
        return inp


def create_staff(desk: Desk, inp: NewStaff, actor: Actor | None = None) -> int:
    """Create an account; return its id. ``actor`` None is the local command line (whoever
    can run it can read the database anyway); otherwise only an admin may."""
    with action(desk) as act:
        if actor is not None:
            act.authorise(actor, frozenset({Role.ADMIN}))
        site_id = None
        if inp.site is not None:
            site = act.session.scalars(select(Site).where(Site.code == inp.site)).one_or_none()
            if site is None:
                raise NotFoundError(f"没有代码为 {inp.site} 的小区", f"no site {inp.site!r}",
                                    "site")
            site_id = site.id
        if act.session.scalars(select(Staff).where(Staff.username == inp.username)).first():
            raise ConflictError(f"用户名 {inp.username} 已存在",
                                f"user name {inp.username!r} is taken", "username")
        staff = Staff(username=inp.username, display_name=inp.display_name, role=inp.role,
                      site_id=site_id, password_hash=desk.hasher.hash(inp.password),
                      created_at=act.now)
        act.session.add(staff)
        act.session.flush()
        return staff.id


@dataclass(frozen=True)
class LoggedIn:
    """Who logged in; the API builds an Actor from this and the chosen site."""

    staff_id: int
    username: str
    display_name: str
    role: Role
    site: str | None


# Verified against when the user name is unknown, so that case costs the same time.
_DUMMY: dict[int, str] = {}


def _dummy_hash(desk: Desk) -> str:
    key = id(desk.hasher)
    if key not in _DUMMY:
        _DUMMY[key] = desk.hasher.hash("not a password anyone has")
    return _DUMMY[key]


def login(desk: Desk, username: str, password: str, remote: str = "") -> LoggedIn:
    """Check a user name and password.

    Raises LoginThrottledError (with the wait) after too many recent failures,
    LoginFailedError for a wrong name, wrong password or disabled account (not told apart).
    The attempt is recorded either way, in its own committed transaction.
    """
    name = username.strip().lower()[:64]
    if not name:
        raise InvalidInputError([FieldError("username", "必填", "required")])
    outcome: LoggedIn | LoginThrottledError | LoginFailedError
    with action(desk) as act:
        since = act.now - THROTTLE_WINDOW
        recent = list(act.session.scalars(
            select(LoginAttempt).where(LoginAttempt.username == name, LoginAttempt.at > since)
            .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())))
        failures = []
        for attempt in recent:
            if attempt.succeeded:
                break  # a success resets the count
            if not attempt.throttled:
                failures.append(attempt)
        if len(failures) >= MAX_FAILURES:
            oldest_counted = failures[MAX_FAILURES - 1].at
            wait = math.ceil((oldest_counted + THROTTLE_WINDOW - act.now).total_seconds())
            outcome = LoginThrottledError(max(wait, 1))
        else:
            staff = act.session.scalars(select(Staff).where(Staff.username == name)).first()
            outcome = _verify(desk, staff, password)
            if isinstance(outcome, LoggedIn) and staff is not None and \
                    desk.hasher.check_needs_rehash(staff.password_hash):
                staff.password_hash = desk.hasher.hash(password)
        act.session.add(LoginAttempt(
            username=name, at=act.now, succeeded=isinstance(outcome, LoggedIn),
            throttled=isinstance(outcome, LoginThrottledError), remote=remote[:64]))
    if not isinstance(outcome, LoggedIn):
        raise outcome
    return outcome


def _verify(desk: Desk, staff: Staff | None,
            password: str) -> LoggedIn | LoginFailedError:
    failed = LoginFailedError("用户名或密码错误，或账户已停用",
                              "wrong user name or password, or the account is disabled")
    try:
        desk.hasher.verify(staff.password_hash if staff is not None else _dummy_hash(desk),
                           password)
    except (VerificationError, InvalidHashError):
        return failed
    if staff is None or not staff.active:
        return failed
    return LoggedIn(staff.id, staff.username, staff.display_name, staff.role,
                    staff.site.code if staff.site is not None else None)
