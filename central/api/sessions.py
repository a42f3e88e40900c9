"""API sessions: a random bearer token per login, stored only as its SHA-256 in
``staff_sessions`` with an expiry.

A plain hash is enough for the stored form: the token is 256 random bits, so there is
nothing to brute-force that a slow KDF would protect (passwords are another matter, and get
argon2id in central/services/staff.py). Each write is one transaction through ``action()``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from central.api.errors import NotAuthenticatedError
from central.clock import utc_now
from central.models import Role, Site, Staff, StaffSession, StaffSiteRole
from central.models.staff import role_at_site
from central.services.context import Desk, action

# Expired rows are kept a day (to tell "expired" from "unknown" in logs), then pruned.
_KEEP_EXPIRED = timedelta(days=1)
MAX_TOKEN_LENGTH = 128
# How stale a browser session's last_seen_at may get before a request writes it again: a
# write per page view would queue every click behind the desk's single writer.
_SEEN_GRANULARITY = timedelta(seconds=30)


@dataclass(frozen=True)
class Principal:
    """Who is calling, by a valid session."""

    session_id: int
    staff_id: int
    username: str
    display_name: str
    role: Role
    site: str | None  # the site the account serves; None: every site of the company
    expires_at: datetime
    locale: str | None = None  # the desk pages' language chosen by the account
    # The account's roles at sites other than its own (or, company-wide, instead of its
    # usual role), by site code (central/models/staff.py StaffSiteRole).
    site_roles: tuple[tuple[str, Role], ...] = ()

    def role_at(self, site: str | None) -> Role | None:
        """The caller's role at a site (by code; None: the account's own site); None when
        the account does not serve it."""
        at = self.site if site is None else site
        if at is None:  # a company-wide account, no site named: its own role
            return self.role
        return role_at_site(self.role, self.site, at, dict(self.site_roles).get(at))

    def sites_given(self) -> tuple[str, ...]:
        """The codes of the sites where the account was given a role."""
        return tuple(code for code, _role in self.site_roles)


def token_digest(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def open_session(desk: Desk, staff_id: int, ttl: timedelta,
                 idle_timeout: timedelta | None = None) -> tuple[str, datetime]:
    """Start a session for a staff member who just logged in; the token (shown once, never
    stored) and when it expires. ``idle_timeout`` ends it sooner after that long without a
    request (the desk pages' sessions). The account's long-expired sessions are pruned."""
    token = secrets.token_urlsafe(32)
    with action(desk) as act:
        act.session.execute(delete(StaffSession).where(
            StaffSession.staff_id == staff_id,
            StaffSession.expires_at < act.now - _KEEP_EXPIRED))
        expires_at = act.now + ttl
        act.session.add(StaffSession(
            staff_id=staff_id, token_sha256=token_digest(token), created_at=act.now,
            expires_at=expires_at, last_seen_at=act.now,
            idle_timeout_s=None if idle_timeout is None else int(idle_timeout.total_seconds())))
    return token, expires_at


class IdleSessionError(NotAuthenticatedError):
    """A browser session left without a request longer than its idle limit."""


def _refused() -> NotAuthenticatedError:
    return NotAuthenticatedError("未登录或登录已过期，请重新登录",
                                 "not logged in, or the session has ended: log in again")


def resolve_session(desk: Desk, token: str) -> Principal:
    """The principal of a live session: token known, not logged out, not expired, account
    active. Anything else is NotAuthenticatedError, the same for every case."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _refused()
    now = utc_now(desk.clock)
    with desk.sessions() as session:
        row = session.execute(
            select(StaffSession, Staff).join(Staff, Staff.id == StaffSession.staff_id)
            .where(StaffSession.token_sha256 == token_digest(token))).first()
        if row is None:
            raise _refused()
        live, staff = row
        if live.revoked_at is not None or live.expires_at <= now or not staff.active:
            raise _refused()
        seen = live.last_seen_at
        if live.idle_timeout_s is not None and seen is not None and (
                now - seen >= timedelta(seconds=live.idle_timeout_s)):
            raise IdleSessionError("长时间未操作，已自动退出，请重新登录",
                                   "signed out after a while without activity: log in again")
        given = tuple((code, role) for code, role in session.execute(
            select(Site.code, StaffSiteRole.role).join(Site, Site.id == StaffSiteRole.site_id)
            .where(StaffSiteRole.staff_id == staff.id).order_by(Site.code)))
        who = Principal(live.id, staff.id, staff.username, staff.display_name, staff.role,
                        staff.site.code if staff.site is not None else None,
                        live.expires_at, staff.locale, given)
    if live.idle_timeout_s is not None and (seen is None or now - seen >= _SEEN_GRANULARITY):
        with action(desk) as act:
            act.session.execute(update(StaffSession).where(StaffSession.id == live.id)
                                .values(last_seen_at=now))
    return who


def close_session(desk: Desk, session_id: int) -> None:
    """Log a session out."""
    with action(desk) as act:
        act.session.execute(update(StaffSession).where(
            StaffSession.id == session_id, StaffSession.revoked_at.is_(None))
            .values(revoked_at=act.now))
