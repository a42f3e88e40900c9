"""Logging in: argon2id password checks, throttled so that guessing is slow and a flood of
attempts never holds up desk work.

The scheme (docs/api.md, "Logging in"), over the last fifteen minutes of failed attempts:

- **per address**: 20 failures from one address (any user names) make that address wait;
- **per account and address**: 5 failures on one user name from one address make that name
  wait *at that address* — an outsider locks only themselves out, never the desk's terminal;
- **per account**: once a user name has 20 failures from all addresses together, an address
  that has failed on it even once waits; an address with no failure on it may still log in
  (so the clerk at the desk still can), and its first failure makes it wait too.

A refused (throttled) attempt is not counted and not written, so it cannot renew a wait, and
a wait ends fifteen minutes after the oldest failure that caused it. A success clears the
name's count at that address (not elsewhere: the clerk logging in at the desk does not give
an outsider five more guesses). Unknown names are checked against a dummy hash and
throttled alike, so the answer never tells whether a name exists.

The password hash runs outside any transaction: the counts are read in a read transaction
(WAL: never waits for a writer), the hash is computed with no database lock held, and the
attempt is written in a short transaction of its own. Passwords are checked one at a time
on a thread of the lowest CPU priority, confined to one CPU, so a flood of guesses never
takes the CPU from desk work; a login that finds ``MAX_QUEUED`` logins already in progress
is answered "retry" (429) before anything else is done for it.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from central.clock import utc_now
from central.models import LoginAttempt, Role, Staff, StaffSiteRole
from central.refusals import FieldError, InvalidInputError, LoginFailedError, LoginThrottledError
from central.services.context import Desk, action

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5  # per user name and address
MAX_ADDRESS_FAILURES = 20  # per address, any names
MAX_ACCOUNT_FAILURES = 20  # per user name, all addresses
# Password checks waiting or running at once (on one thread): argon2id is built to eat
# memory and CPU, and the desk's own work comes first.
MAX_QUEUED = 4
CHECKER_NICE = 19


@dataclass(frozen=True)
class LoggedIn:
    """Who logged in; the API builds an Actor from this and the chosen site."""

    staff_id: int
    username: str
    display_name: str
    role: Role
    site: str | None
    # Roles given at other sites, by site code (central/models/staff.py StaffSiteRole).
    site_roles: tuple[tuple[str, Role], ...] = ()


# Verified against when the user name is unknown, so that case costs the same time. Made
# on the checker thread, once per hasher.
_DUMMY: dict[int, str] = {}


def _dummy_hash(desk: Desk) -> str:
    key = id(desk.hasher)
    if key not in _DUMMY:
        _DUMMY[key] = desk.hasher.hash("not a password anyone has")
    return _DUMMY[key]


@dataclass(frozen=True)
class _Candidate:
    """What the read transaction found: the account (if any), and its hash to check."""

    staff_id: int | None
    password_hash: str | None  # None: no such name, checked against a dummy hash
    logged_in: LoggedIn | None


def _wait_until(failures: list[datetime], limit: int, now: datetime) -> int | None:
    """Seconds until fewer than ``limit`` of ``failures`` (newest first) are in the window."""
    if len(failures) < limit:
        return None
    return max(1, math.ceil((failures[limit - 1] + THROTTLE_WINDOW - now).total_seconds()))


def _throttle(desk: Desk, name: str, remote: str, now: datetime) -> int | None:
    """Seconds this name at this address must wait, or None: the scheme above."""
    since = now - THROTTLE_WINDOW
    with desk.sessions() as session:
        last_success = session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == name, LoginAttempt.remote == remote,
                LoginAttempt.succeeded, LoginAttempt.at > since))
        failed = (~LoginAttempt.succeeded) & (~LoginAttempt.throttled) & (LoginAttempt.at > since)
        rows = session.execute(
            select(LoginAttempt.username, LoginAttempt.remote, LoginAttempt.at)
            .where(failed, or_(LoginAttempt.remote == remote, LoginAttempt.username == name))
            .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())).all()
    by_address = [at for user, where, at in rows if where == remote]
    by_name = [at for user, where, at in rows if user == name]
    here = [at for user, where, at in rows
            if user == name and where == remote and (last_success is None or at > last_success)]
    waits = [_wait_until(by_address, MAX_ADDRESS_FAILURES, now),
             _wait_until(here, MAX_FAILURES, now)]
    if here:
        waits.append(_wait_until(by_name, MAX_ACCOUNT_FAILURES, now))
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def _candidate(desk: Desk, name: str) -> _Candidate:
    with desk.sessions() as session:
        staff = session.scalars(select(Staff).where(Staff.username == name).options(
            joinedload(Staff.site), selectinload(Staff.site_roles).joinedload(
                StaffSiteRole.site))).first()
        if staff is None:
            return _Candidate(None, None, None)
        who = LoggedIn(staff.id, staff.username, staff.display_name, staff.role,
                       staff.site.code if staff.site is not None else None,
                       tuple((g.site.code, g.role) for g in staff.site_roles))
        return _Candidate(staff.id, staff.password_hash, who if staff.active else None)


def _lower_priority() -> None:
    # Linux keeps a nice value and a CPU set per thread (setpriority(2), sched_setaffinity(2))
    # and the threads argon2 starts for its lanes inherit both: guesses run at the lowest
    # priority on one CPU only, so the desk's work always has a CPU of its own — a low
    # priority alone still lets argon2's lanes fill every CPU's cache and memory bandwidth.
    thread = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):  # not Linux: plain priority
        os.setpriority(os.PRIO_PROCESS, thread, CHECKER_NICE)
    with contextlib.suppress(AttributeError, OSError):
        cpus = os.sched_getaffinity(thread)
        if len(cpus) > 1:
            os.sched_setaffinity(thread, {max(cpus)})


class _PasswordChecker:
    """One low-priority thread that checks passwords, with a short queue in front of it: a
    login that finds ``MAX_QUEUED`` checks already waiting is told to retry (429)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued = 0
        self._executor: ThreadPoolExecutor | None = None

    @contextlib.contextmanager
    def slot(self) -> Iterator[ThreadPoolExecutor]:
        """A place in the queue, taken before anything else is done for a login, so that a
        flood finding the queue full costs the desk no database read; LoginThrottledError
        (retry in a second) when there is none."""
        with self._lock:
            if self._queued >= MAX_QUEUED:
                raise LoginThrottledError(1)
            self._queued += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, "password-check",
                                                    initializer=_lower_priority)
            executor = self._executor
        try:
            yield executor
        finally:
            with self._lock:
                self._queued -= 1


def _verify(desk: Desk, password_hash: str | None, password: str) -> bool:
    try:
        desk.hasher.verify(password_hash or _dummy_hash(desk), password)
    except (VerificationError, InvalidHashError):
        return False
    return True


_checker = _PasswordChecker()


def login(desk: Desk, username: str, password: str, remote: str = "") -> LoggedIn:
    """Check a user name and password.

    Raises LoginThrottledError (with the wait) when the scheme above says wait, or when
    every hash slot is busy; LoginFailedError for a wrong name, wrong password or disabled
    account (not told apart). Failures and successes are recorded, each in its own short
    transaction; throttled attempts are not.
    """
    name = username.strip().lower()[:64]
    if not name:
        raise InvalidInputError([FieldError("username", "必填", "required")])
    remote = remote[:64]
    with _checker.slot() as checker:
        wait = _throttle(desk, name, remote, utc_now(desk.clock))
        if wait is not None:
            raise LoginThrottledError(wait)
        candidate = _candidate(desk, name)
        matches = checker.submit(_verify, desk, candidate.password_hash, password).result()
    who = candidate.logged_in if matches else None
    new_hash = (desk.hasher.hash(password)
                if who is not None and candidate.password_hash is not None
                and desk.hasher.check_needs_rehash(candidate.password_hash) else None)
    with action(desk) as act:
        act.session.add(LoginAttempt(username=name, at=act.now, succeeded=who is not None,
                                     throttled=False, remote=remote))
        if new_hash is not None and candidate.staff_id is not None:
            staff = act.session.get(Staff, candidate.staff_id)
            if staff is not None and staff.password_hash == candidate.password_hash:
                staff.password_hash = new_hash
    if who is None:
        raise LoginFailedError("用户名或密码错误，或账户已停用",
                               "wrong user name or password, or the account is disabled")
    return who
