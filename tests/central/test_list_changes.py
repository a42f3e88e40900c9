"""A desk transaction that changes what a site's booth lists or rules are built from tells
that site's hub, and only then (central/list_changes.py): a company's hubs rebuild a site's
lists when told, not every few seconds for every site. On PostgreSQL another desk worker's
commit is told through a notification; a plain Session stands for that worker here, since
this process's own commit hook does not see it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.list_changes import ListChangeWatch
from central.models import Booth, Holiday, Person, Site
from central.models.people import HolderKind
from central.models.staff import Role
from central.services.booth_list import booth_lists
from central.services.context import Actor, Desk, action
from central.services.gate_record import append_entry
from central.services.site_rules import AddHoliday, add_holiday, site_rules_payloads
from central.services.staff import (
    NewPassword,
    NewStaff,
    StaffBooths,
    StaffSiteRoleInput,
    create_staff,
    deactivate_staff,
    give_site_role,
    reset_password,
    set_booths,
    take_site_role,
)
from edge.site_rules import DayKind

from .conftest import NOW, PASSWORD, SITE, Staffs, load_second_site

OTHER = "moonlight-court"


class Told:
    """The sites whose hubs were told, in order."""

    def __init__(self) -> None:
        self.sites: list[str] = []
        self._lock = threading.Lock()

    def hub(self, site: str) -> Callable[[], None]:
        def tell() -> None:
            with self._lock:
                self.sites.append(site)
        return tell

    def soon(self, expected: set[str], timeout: float = 5.0) -> set[str]:
        """The sites told once ``expected`` were (or ``timeout`` passed), and a moment
        more, for a notification that should not come."""
        deadline = time.monotonic() + timeout
        while not expected <= set(self.sites) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        with self._lock:
            return set(self.sites)


@pytest.fixture
def told(desk: Desk) -> Iterator[Told]:
    load_second_site(desk)
    told = Told()
    watch = ListChangeWatch(desk.engine, {SITE: told.hub(SITE), OTHER: told.hub(OTHER)})
    watch.start()
    time.sleep(0.3)  # listening (PostgreSQL), and its first tell of every site is over
    told.sites.clear()
    yield told
    watch.stop()


def test_a_change_of_a_sites_rules_or_booths_tells_its_hub_only(
        desk: Desk, staff: Staffs, told: Told) -> None:
    told.sites.clear()  # the staff accounts of the fixture are the example site's
    add_holiday(desk, staff.director, AddHoliday.from_form({
        "day": "2026-10-01", "kind": "holiday", "note": "国庆节"}))
    assert told.soon({SITE}) == {SITE}
    told.sites.clear()
    with action(desk) as act:
        site_id = act.session.scalars(select(Site.id).where(Site.code == OTHER)).one()
        booth = act.session.scalars(select(Booth).where(Booth.site_id == site_id)).first()
        assert booth is not None
        booth.name = "东门岗（新）"
    assert told.soon({OTHER}) == {OTHER}


def test_an_account_of_every_site_tells_every_hub(desk: Desk, told: Told) -> None:
    create_staff(desk, NewStaff("company-admin", "公司管理员", Role.ADMIN, PASSWORD, None))
    assert told.soon({SITE, OTHER}) == {SITE, OTHER}


def test_reading_or_writing_something_else_tells_no_hub(desk: Desk, told: Told) -> None:
    booth_lists(desk, SITE)
    site_rules_payloads(desk, NOW)
    with action(desk) as act:  # a card's change for the gates: not in a booth list
        site = act.session.scalars(select(Site).where(Site.code == SITE)
                                   .with_for_update()).one()
        append_entry(act.session, site, "04A1B2C3", '{"uid": "04A1B2C3"}', NOW)
    assert told.soon(set(), timeout=0.5) == set()


def test_a_rolled_back_change_tells_no_hub(desk: Desk, told: Told) -> None:
    with pytest.raises(RuntimeError), action(desk) as act:
        site_id = act.session.scalars(select(Site.id).where(Site.code == SITE)).one()
        act.session.add(Holiday(site_id=site_id, day=NOW.date(), kind=DayKind.HOLIDAY, note=""))
        act.session.flush()
        raise RuntimeError("the clerk's action fails after writing")
    assert told.soon(set(), timeout=0.5) == set()


def test_a_change_committed_by_another_desk_worker_is_told_through_postgresql(
        desk: Desk, told: Told) -> None:
    if desk.engine.dialect.name != "postgresql":
        pytest.skip("one SQLite desk process: its own commits tell its hubs (tests above)")
    with Session(desk.engine) as other, other.begin():
        site_id = other.scalars(select(Site.id).where(Site.code == OTHER)).one()
        other.add(Holiday(site_id=site_id, day=NOW.date(), kind=DayKind.HOLIDAY, note=""))
    assert told.soon({OTHER}) == {OTHER}


def test_a_new_resident_tells_no_hub_until_a_pass_names_them(desk: Desk, told: Told) -> None:
    """Issuing a card to a new resident adds a person (and may add a household): no list
    names them yet, so no hub is told; a pass naming them is noted itself."""
    with action(desk) as act:
        site_id = act.session.scalars(select(Site.id).where(Site.code == SITE)).one()
        act.session.add(Person(site_id=site_id, name="王小二", holder_kind=HolderKind.OWNER,
                               created_at=NOW))
    assert told.soon(set(), timeout=0.5) == set()
    with action(desk) as act:
        person = act.session.scalars(select(Person).where(Person.name == "王小二")).one()
        person.name = "王晓二"  # as a pass of theirs shows it
    assert told.soon({SITE}) == {SITE}


def test_a_commit_tells_its_sites_hub_once(desk: Desk, staff: Staffs, told: Told) -> None:
    """On PostgreSQL the worker hears its own commits through the notification, as every
    other worker's: telling them directly as well rebuilt each changed list twice."""
    told.sites.clear()  # the staff accounts of the fixture are the example site's
    add_holiday(desk, staff.director, AddHoliday.from_form({
        "day": "2026-10-01", "kind": "holiday", "note": "国庆节"}))
    assert told.soon({SITE}) == {SITE}
    assert told.sites.count(SITE) == 1


def test_a_guards_booths_and_roles_at_other_sites_tell_those_sites_hubs(
        desk: Desk, staff: Staffs, told: Told) -> None:
    """A booth's list carries its guards: narrowing a guard's booths (a plain table, no
    watched row) and giving or taking a role at another site tell the sites concerned."""
    company = create_staff(desk, NewStaff("head-office", "h", Role.ADMIN, PASSWORD, None))
    told.soon({SITE, OTHER})
    told.sites.clear()
    set_booths(desk, Actor(company, SITE), staff.guard.staff_id, StaffBooths(()))
    assert told.soon({SITE}) == {SITE}
    told.sites.clear()
    give_site_role(desk, Actor(company, SITE), staff.guard.staff_id,
                   StaffSiteRoleInput(OTHER, Role.GUARD))
    assert told.soon({OTHER}) == {OTHER}
    told.sites.clear()
    take_site_role(desk, Actor(company, SITE), staff.guard.staff_id, OTHER)
    assert told.soon({OTHER}) == {OTHER}


def test_a_lent_guards_password_and_deactivation_tell_the_sites_it_was_lent_to(
        desk: Desk, staff: Staffs, told: Told) -> None:
    """The other site's booths carry a lent guard's password hash and whether it is active:
    its own site's admin resetting the one or ending the account tells that site too, so
    the old password or the ended account stops working at its booths with the next list,
    not a minute later."""
    company = create_staff(desk, NewStaff("head-office", "h", Role.ADMIN, PASSWORD, None))
    give_site_role(desk, Actor(company, SITE), staff.guard.staff_id,
                   StaffSiteRoleInput(OTHER, Role.GUARD))
    told.soon({SITE, OTHER})
    told.sites.clear()
    reset_password(desk, staff.admin, staff.guard.staff_id, NewPassword("another-secret-pw"))
    assert told.soon({SITE, OTHER}) == {SITE, OTHER}
    told.sites.clear()
    deactivate_staff(desk, staff.admin, staff.guard.staff_id)
    assert told.soon({SITE, OTHER}) == {SITE, OTHER}
