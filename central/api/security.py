"""Who is calling and may they: the dependencies every protected route carries.

``authorised`` resolves the bearer token to a Principal and checks the permission matrix
for the route's operation (its name) against the caller's role at the site acted at;
``current_actor`` turns that into the services' ``Actor`` at the site the account serves —
or the site the ``X-Menwei-Site`` header names (a company-wide account, or one given a role
at another site). ``reading`` gives the read-only endpoints a session
authorised exactly as an action would be.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from central.api.errors import NotAuthenticatedError, RoleRefusedError
from central.api.permissions import PERMISSIONS, ROLE_TITLES, ROLE_TITLES_ZH, Permission
from central.api.sessions import Principal, resolve_session
from central.api.state import api_state
from central.models import Role
from central.refusals import FieldError, InvalidInputError, PermissionDeniedError, RuleRefused
from central.services import context
from central.services.context import Action, Actor

bearer = HTTPBearer(auto_error=False, description="the token `POST /api/v1/login` returns")

SITE_HEADER = "X-Menwei-Site"


def operation_of(request: Request) -> str:
    """The operation (route name, also its OpenAPI operationId) being called."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    if not isinstance(name, str):
        raise RuntimeError("no route in scope")  # only reachable by a wiring mistake
    return name


def permission_of(request: Request) -> Permission:
    """The matrix entry of the operation being called; a route missing from the matrix is
    a defect, refused loudly rather than left open."""
    op = operation_of(request)
    if op not in PERMISSIONS:
        raise RuntimeError(f"operation {op!r} has no entry in central/api/permissions.py")
    return PERMISSIONS[op]


def principal(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    """The caller's live session, or 401."""
    if credentials is None:
        raise NotAuthenticatedError("请先登录（Authorization: Bearer 令牌）",
                                    "log in first and send Authorization: Bearer <token>")
    return resolve_session(api_state(request).desk, credentials.credentials)


def acting_site(x_menwei_site: Annotated[str | None, Header(
        alias=SITE_HEADER, description="the site to act at; needed only by accounts that "
        "serve every site, or that were given a role at another site")] = None) -> str | None:
    """The site the ``X-Menwei-Site`` header names, if any."""
    chosen = x_menwei_site.strip() if x_menwei_site is not None else ""
    if len(chosen) > 64:
        raise InvalidInputError([FieldError(SITE_HEADER, "小区代码过长", "site code too long")])
    return chosen or None


SiteDep = Annotated[str | None, Depends(acting_site)]


def role_at_acting_site(who: Principal, site: str | None) -> Role:
    """The caller's role at the site acted at (``site``; None: its own); a site the
    account does not serve is refused here, as every service would refuse it, so no answer
    is ever given with the account's role at another site."""
    role = who.role_at(site)
    if role is None:
        raise PermissionDeniedError("该账户不属于此小区", "this account does not serve that site")
    return role


def authorised(request: Request, who: Annotated[Principal, Depends(principal)],
               site: SiteDep) -> Principal:
    """The caller, if the permission matrix gives their role at the site acted at this
    operation. Else 403; or, where a domain rule names who may (H4, L2, P3, P4, G4), that
    rule's refusal: 422 with its id, as the service itself would answer (docs/api.md,
    Errors). A site the account does not serve: 403, as the services answer it."""
    permission = permission_of(request)
    role = role_at_acting_site(who, site)
    if role not in permission.roles:
        ordered = [r for r in ROLE_TITLES if r in permission.roles]
        by_rule = f"（规则 {permission.rule}）" if permission.rule else ""
        by_rule_en = f" (rule {permission.rule})" if permission.rule else ""
        zh = (f"{ROLE_TITLES_ZH[role]}无权办理此业务（{operation_of(request)}）{by_rule}；"
              f"须由{'、'.join(ROLE_TITLES_ZH[r] for r in ordered)}办理")
        en = (f"a {ROLE_TITLES[role]} may not {permission.summary}{by_rule_en}; "
              f"allowed: {', '.join(ROLE_TITLES[r] for r in ordered)}")
        if permission.rule is not None:
            raise RuleRefused(permission.rule, zh, en)
        raise RoleRefusedError(zh, en)
    return who


def current_actor(who: Annotated[Principal, Depends(authorised)], site: SiteDep) -> Actor:
    """The services' Actor: the caller at the site acted at (one it serves: ``authorised``
    refused any other)."""
    if site is not None:
        return Actor(who.staff_id, site)
    if who.site is None:
        raise InvalidInputError([FieldError(
            SITE_HEADER, "此账户服务所有小区：请用 X-Menwei-Site 指明小区",
            "this account serves every site: name one in the X-Menwei-Site header")])
    return Actor(who.staff_id, who.site)


CallerDep = Annotated[Principal, Depends(authorised)]
ActorDep = Annotated[Actor, Depends(current_actor)]


@contextmanager
def reading(request: Request, actor: Actor) -> Iterator[Action]:
    """A read-only session for a listing, authorised like an action (account active,
    site served, role in the matrix), so reads and writes refuse the same callers."""
    with context.reading(api_state(request).desk, actor, permission_of(request).roles) as act:
        yield act
