"""Staff accounts: argon2id hashes, throttled failed logins, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from central.api.sessions import open_session
from central.clock import FixedClock, utc_now
from central.models import LoginAttempt, Role, Staff
from central.refusals import (
    ConflictError,
    InvalidInputError,
    LoginFailedError,
    LoginThrottledError,
    NotFoundError,
    PermissionDeniedError,
)
from central.services.card_changes import card_summary
from central.services.context import Actor, Desk
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.sites import sites_served
from central.services.staff import (
    NewStaff,
    create_staff,
    last_logins,
    login,
    managed_account,
)

from .conftest import PASSWORD, SITE, Staffs, application, load_second_site, owner_line


def test_password_stored_as_argon2id_hash(desk: Desk, staff: Staffs) -> None:
    with desk.sessions() as s:
        account = s.scalars(select(Staff).where(Staff.username == "clerk")).one()
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    who = login(desk, "Clerk ", PASSWORD)
    assert (who.username, who.role, who.site) == ("clerk", Role.CLERK, SITE)


def test_wrong_password_and_unknown_user_fail_alike(desk: Desk, staff: Staffs) -> None:
    with pytest.raises(LoginFailedError) as wrong:
        login(desk, "clerk", "not the password")
    with pytest.raises(LoginFailedError) as unknown:
        login(desk, "nobody", PASSWORD)
    assert wrong.value.message_en == unknown.value.message_en
    assert wrong.value.http_status == 401


def test_five_failures_in_fifteen_minutes_make_the_account_wait(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    for _ in range(5):
        with pytest.raises(LoginFailedError):
            login(desk, "clerk", "guess", remote="10.0.0.9")
        clock.advance(timedelta(minutes=1))
    # Now even the right password waits at that address, with a clear message.
    with pytest.raises(LoginThrottledError) as throttled:
        login(desk, "clerk", PASSWORD, remote="10.0.0.9")
    assert throttled.value.http_status == 429
    assert throttled.value.retry_after_s == 10 * 60  # until the first failure is 15 min old
    assert "try again in 10 minute(s)" in throttled.value.message_en
    assert "请 10 分钟后再试" in throttled.value.message_zh
    # Waiting while throttled does not extend the wait.
    clock.advance(timedelta(minutes=10, seconds=1))
    who = login(desk, "clerk", PASSWORD, remote="10.0.0.9")
    assert who.username == "clerk"
    with desk.sessions() as s:
        attempts = list(s.scalars(select(LoginAttempt).order_by(LoginAttempt.id)))
    # The throttled attempt is not written (a flood of them writes nothing).
    assert [(a.succeeded, a.throttled) for a in attempts] == [(False, False)] * 5 + [
        (True, False)]
    assert attempts[0].remote == "10.0.0.9"


def test_a_success_resets_the_count_and_old_failures_expire(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    for _ in range(4):
        with pytest.raises(LoginFailedError):
            login(desk, "clerk", "guess")
    login(desk, "clerk", PASSWORD)
    for _ in range(4):
        with pytest.raises(LoginFailedError):
            login(desk, "clerk", "guess")
    clock.advance(timedelta(minutes=16))
    for _ in range(4):
        with pytest.raises(LoginFailedError):
            login(desk, "clerk", "guess")
    login(desk, "clerk", PASSWORD)


def test_unknown_names_are_throttled_too(desk: Desk, staff: Staffs) -> None:
    for _ in range(5):
        with pytest.raises(LoginFailedError):
            login(desk, "ghost", "x")
    with pytest.raises(LoginThrottledError):
        login(desk, "ghost", "x")


def test_disabled_account_cannot_log_in_or_act(desk: Desk, staff: Staffs) -> None:
    with desk.sessions.begin() as s:
        s.scalars(select(Staff).where(Staff.username == "clerk")).one().active = False
    with pytest.raises(LoginFailedError):
        login(desk, "clerk", PASSWORD)
    with pytest.raises(PermissionDeniedError):
        card_summary(desk, staff.clerk, "04A1B2C3")


def test_new_staff_validation(desk: Desk, staff: Staffs) -> None:
    with pytest.raises(InvalidInputError) as invalid:
        NewStaff.from_form({"username": "Bad Name!", "role": "boss", "password": "short"})
    assert {e.field for e in invalid.value.errors} == {"username", "role", "password"}
    with pytest.raises(ConflictError):
        create_staff(desk, NewStaff("clerk", "again", Role.CLERK, PASSWORD))
    # Through the service with an actor: admins only.
    with pytest.raises(PermissionDeniedError):
        create_staff(desk, NewStaff("new-one", "n", Role.CLERK, PASSWORD), staff.front_desk_lead)
    create_staff(desk, NewStaff("new-one", "n", Role.CLERK, PASSWORD, SITE), staff.admin)


def test_roles_guard_desk_work(desk: Desk, staff: Staffs) -> None:
    form = IssueResidentCards.from_form(application(desk, "王建国",
                                                    [owner_line(desk, "04A1B2C3", "王建国")]))
    for actor in (staff.guard, staff.admin):
        with pytest.raises(PermissionDeniedError) as denied:
            issue_resident_cards(desk, actor, form)
        assert denied.value.http_status == 403
    # A company-wide account chooses the site per request.
    roaming = create_staff(desk, NewStaff("roaming", "r", Role.CLERK, PASSWORD))
    issue_resident_cards(desk, Actor(roaming, SITE), form)


def test_an_admin_reads_only_accounts_of_their_site(desk: Desk, staff: Staffs) -> None:
    load_second_site(desk)
    elsewhere = create_staff(desk, NewStaff("moon-clerk", "m", Role.CLERK, PASSWORD,
                                            "moonlight-court"))
    company_admin = Actor(create_staff(desk, NewStaff("boss", "b", Role.ADMIN, PASSWORD)),
                          SITE)
    assert managed_account(desk, staff.admin, staff.clerk.staff_id).username == "clerk"
    with pytest.raises(NotFoundError):
        managed_account(desk, staff.admin, elsewhere)
    assert managed_account(desk, company_admin, elsewhere).site is not None
    with pytest.raises(PermissionDeniedError):
        managed_account(desk, staff.director, staff.clerk.staff_id)


def test_last_logins_by_account_within_the_admins_site(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    load_second_site(desk)
    create_staff(desk, NewStaff("moon-clerk", "m", Role.CLERK, PASSWORD, "moonlight-court"))
    open_session(desk, staff.clerk.staff_id, timedelta(hours=8))
    clock.advance(timedelta(hours=2))
    open_session(desk, staff.clerk.staff_id, timedelta(hours=8))
    moon = login(desk, "moon-clerk", PASSWORD)
    open_session(desk, moon.staff_id, timedelta(hours=8))
    assert last_logins(desk, staff.admin) == {staff.clerk.staff_id: utc_now(clock)}
    company_admin = Actor(create_staff(desk, NewStaff("boss", "b", Role.ADMIN, PASSWORD)),
                          SITE)
    assert set(last_logins(desk, company_admin)) == {staff.clerk.staff_id, moon.staff_id}


def test_sites_served_by_a_site_account_and_a_company_wide_one(desk: Desk) -> None:
    load_second_site(desk)
    assert [s.code for s in sites_served(desk, SITE)] == [SITE]
    every = sites_served(desk, None)
    assert [(s.code, s.name) for s in every] == [("moonlight-court", "月光苑"),
                                                (SITE, "阳光花园")]
    assert every[0].timezone == "Asia/Shanghai"
