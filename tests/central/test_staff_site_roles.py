"""Roles at other sites (issue 14): a company's staff who work at several compounds act at
each with the role they were given there, and only there; only a company-wide admin gives or
takes such roles; a guard given a role at a site signs in at its booths, and no longer once
it is taken back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from central.models import Booth, Role, Site
from central.models.booths import staff_booths
from central.refusals import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from central.services.booth_list import booth_lists
from central.services.context import Actor, Desk, reading
from central.services.sites import sites_served
from central.services.staff import (
    NewRole,
    NewStaff,
    StaffBooths,
    StaffSiteRoleInput,
    booth_choices,
    change_role,
    create_staff,
    give_site_role,
    login,
    set_booths,
    site_role_choices,
    take_site_role,
)

from .conftest import PASSWORD, SITE, Staffs, load_second_site

MOON = "moonlight-court"
EVERYONE = frozenset(Role)


def role_at(desk: Desk, staff_id: int, site: str) -> Role:
    """The role an action at ``site`` is authorised with."""
    with reading(desk, Actor(staff_id, site), EVERYONE) as act:
        return act.role


@pytest.fixture
def company_admin(desk: Desk, staff: Staffs) -> Actor:
    """The company's admin, serving every site; a second site exists."""
    load_second_site(desk)
    return Actor(create_staff(desk, NewStaff("head-office", "h", Role.ADMIN, PASSWORD)), SITE)


def test_a_clerk_given_director_at_another_site_is_a_director_there_only(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    clerk = staff.clerk.staff_id
    with pytest.raises(PermissionDeniedError):  # before: that site is not theirs
        role_at(desk, clerk, MOON)
    shown = give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(MOON, Role.DIRECTOR))
    assert [(g.site.code, g.role) for g in shown.site_roles] == [(MOON, Role.DIRECTOR)]
    assert role_at(desk, clerk, MOON) is Role.DIRECTOR
    assert role_at(desk, clerk, SITE) is Role.CLERK
    # A director-only check at the clerk's own site still refuses them.
    with pytest.raises(PermissionDeniedError), reading(desk, staff.clerk,
                                                       frozenset({Role.DIRECTOR})):
        pass
    who = login(desk, "clerk", PASSWORD)
    assert who.site_roles == ((MOON, Role.DIRECTOR),)
    assert [s.code for s in sites_served(desk, SITE, (MOON,))] == [MOON, SITE]
    # Given again: replaced, not added.
    give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(MOON, Role.FRONT_DESK_LEAD))
    assert role_at(desk, clerk, MOON) is Role.FRONT_DESK_LEAD
    taken = take_site_role(desk, company_admin, clerk, MOON)
    assert taken.site_roles == []
    with pytest.raises(PermissionDeniedError):
        role_at(desk, clerk, MOON)
    with pytest.raises(NotFoundError):  # nothing left to take
        take_site_role(desk, company_admin, clerk, MOON)


def test_a_company_wide_account_has_the_given_role_there_instead(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    roaming = create_staff(desk, NewStaff("roaming", "r", Role.CLERK, PASSWORD))
    give_site_role(desk, company_admin, roaming, StaffSiteRoleInput(MOON, Role.DIRECTOR))
    assert role_at(desk, roaming, MOON) is Role.DIRECTOR
    assert role_at(desk, roaming, SITE) is Role.CLERK
    choices = site_role_choices(desk, company_admin, roaming)
    assert [(c.code, c.given) for c in choices] == [(MOON, Role.DIRECTOR), (SITE, None)]


def test_only_a_company_wide_admin_gives_roles_at_other_sites(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    clerk = staff.clerk.staff_id
    with pytest.raises(PermissionDeniedError):  # the site's own admin
        give_site_role(desk, staff.admin, clerk, StaffSiteRoleInput(MOON, Role.DIRECTOR))
    with pytest.raises(PermissionDeniedError):  # not an admin at all
        give_site_role(desk, staff.director, clerk, StaffSiteRoleInput(MOON, Role.DIRECTOR))
    with pytest.raises(ConflictError) as own:
        give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(SITE, Role.DIRECTOR))
    assert own.value.field == "site"
    with pytest.raises(NotFoundError):
        give_site_role(desk, company_admin, clerk, StaffSiteRoleInput("nowhere", Role.CLERK))
    with pytest.raises(ConflictError):  # an admin does not change their own roles
        give_site_role(desk, company_admin, company_admin.staff_id,
                       StaffSiteRoleInput(MOON, Role.DIRECTOR))
    with pytest.raises(PermissionDeniedError):
        take_site_role(desk, staff.admin, clerk, MOON)
    assert role_at(desk, clerk, SITE) is Role.CLERK


def _guards_of(desk: Desk, site: str) -> set[str]:
    return {g.username for each in booth_lists(desk, site) for g in each.guards}


def test_a_guard_lent_to_another_site_signs_in_at_its_booths_until_taken_back(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    clerk = staff.clerk.staff_id
    assert "clerk" not in _guards_of(desk, MOON)
    give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(MOON, Role.GUARD))
    # Every booth of that site, as a new guard gets; none of the clerk's own site.
    with desk.sessions() as s:
        moon_booths = set(s.scalars(select(Booth.id).join(Site).where(Site.code == MOON)))
        allowed = set(s.scalars(select(staff_booths.c.booth_id).where(
            staff_booths.c.staff_id == clerk)))
    assert moon_booths and allowed == moon_booths
    assert "clerk" in _guards_of(desk, MOON)
    assert "clerk" not in _guards_of(desk, SITE)
    choices = booth_choices(desk, company_admin, clerk)
    assert {c.key.split("/")[0] for c in choices} == {MOON}
    # Narrowed to none, then the role taken back: no booth of that site keeps them.
    set_booths(desk, company_admin, clerk, StaffBooths((choices[0].key,)))
    take_site_role(desk, company_admin, clerk, MOON)
    assert "clerk" not in _guards_of(desk, MOON)
    with desk.sessions() as s:
        assert not list(s.scalars(select(staff_booths.c.booth_id).where(
            staff_booths.c.staff_id == clerk)))


def test_a_guard_given_another_role_at_a_site_leaves_its_booth_lists(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    roaming_guard = create_staff(desk, NewStaff("patrol", "p", Role.GUARD, PASSWORD))
    assert "patrol" in _guards_of(desk, MOON) and "patrol" in _guards_of(desk, SITE)
    give_site_role(desk, company_admin, roaming_guard, StaffSiteRoleInput(MOON, Role.CLERK))
    assert "patrol" not in _guards_of(desk, MOON)
    assert "patrol" in _guards_of(desk, SITE)


def test_a_lent_guard_made_a_guard_at_home_gets_its_own_sites_booths_too(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    clerk = staff.clerk.staff_id
    give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(MOON, Role.GUARD))
    assert "clerk" not in _guards_of(desk, SITE)
    change_role(desk, company_admin, clerk, NewRole(Role.GUARD))
    assert "clerk" in _guards_of(desk, SITE) and "clerk" in _guards_of(desk, MOON)


def _booth_sites(desk: Desk, staff_id: int) -> dict[str, int]:
    """How many booths of each site the account is allowed at."""
    with desk.sessions() as s:
        rows = s.execute(select(Site.code).join(Booth, Booth.site_id == Site.id).join(
            staff_booths, staff_booths.c.booth_id == Booth.id).where(
            staff_booths.c.staff_id == staff_id)).scalars().all()
    return {code: rows.count(code) for code in set(rows)}


def test_a_sites_own_admin_chooses_a_lent_guards_booths_at_that_site_only(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    """The home site's admin sees and narrows the guard's booths at home; the booths the
    company's office gave it at another compound are neither shown nor changed."""
    guard = staff.guard.staff_id
    give_site_role(desk, company_admin, guard, StaffSiteRoleInput(MOON, Role.GUARD))
    lent = _booth_sites(desk, guard)
    assert lent[MOON] >= 1 and lent[SITE] >= 1
    choices = booth_choices(desk, staff.admin, guard)
    assert {c.key.split("/")[0] for c in choices} == {SITE}
    with pytest.raises(InvalidInputError):
        set_booths(desk, staff.admin, guard, StaffBooths((f"{MOON}/east",)))
    set_booths(desk, staff.admin, guard, StaffBooths((choices[0].key,)))
    assert _booth_sites(desk, guard) == {SITE: 1, MOON: lent[MOON]}
    # The company's office sees both sites' booths.
    assert {c.key.split("/")[0] for c in booth_choices(desk, company_admin, guard)} == {
        SITE, MOON}


def test_a_lent_guard_given_another_role_there_leaves_its_booths(
        desk: Desk, staff: Staffs, company_admin: Actor) -> None:
    """As taking the role back does: made a guard there again, it gets every booth anew."""
    clerk = staff.clerk.staff_id
    give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(MOON, Role.GUARD))
    assert MOON in _booth_sites(desk, clerk)
    give_site_role(desk, company_admin, clerk, StaffSiteRoleInput(MOON, Role.FRONT_DESK_LEAD))
    assert _booth_sites(desk, clerk) == {}
