"""Staff accounts: create, list, change role, reset password, disable, and the booths a
guard may sign in at (logging in: central/services/staff_login.py).

Every operation is scoped to the acting admin's sites: an admin bound to one site sees,
creates and changes that site's accounts only (an account elsewhere does not exist for
them), and only a company-wide admin creates or makes company-wide accounts. Passwords are
hashed (argon2id) before the transaction opens, so the write lock is never held for a hash.

An account has one role at the sites it serves, and may be given a role at other sites, one
per site (``StaffSiteRole``: a company's director of three compounds who is a clerk at a
fourth, a guard lent to another compound's car park). Only a company-wide admin gives or
takes such roles; the account's open sessions act with them at once.

A guard signs in at a booth (issue 11) only if the booth is one of the account's booths: the
booth's signed list carries those guards (central/services/booth_list.py). A new guard, or an
account made a guard at a site, gets every booth of the sites where it is a guard; the admin
then narrows it on the account's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Self

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from central.form_fields import Names, Password, Text
from central.form_input import FormInput
from central.forms import FormReader
from central.list_changes import note_sites
from central.models import Booth, Role, Site, Staff, StaffSession, StaffSiteRole
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
           "SiteRoleChoice", "StaffBooths", "StaffSiteRoleInput", "booth_choices",
           "change_own_password", "change_role", "create_staff", "deactivate_staff",
           "give_site_role", "last_logins", "list_staff", "login", "managed_account",
           "reset_password", "set_booths", "set_locale", "site_role_choices",
           "staff_id_of", "take_site_role"]

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
class StaffSiteRoleInput(FormInput):
    """A role an account is to have at one site other than its own."""

    site: Annotated[str, Text(max=64, doc="the site's code")]
    role: Role


@dataclass(frozen=True)
class SiteRoleChoice:
    """A site an account could be given a role at, and the role it has there if given."""

    code: str
    name: str
    given: Role | None


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


def _site_booths(act: Action, site_ids: set[int]) -> list[Booth]:
    """The booths of these sites, by site then code."""
    return list(act.session.scalars(
        select(Booth).join(Site, Site.id == Booth.site_id).where(Booth.site_id.in_(site_ids))
        .order_by(Site.code, Booth.code)))


def _given_roles(session: Session, staff_id: int) -> dict[int, Role]:
    """The roles the account was given, by site id."""
    return {site_id: role for site_id, role in session.execute(
        select(StaffSiteRole.site_id, StaffSiteRole.role).where(
            StaffSiteRole.staff_id == staff_id))}


def _guard_sites(act: Action, staff: Staff) -> set[int]:
    """The sites where the account is a guard: by its own role, or one it was given."""
    given = _given_roles(act.session, staff.id)
    own = ({staff.site_id} if staff.site_id is not None
           else set(act.session.scalars(select(Site.id))))
    return {site_id for site_id in own | set(given)
            if staff.role_at(site_id, given.get(site_id)) is Role.GUARD}


def _booth_sites(act: Action, admin: Staff | None, staff: Staff) -> set[int]:
    """The sites whose booths ``admin`` chooses for the account: where it is a guard, and for
    a site's own admin only that site (a guard lent elsewhere is at those booths by the
    company office's choice, which the home site's admin neither sees nor changes)."""
    sites = _guard_sites(act, staff)
    if admin is not None and admin.site_id is not None:
        sites &= {admin.site_id}
    return sites


def _allow_every_booth(act: Action, staff: Staff, site_ids: set[int] | None = None) -> None:
    """A guard's default: every booth of the sites where it is a guard (of ``site_ids``),
    unless it is already allowed at one of them (the admin chose its booths there)."""
    sites = _guard_sites(act, staff) if site_ids is None else site_ids
    booths = [b.id for b in _site_booths(act, sites)]
    if not booths or set(booths) & _allowed_booth_ids(act, staff.id):
        return
    act.session.execute(insert(staff_booths),
                        [{"staff_id": staff.id, "booth_id": b} for b in booths])
    note_sites(act.session, sites)


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


def _loaded(target: Staff) -> None:
    """Load what the pages and the API show of an account before its session closes."""
    _ = target.site
    for given in target.site_roles:
        _ = given.site


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
        query = (select(Staff).order_by(Staff.username)
                 .options(selectinload(Staff.site_roles).joinedload(StaffSiteRole.site)))
        if admin.site_id is not None:
            query = query.where(Staff.site_id == admin.site_id)
        rows = list(session.scalars(query))
        for row in rows:
            _loaded(row)
        return rows


def managed_account(desk: Desk, actor: Actor, staff_id: int) -> Staff:
    """One account the admin manages (one of another site is answered as unknown)."""
    with desk.sessions() as session:
        act = Action(desk, session)
        target = _managed(act, _admin(act, actor), staff_id)
        _loaded(target)
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
        if becomes_guard:
            # The sites where its own role now makes it a guard (not those it was lent to).
            given = _given_roles(act.session, target.id)
            _allow_every_booth(act, target, _guard_sites(act, target) - set(given))
        _loaded(target)
        return target


def reset_password(desk: Desk, actor: Actor, staff_id: int, inp: NewPassword) -> Staff:
    """Set an account's password; its sessions end, so only the new password works."""
    password_hash = desk.hasher.hash(inp.password)  # before the write lock is taken
    with action(desk) as act:
        target = _managed(act, _admin(act, actor), staff_id)
        target.password_hash = password_hash
        _end_sessions(act, target)
        act.session.flush()
        _loaded(target)
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
        _loaded(target)
        return target


def booth_choices(desk: Desk, actor: Actor, staff_id: int) -> list[BoothChoice]:
    """The booths the account could be allowed at (those of the sites where it is a guard),
    each with whether it is."""
    with desk.sessions() as session:
        act = Action(desk, session)
        admin = _admin(act, actor)
        target = _managed(act, admin, staff_id)
        allowed = _allowed_booth_ids(act, target.id)
        sites = {site.id: site for site in session.scalars(select(Site))}
        return [BoothChoice(f"{sites[b.site_id].code}/{b.code}", sites[b.site_id].name, b.code,
                            b.name, tuple(g.name for g in b.gates), b.id in allowed)
                for b in _site_booths(act, _booth_sites(act, admin, target))]


def set_booths(desk: Desk, actor: Actor, staff_id: int, inp: StaffBooths) -> Staff:
    """Allow a guard at exactly these booths (none: the guard signs in at no booth); each
    booth learns it with its next list."""
    with action(desk) as act:
        admin = _admin(act, actor)
        target = _managed(act, admin, staff_id)
        guard_sites = _booth_sites(act, admin, target)
        if not guard_sites:
            raise ConflictError("只有门岗（安管员）账户在岗亭登录",
                                "only a guard's account signs in at booths", "booths")
        sites = {site.id: site.code for site in act.session.scalars(select(Site))}
        known = {f"{sites[b.site_id]}/{b.code}": b for b in _site_booths(act, guard_sites)}
        unknown = [key for key in inp.booths if key not in known]
        if unknown:
            raise InvalidInputError([FieldError(
                "booths", f"没有这个岗亭：{'、'.join(unknown)}",
                f"not a booth where the account is a guard: {', '.join(unknown)}")])
        # Only the booths this admin chooses among change; the others stay as they are.
        in_scope = [b.id for b in known.values()]
        before = {b.site_id for b in act.session.scalars(select(Booth).join(
            staff_booths, staff_booths.c.booth_id == Booth.id).where(
            staff_booths.c.staff_id == target.id, Booth.id.in_(in_scope)))}
        act.session.execute(delete(staff_booths).where(
            staff_booths.c.staff_id == target.id, staff_booths.c.booth_id.in_(in_scope)))
        rows = [{"staff_id": target.id, "booth_id": known[key].id} for key in inp.booths]
        if rows:
            act.session.execute(insert(staff_booths), rows)
        # The booths' lists carry their guards: those of the sites before and after.
        note_sites(act.session, before | {known[key].site_id for key in inp.booths})
        act.session.flush()
        _loaded(target)
        return target


def _lending(act: Action, actor: Actor | None, staff_id: int) -> Staff:
    """The account the acting admin (None: the local command line) manages, if the admin is
    company-wide: only the company's office gives a role at another site."""
    admin = _admin(act, actor)
    target = _managed(act, admin, staff_id)
    if admin is not None and admin.site_id is not None:
        raise PermissionDeniedError(
            "只有服务所有小区的管理员可以给账户其他小区的角色",
            "only an admin of every site gives an account a role at another site")
    _not_self(admin, target, "不能更改自己的角色", "an admin cannot change their own role")
    return target


def _other_site(act: Action, target: Staff, code: str) -> Site:
    site = act.session.scalars(select(Site).where(Site.code == code)).one_or_none()
    if site is None:
        raise NotFoundError(f"没有代码为 {code} 的小区", f"no site {code!r}", "site")
    if site.id == target.site_id:
        raise ConflictError("这是该账户本来的小区：请直接更改它的角色",
                            "that is the account's own site: change its role instead", "site")
    return site


def give_site_role(desk: Desk, actor: Actor | None, staff_id: int,
                   inp: StaffSiteRoleInput) -> Staff:
    """Give an account a role at one site other than its own (or, company-wide, instead of
    its usual role there), replacing the one it had there; its sessions act with it at
    once. A guard there gets every booth of the site, as a new guard does."""
    with action(desk) as act:
        target = _lending(act, actor, staff_id)
        site = _other_site(act, target, inp.site)
        if inp.role is Role.ADMIN:
            # A site's admin manages that site's accounts (scoped by the account's own
            # site): lent to another's account it would manage the wrong site's.
            raise ConflictError("管理员不能借调：请在该小区另建管理员账户",
                                "an admin is not lent to another site: create an admin "
                                "account of that site", "role")
        given = act.session.get(StaffSiteRole, (target.id, site.id))
        was = given.role if given is not None else None
        if given is None:
            act.session.add(StaffSiteRole(staff_id=target.id, site_id=site.id, role=inp.role))
        else:
            given.role = inp.role
        act.session.flush()
        if inp.role is Role.GUARD and was is not Role.GUARD:
            _allow_every_booth(act, target, {site.id})
        elif was is Role.GUARD and inp.role is not Role.GUARD:
            _leave_booths(act, target, site.id)
        _loaded(target)
        return target


def take_site_role(desk: Desk, actor: Actor | None, staff_id: int, site_code: str) -> Staff:
    """Take back the role an account was given at a site: it serves that site no more (a
    company-wide account: with its usual role again), nor signs in at its booths."""
    with action(desk) as act:
        target = _lending(act, actor, staff_id)
        site = _other_site(act, target, site_code)
        given = act.session.get(StaffSiteRole, (target.id, site.id))
        if given is None:
            raise NotFoundError(f"该账户在 {site_code} 没有另给的角色",
                                f"the account was given no role at {site_code!r}", "site")
        act.session.delete(given)
        act.session.flush()
        if target.role_at(site.id, None) is not Role.GUARD:
            _leave_booths(act, target, site.id)
        _loaded(target)
        return target


def _leave_booths(act: Action, target: Staff, site_id: int) -> None:
    """The account is no longer a guard at the site: it is allowed at none of its booths
    (made a guard there again, it gets every booth, as a new guard does)."""
    act.session.execute(delete(staff_booths).where(
        staff_booths.c.staff_id == target.id,
        staff_booths.c.booth_id.in_(select(Booth.id).where(Booth.site_id == site_id))))


def staff_id_of(desk: Desk, username: str) -> int:
    """The id of the account of that user name (as typed at a login: case and spaces do
    not matter)."""
    name = username.strip().lower()
    with desk.sessions() as session:
        found = session.scalars(select(Staff.id).where(Staff.username == name)).first()
    if found is None:
        raise NotFoundError(f"没有用户名为 {name} 的账户", f"no account {name!r}", "username")
    return found


def site_role_choices(desk: Desk, actor: Actor, staff_id: int) -> list[SiteRoleChoice]:
    """The sites other than the account's own, each with the role it was given there."""
    with desk.sessions() as session:
        act = Action(desk, session)
        target = _managed(act, _admin(act, actor), staff_id)
        given = _given_roles(session, target.id)
        return [SiteRoleChoice(site.code, site.name, given.get(site.id))
                for site in session.scalars(select(Site).order_by(Site.code))
                if site.id != target.site_id]
