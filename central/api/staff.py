"""Staff accounts (admin only): list, create (password hashed with argon2id by the
service), deactivate (which also ends the account's sessions)."""

from __future__ import annotations

from fastapi import Request
from pydantic import Field
from sqlalchemy import select, update

from central.api.auth import StaffOut
from central.api.body import body_doc, form_input, path_integer
from central.api.errors import error_responses
from central.api.permissions import PERMISSIONS
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep, reading
from central.api.shapes import IdPath, RequestModel
from central.api.state import api_state
from central.models import Role, Staff, StaffSession
from central.rules import ConflictError, NotFoundError
from central.services.context import action
from central.services.staff import MIN_PASSWORD_LENGTH, NewStaff
from central.services.staff import create_staff as create_account

router = protected_router("staff")


class NewStaffBody(RequestModel):
    """A staff account to create."""

    username: str = Field(max_length=64, description="lower-case letters, digits, . _ -")
    display_name: str | None = Field(None, max_length=100)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD_LENGTH)
    site: str | None = Field(None, max_length=64,
                             description="the site code it serves; omit for every site")


class StaffListOut(StaffOut):
    """An account in the list, with whether it may log in."""

    active: bool


def _out(staff: Staff) -> StaffListOut:
    return StaffListOut(id=staff.id, username=staff.username, display_name=staff.display_name,
                        role=staff.role, site=staff.site.code if staff.site else None,
                        active=staff.active)


@router.get("/staff")
def list_staff(request: Request, actor: ActorDep) -> list[StaffListOut]:
    """Every account of the admin's site (every account, for a company-wide admin)."""
    with reading(request, actor) as act:
        query = select(Staff).order_by(Staff.username)
        if act.staff.site_id is not None:
            query = query.where(Staff.site_id == act.staff.site_id)
        return [_out(s) for s in act.session.scalars(query)]


@router.post("/staff", status_code=201, openapi_extra=body_doc(NewStaffBody),
             responses=error_responses(404, 409))
def create_staff(request: Request, actor: ActorDep, body: BodyDep) -> StaffListOut:
    """Create an account; the password is stored only as its argon2id hash."""
    desk = api_state(request).desk
    staff_id = create_account(desk, form_input(body, NewStaffBody, NewStaff.from_form), actor)
    with desk.sessions() as session:
        staff = session.get(Staff, staff_id)
        assert staff is not None
        return _out(staff)


@router.post("/staff/{staff_id}/deactivate", responses=error_responses(404, 409))
def deactivate_staff(request: Request, actor: ActorDep, staff_id: IdPath) -> StaffListOut:
    """Disable an account: it can no longer log in, and its sessions end now."""
    target_id = path_integer("staff_id", staff_id)
    with action(api_state(request).desk) as act:
        admin, _site = act.authorise(actor, PERMISSIONS["deactivate_staff"].roles)
        target = act.session.get(Staff, target_id)
        # A site's admin manages that site's accounts only; others do not exist for them.
        if target is None or (admin.site_id is not None and target.site_id != admin.site_id):
            raise NotFoundError("没有此账户", f"no staff account {target_id}", "staff_id")
        if target.id == admin.id:
            raise ConflictError("不能停用自己的账户", "an admin cannot deactivate their own "
                                "account", "staff_id")
        target.active = False
        act.session.execute(update(StaffSession).where(
            StaffSession.staff_id == target.id, StaffSession.revoked_at.is_(None))
            .values(revoked_at=act.now))
        act.session.flush()
        return _out(target)
