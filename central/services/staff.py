"""Staff accounts: create, list, change role, reset password, disable, and the booths a
guard may sign in at (logging in: central/services/staff_login.py).

Every operation is scoped to the acting admin's sites: an admin bound to one site sees,
creates and changes that site's accounts only (an account elsewhere does not exist for
them), and only a company-wide admin creates or makes company-wide accounts. Passwords are
hashed (argon2id) before the transaction opens, so the write lock is never held for a hash.

A guard signs in at a booth (issue 11) only if the booth is one of the account's booths: the
booth's signed list carries those guards (central/services/booth_list.py). A new guard, or an
account made a guard, gets every booth of its site (of every site, company-wide); the admin
then narrows it on the account's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Self

from sqlalchemy import delete, func, insert, select, update

from central.form_fields import Names, Password, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.models import Booth, Role, Site, Staff, StaffSession
from central.models.booths import staff_booths
from central.refusals import (
    ConflictError,
    FieldError,
    InvalidInputError,
    LoginFailedError,
    NotFoundError,
    PermissionDeniedError,
)
from central.services.context import Action, Actor, Desk, action
from central.services.staff_login import LoggedIn, login

__all__ = ["MIN_PASSWORD_LENGTH", "BoothChoice", "LoggedIn", "NewStaff", "OwnPassword",
           "StaffBooths", "booth_choices", "change_own_password", "change_role", "create_staff",
           "deactivate_staff", "last_logins", "list_staff", "login", "managed_account",
           "reset_password", "set_booths", "set_locale"]

ADMINS = frozenset({Role.ADMIN})
MIN_PASSWORD_LENGTH = 10
# argon2 reads all of a password: a megabyte would be a way to burn the CPU.
MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


@dataclass(frozen=True)
class NewStaff(FormInput):
    """A staff account to create."""

    username: Annotated[str, Text(max=64, then=str.lower,
                                  doc="lower-case letters, digits, . _ -")]
    display_name: Annotated[str, Text(max=100, required=False, doc="default the user name")]
    role: Role
    password: Annotated[str, Password(min=MIN_PASSWORD_LENGTH)]
    site: Annotated[str | None, Text(max=64, doc="the site code it serves; omit for every "
                                                 "site (a company-wide admin only)")] = None

    def cross_check(self, form: FormReader) -> Self:
        """The user name's spelling; the display name defaults to it."""
        if self.username and not _USERNAME.match(self.username):
            form.fail("username", "用户名只能用小写字母、数字和 . _ -",
                      "use 2-64 lower-case letters, digits, '.', '_' or '-'")
        return self if self.display_name else replace(self, display_name=self.username)


@dataclass(frozen=True)
class NewPassword(FormInput):
    """A new password an admin sets for an account (the account's sessions end)."""

    password: Annotated[str, Password(min=MIN_PASSWORD_LENGTH)]


@dataclass(frozen=True)
class OwnPassword(FormInput):
    """A staff member's change of their own password: the current one, the new one twice."""

    current_password: Annotated[str, Password(max=MAX_PASSWORD_LENGTH)]
    new_password: Annotated[str, Password(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)]
    new_password_again: Annotated[str, Password(max=MAX_PASSWORD_LENGTH)]

    def cross_check(self, form: FormReader) -> Self:
        """The new password typed the same twice, and not the current one."""
        if self.new_password and self.new_password != self.new_password_again:
            form.fail("new_password_again", "两次输入的新密码不一致",
                      "the two new passwords differ")
        elif self.new_password and self.new_password == self.current_password:
            form.fail("new_password", "新密码不能与当前密码相同",
                      "the new password is the current one")
        return self


@dataclass(frozen=True)
class NewRole(FormInput):
    """The role an account is to have."""

    role: Role


@dataclass(frozen=True)
class StaffBooths(FormInput):
    """The booths a guard may sign in at, exactly these."""

    booths: Annotated[tuple[str, ...], Names(
        max_items=1000, max_len=129,
        doc="the booths, each as site/booth (e.g. sunrise-garden/east-booth); empty: none")] = ()


@dataclass(frozen=True)
class BoothChoice:
    """A booth an account could be allowed at, and whether it is."""

    key: str  # site/booth, as StaffBooths names it
    site_name: str
    code: str
    name: str
    gates: tuple[str, ...]  # the gates' names
    allowed: bool


def _site_booths(act: Action, site_id: int | None) -> list[Booth]:
    """The booths of the site (every site's for ``site_id`` None), by site then code."""
    query = select(Booth).join(Site, Site.id == Booth.site_id).order_by(Site.code, Booth.code)
    if site_id is not None:
        query = query.where(Booth.site_id == site_id)
    return list(act.session.scalars(query))


def _allow_every_booth(act: Action, staff: Staff) -> None:
    """A guard's default: every booth of their site (every site's, company-wide)."""
    rows = [{"staff_id": staff.id, "booth_id": b.id} for b in _site_booths(act, staff.site_id)]
    if rows:
        act.session.execute(insert(staff_booths), rows)


def _allowed_booth_ids(act: Action, staff_id: int) -> set[int]:
    return set(act.session.scalars(select(staff_booths.c.booth_id).where(
        staff_booths.c.staff_id == staff_id)))


def _admin(act: Action, actor: Actor | None) -> Staff | None:
    """The acting admin (None: the local command line, which may do anything)."""
    if actor is None:
        return None
    admin, _site = act.authorise(actor, ADMINS)
    return admin


def _managed(act: Action, admin: Staff | None, staff_id: int) -> Staff:
    """An account the admin manages; one of another site is answered as unknown."""
    target = act.session.get(Staff, staff_id)
    if target is None or (admin is not None and admin.site_id is not None
                          and target.site_id != admin.site_id):
        raise NotFoundError("没有此账户", f"no staff account {staff_id}", "staff_id")
    return target


def _not_self(admin: Staff | None, target: Staff, zh: str, en: str) -> None:
    if admin is not None and target.id == admin.id:
        raise ConflictError(zh, en, "staff_id")


def _end_sessions(act: Action, target: Staff) -> None:
    act.session.execute(update(StaffSession).where(
        StaffSession.staff_id == target.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=act.now))


def create_staff(desk: Desk, inp: NewStaff, actor: Actor | None = None) -> int:
    """Create an account; return its id. ``actor`` None is the local command line (whoever
    can run it can read the database anyway); otherwise only an admin may, for a site they
    serve, and only a company-wide admin creates a company-wide account."""
    password_hash = desk.hasher.hash(inp.password)  # before the write lock is taken
    with action(desk) as act:
        admin = _admin(act, actor)
        site_id = None
        if inp.site is not None:
            site = act.session.scalars(select(Site).where(Site.code == inp.site)).one_or_none()
            if site is None or (admin is not None and admin.site_id is not None
                                and site.id != admin.site_id):
                raise NotFoundError(f"没有代码为 {inp.site} 的小区", f"no site {inp.site!r}",
                                    "site")
            site_id = site.id
        elif admin is not None and admin.site_id is not None:
            raise PermissionDeniedError(
                "本小区的管理员只能为本小区建账户：请填写小区代码",
                "an admin of one site creates accounts for that site only: name it", "site")
        if act.session.scalars(select(Staff).where(Staff.username == inp.username)).first():
            raise ConflictError(f"用户名 {inp.username} 已存在",
                                f"user name {inp.username!r} is taken", "username")
        staff = Staff(username=inp.username, display_name=inp.display_name, role=inp.role,
                      site_id=site_id, password_hash=password_hash, created_at=act.now)
        act.session.add(staff)
        act.session.flush()
        if staff.role is Role.GUARD:
            _allow_every_booth(act, staff)
        return staff.id


def list_staff(desk: Desk, actor: Actor) -> list[Staff]:
    """The accounts the admin manages: their site's, or every one for a company admin."""
    with desk.sessions() as session:
        act = Action(desk, session)
        admin = _admin(act, actor)
        assert admin is not None
        query = select(Staff).order_by(Staff.username)
        if admin.site_id is not None:
            query = query.where(Staff.site_id == admin.site_id)
        rows = list(session.scalars(query))
        for row in rows:
            _ = row.site  # loaded before the session closes
        return rows


def managed_account(desk: Desk, actor: Actor, staff_id: int) -> Staff:
    """One account the admin manages (one of another site is answered as unknown)."""
    with desk.sessions() as session:
        act = Action(desk, session)
        target = _managed(act, _admin(act, actor), staff_id)
        _ = target.site  # loaded before the session closes
        return target


def last_logins(desk: Desk, actor: Actor) -> dict[int, datetime]:
    """When each account the admin manages last logged in (by page or API), by account id;
    an account that never did is absent."""
    with desk.sessions() as session:
        act = Action(desk, session)
        admin = _admin(act, actor)
        assert admin is not None
        query = (select(StaffSession.staff_id, func.max(StaffSession.created_at))
                 .group_by(StaffSession.staff_id))
        if admin.site_id is not None:
            query = query.join(Staff, Staff.id == StaffSession.staff_id).where(
                Staff.site_id == admin.site_id)
        return {staff_id: at for staff_id, at in session.execute(query).all()}


def change_role(desk: Desk, actor: Actor, staff_id: int, inp: NewRole) -> Staff:
    """Give an account another role (its open sessions carry the new role at once)."""
    with action(desk) as act:
        admin = _admin(act, actor)
        target = _managed(act, admin, staff_id)
        _not_self(admin, target, "不能更改自己的角色", "an admin cannot change their own role")
        becomes_guard = target.role is not Role.GUARD and inp.role is Role.GUARD
        target.role = inp.role
        act.session.flush()
        if becomes_guard and not _allowed_booth_ids(act, target.id):
            _allow_every_booth(act, target)
        _ = target.site
        return target


def reset_password(desk: Desk, actor: Actor, staff_id: int, inp: NewPassword) -> Staff:
    """Set an account's password; its sessions end, so only the new password works."""
    password_hash = desk.hasher.hash(inp.password)  # before the write lock is taken
    with action(desk) as act:
        target = _managed(act, _admin(act, actor), staff_id)
        target.password_hash = password_hash
        _end_sessions(act, target)
        act.session.flush()
        _ = target.site
        return target


def change_own_password(desk: Desk, staff_id: int, inp: OwnPassword, *,
                        keep_session_id: int | None = None, remote: str = "") -> None:
    """Change one's own password. The current password is checked as a login is (same
    throttle, same record of the attempt: a stolen open session must not be a way to guess
    it); the account's other sessions end, the one making the change (``keep_session_id``)
    stays."""
    with desk.sessions() as session:
        staff = session.get(Staff, staff_id)
        if staff is None or not staff.active:
            raise PermissionDeniedError("账户不存在或已停用", "no such active staff account")
        username = staff.username
    try:
        login(desk, username, inp.current_password, remote)
    except LoginFailedError:
        raise InvalidInputError([FieldError("current_password", "当前密码不正确",
                                             "the current password is wrong")]) from None
    password_hash = desk.hasher.hash(inp.new_password)  # before the write lock is taken
    with action(desk) as act:
        target = act.session.get(Staff, staff_id)
        assert target is not None
        target.password_hash = password_hash
        act.session.execute(update(StaffSession).where(
            StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None),
            StaffSession.id != (keep_session_id or 0)).values(revoked_at=act.now))


def set_locale(desk: Desk, staff_id: int, locale: str) -> None:
    """Remember the desk pages' language an account chose (``zh_CN``, ``en``)."""
    with action(desk) as act:
        act.session.execute(update(Staff).where(Staff.id == staff_id).values(locale=locale))


def deactivate_staff(desk: Desk, actor: Actor, staff_id: int) -> Staff:
    """Disable an account: it can no longer log in, and its sessions end now."""
    with action(desk) as act:
        admin = _admin(act, actor)
        target = _managed(act, admin, staff_id)
        _not_self(admin, target, "不能停用自己的账户",
                  "an admin cannot deactivate their own account")
        target.active = False
        _end_sessions(act, target)
        act.session.flush()
        _ = target.site
        return target


def booth_choices(desk: Desk, actor: Actor, staff_id: int) -> list[BoothChoice]:
    """The booths the account could be allowed at (its site's; every site's for a
    company-wide account), each with whether it is."""
    with desk.sessions() as session:
        act = Action(desk, session)
        target = _managed(act, _admin(act, actor), staff_id)
        allowed = _allowed_booth_ids(act, target.id)
        sites = {site.id: site for site in session.scalars(select(Site))}
        return [BoothChoice(f"{sites[b.site_id].code}/{b.code}", sites[b.site_id].name, b.code,
                            b.name, tuple(g.name for g in b.gates), b.id in allowed)
                for b in _site_booths(act, target.site_id)]


def set_booths(desk: Desk, actor: Actor, staff_id: int, inp: StaffBooths) -> Staff:
    """Allow a guard at exactly these booths (none: the guard signs in at no booth); each
    booth learns it with its next list."""
    with action(desk) as act:
        target = _managed(act, _admin(act, actor), staff_id)
        if target.role is not Role.GUARD:
            raise ConflictError("只有门岗（安管员）账户在岗亭登录",
                                "only a guard's account signs in at booths", "booths")
        sites = {site.id: site.code for site in act.session.scalars(select(Site))}
        known = {f"{sites[b.site_id]}/{b.code}": b.id
                 for b in _site_booths(act, target.site_id)}
        unknown = [key for key in inp.booths if key not in known]
        if unknown:
            raise InvalidInputError([FieldError(
                "booths", f"没有这个岗亭：{'、'.join(unknown)}",
                f"not a booth of the account's site: {', '.join(unknown)}")])
        act.session.execute(delete(staff_booths).where(staff_booths.c.staff_id == target.id))
        rows = [{"staff_id": target.id, "booth_id": known[key]} for key in inp.booths]
        if rows:
            act.session.execute(insert(staff_booths), rows)
        act.session.flush()
        _ = target.site
        return target
