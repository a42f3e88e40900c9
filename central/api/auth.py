"""Logging in and out: ``POST /login`` checks the password (argon2id, failures throttled:
central/services/staff_login.py) and returns a bearer token; ``POST /logout`` ends the session;
``GET /me`` says who the token belongs to and what they may do."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.permissions import allowed_operations
from central.api.routing import BodyDep, protected_router, public_router
from central.api.security import CallerDep, SiteDep, role_at_acting_site
from central.api.sessions import close_session, open_session
from central.api.state import ApiState, api_state
from central.form_fields import Password, Text
from central.form_input import FormInput
from central.models import Role
from central.refusals import LoginFailedError, LoginThrottledError
from central.services.staff import OwnPassword
from central.services.staff import change_own_password as change_password
from central.services.staff_login import login as check_login

MAX_PASSWORD_LENGTH = 1024

public = public_router("session")
router = protected_router("session")


@dataclass(frozen=True)
class LoginForm(FormInput):
    """A staff member's user name and password."""

    username: Annotated[str, Text(max=64, label="User name")]
    # Taken exactly as typed.
    password: Annotated[str, Password(max=MAX_PASSWORD_LENGTH, label="Password")]


LOGIN_BODY = Body(LoginForm, name="LoginBody")


class StaffOut(BaseModel):
    """A staff account as the API shows it (never its password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    site: str | None = Field(description="the site served; null: every site")
    site_roles: dict[str, Role] = Field(
        default_factory=dict, description="roles given at other sites (a company-wide "
        "account: instead of its role there), by site code")


class LoginOut(BaseModel):
    """A new session."""

    token: str = Field(description="send as `Authorization: Bearer <token>`")
    token_type: str = "bearer"
    expires_at: datetime
    staff: StaffOut


class MeOut(BaseModel):
    """The caller, their session and the operations the matrix gives their role."""

    staff: StaffOut
    expires_at: datetime
    allowed_operations: list[str]


async def pause_after_refused_login(state: ApiState) -> None:
    """Wait before answering a refused login (the API's and the login page's alike).

    Waiting here holds no thread and no lock: only the guesser's connection. The wait is
    drawn between one and two delays: refused clients answered in step would come back in
    step, a burst every second that the desk's staff queue behind."""
    await asyncio.sleep(state.login_refusal_delay_s * (1 + secrets.randbelow(1000) / 1000))


@public.post("/login", openapi_extra=LOGIN_BODY.openapi,
             responses=error_responses(401, 413, 415, 429))
async def login(request: Request, body: BodyDep) -> LoginOut:
    """Log in with user name and password; returns the session's bearer token.

    Failures are throttled per address, per user name at an address and per user name
    (429, with Retry-After; the scheme is in docs/api.md); unknown names and wrong
    passwords are answered alike (401). A refused login is answered after a pause of one to
    two seconds, so one client cannot send more than about one guess a second."""
    state = api_state(request)
    form = LOGIN_BODY.read(body)
    remote = request.client.host if request.client is not None else ""
    try:
        who = await run_in_threadpool(check_login, state.desk, form.username, form.password,
                                      remote)
    except (LoginFailedError, LoginThrottledError):
        await pause_after_refused_login(state)
        raise
    token, expires_at = await run_in_threadpool(open_session, state.desk, who.staff_id,
                                                state.session_ttl)
    return LoginOut(token=token, expires_at=expires_at,
                    staff=StaffOut(id=who.staff_id, username=who.username,
                                   display_name=who.display_name, role=who.role,
                                   site=who.site, site_roles=dict(who.site_roles)))


@router.post("/logout", status_code=204)
def logout(request: Request, who: CallerDep) -> None:
    """End this session: its token is refused from now on."""
    close_session(api_state(request).desk, who.session_id)


OWN_PASSWORD_BODY = Body(OwnPassword, name="OwnPasswordBody")


@router.post("/me/password", status_code=204, openapi_extra=OWN_PASSWORD_BODY.openapi,
             responses=error_responses(413, 415, 429))
def change_own_password(request: Request, who: CallerDep, body: BodyDep) -> None:
    """Change one's own password (the current one is checked as a login is, throttled
    alike); the account's other sessions end, this one stays."""
    inp = OWN_PASSWORD_BODY.read(body)
    remote = request.client.host if request.client is not None else ""
    change_password(api_state(request).desk, who.staff_id, inp,
                    keep_session_id=who.session_id, remote=remote)


@router.get("/me")
def whoami(who: CallerDep, site: SiteDep) -> MeOut:
    """Who is logged in with this token, until when, and what they may do: at the site the
    ``X-Menwei-Site`` header names (a role given there counts), else at their own."""
    role = role_at_acting_site(who, site)
    return MeOut(staff=StaffOut(id=who.staff_id, username=who.username,
                                display_name=who.display_name, role=who.role, site=who.site,
                                site_roles=dict(who.site_roles)),
                 expires_at=who.expires_at, allowed_operations=allowed_operations(role))
