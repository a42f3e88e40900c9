"""Who is using a desk page: the staff session behind the page cookie.

A browser logs in through the login page and gets the same kind of session an API token
is (central/api/sessions.py), with an idle limit: the token is the value of an ``HttpOnly;
SameSite=Strict`` cookie, never visible to a script. Every form carries a CSRF token derived
from the session's token (an HMAC of it), so a form posted from another site — which
SameSite already keeps the cookie from — would be refused even by a browser that ignored
SameSite. The login form, before there is a session, is protected the same way by a
random value in its own cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request

from central.api.errors import NotAuthenticatedError
from central.api.sessions import IdleSessionError, Principal, resolve_session
from central.api.state import api_state
from central.models import Role
from central.refusals import DeskError, PermissionDeniedError
from central.services.context import Actor
from central.services.sites import SiteRef, sites_served

SESSION_COOKIE = "menwei_session"
LOGIN_CSRF_COOKIE = "menwei_login_csrf"
LOCALE_COOKIE = "menwei_lang"
SITE_COOKIE = "menwei_site"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class PageCaller:
    """The staff member behind a page request, at the site they act for."""

    principal: Principal
    csrf: str
    site: str
    site_name: str
    timezone: str
    # The caller's role at this site: their account's, or the one they were given here.
    role: Role
    # The sites the account may act at: every site for a company-wide account, else its
    # own and those where it was given a role.
    sites: tuple[SiteRef, ...] = ()

    @property
    def actor(self) -> Actor:
        """The services' Actor."""
        return Actor(self.principal.staff_id, self.site)


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """No live session: the page answers with the login page (``reason`` says why)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefusedError(PermissionDeniedError):
    """A form came without the token of this session."""


def csrf_of(token: str) -> str:
    """The CSRF token of a session token."""
    return hmac.new(token.encode(), b"menwei-desk-form", hashlib.sha256).hexdigest()


def new_login_csrf() -> str:
    """A random value for the login form and its cookie."""
    return secrets.token_urlsafe(24)


def check_csrf(expected: str, sent: object) -> None:
    """Refuse a form whose CSRF token is not ``expected``."""
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise CsrfRefusedError("页面已过期，请刷新后重新提交",
                          "this form has expired: reload the page and submit it again")


def login_url(request: Request, reason: str = "") -> str:
    """The login page, coming back to where the browser was."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"/login?next={quote(back, safe='')}"
    return url + (f"&why={reason}" if reason else "")


def _site_of(request: Request, principal: Principal) -> tuple[SiteRef, list[SiteRef]]:
    """The site the caller acts at — the one they picked (cookie) of those they serve, else
    their own (a company-wide account: the first) — and the sites they may pick from."""
    served = sites_served(api_state(request).desk, principal.site, principal.sites_given())
    if not served:
        raise DeskError("尚未配置小区", "no site has been set up yet")
    picked = request.cookies.get(SITE_COOKIE)
    own = next((s for s in served if s.code == principal.site), served[0])
    return next((s for s in served if s.code == picked), own), served


def page_caller(request: Request) -> PageCaller:
    """The caller of a page, or LoginRequired."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise LoginRequired()
    try:
        principal = resolve_session(api_state(request).desk, token)
    except IdleSessionError:
        raise LoginRequired("idle") from None
    except NotAuthenticatedError:
        raise LoginRequired("ended") from None
    site, served = _site_of(request, principal)
    return PageCaller(principal, csrf_of(token), site.code, site.name, site.timezone,
                      principal.role_at(site.code) or principal.role, tuple(served))
