"""Staff accounts (admin only): list, create (password hashed with argon2id by the
service), change role, reset password, deactivate (which also ends the account's sessions),
and give or take back a role at another site (a company-wide admin only). Each is scoped to
the admin's own site by central/services/staff.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from central.api.auth import StaffOut
from central.api.body import path_integer
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import IdPath
from central.api.state import api_state
from central.models import Staff
from central.services import staff as accounts
from central.services.staff import NewPassword, NewRole, NewStaff, StaffSiteRoleInput

router = protected_router("staff")
NEW_STAFF_BODY = Body(NewStaff)
NEW_ROLE_BODY = Body(NewRole)
NEW_PASSWORD_BODY = Body(NewPassword)
SITE_ROLE_BODY = Body(StaffSiteRoleInput, path=("site",), name="StaffSiteRoleBody")
SitePath = Annotated[str, Path(max_length=64, description="the site's code")]


class StaffListOut(StaffOut):
    """An account in the list, with whether it may log in."""

    active: bool


def _out(staff: Staff) -> StaffListOut:
    return StaffListOut(id=staff.id, username=staff.username, display_name=staff.display_name,
                        role=staff.role, site=staff.site.code if staff.site else None,
                        site_roles={g.site.code: g.role for g in staff.site_roles},
                        active=staff.active)


@router.get("/staff")
def list_staff(request: Request, actor: ActorDep) -> list[StaffListOut]:
    """Every account of the admin's site (every account, for a company-wide admin)."""
    return [_out(s) for s in accounts.list_staff(api_state(request).desk, actor)]


@router.post("/staff", status_code=201, openapi_extra=NEW_STAFF_BODY.openapi,
             responses=error_responses(404, 409))
def create_staff(request: Request, actor: ActorDep, body: BodyDep) -> StaffListOut:
    """Create an account at the admin's site; the password is stored only as its argon2id
    hash. Only a company-wide admin creates a company-wide account."""
    desk = api_state(request).desk
    staff_id = accounts.create_staff(desk, NEW_STAFF_BODY.read(body),
                                     actor)
    return _out(accounts.managed_account(desk, actor, staff_id))


@router.put("/staff/{staff_id}/role", openapi_extra=NEW_ROLE_BODY.openapi,
            responses=error_responses(404, 409))
def change_staff_role(request: Request, actor: ActorDep, staff_id: IdPath,
                      body: BodyDep) -> StaffListOut:
    """Give an account of the admin's site another role."""
    return _out(accounts.change_role(api_state(request).desk, actor,
                                     path_integer("staff_id", staff_id),
                                     NEW_ROLE_BODY.read(body)))


@router.post("/staff/{staff_id}/password", openapi_extra=NEW_PASSWORD_BODY.openapi,
             responses=error_responses(404))
def reset_staff_password(request: Request, actor: ActorDep, staff_id: IdPath,
                         body: BodyDep) -> StaffListOut:
    """Set a new password for an account of the admin's site; its sessions end."""
    return _out(accounts.reset_password(api_state(request).desk, actor,
                                        path_integer("staff_id", staff_id),
                                        NEW_PASSWORD_BODY.read(body)))


@router.post("/staff/{staff_id}/deactivate", responses=error_responses(404, 409))
def deactivate_staff(request: Request, actor: ActorDep, staff_id: IdPath) -> StaffListOut:
    """Disable an account: it can no longer log in, and its sessions end now."""
    return _out(accounts.deactivate_staff(api_state(request).desk, actor,
                                          path_integer("staff_id", staff_id)))


@router.put("/staff/{staff_id}/site-roles/{site_code}", openapi_extra=SITE_ROLE_BODY.openapi,
            responses=error_responses(404, 409))
def give_staff_site_role(request: Request, actor: ActorDep, staff_id: IdPath,
                         site_code: SitePath, body: BodyDep) -> StaffListOut:
    """Give an account a role at a site other than its own (a company-wide account: instead
    of its usual role there), replacing any it had there; company-wide admins only."""
    return _out(accounts.give_site_role(api_state(request).desk, actor,
                                        path_integer("staff_id", staff_id),
                                        SITE_ROLE_BODY.read(body, site=site_code)))


@router.delete("/staff/{staff_id}/site-roles/{site_code}", responses=error_responses(404, 409))
def take_staff_site_role(request: Request, actor: ActorDep, staff_id: IdPath,
                         site_code: SitePath) -> StaffListOut:
    """Take back the role an account was given at a site; company-wide admins only."""
    return _out(accounts.take_site_role(api_state(request).desk, actor,
                                        path_integer("staff_id", staff_id), site_code))
