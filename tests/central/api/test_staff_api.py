"""Staff accounts over HTTP, scoped to the admin's own site: a site's admin neither sees nor
touches another site's accounts nor makes company-wide ones (issue 9, "Abuse": a site-bound
admin had made a director elsewhere and a company-wide admin)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from central.models import Role, Staff
from central.services.context import Desk
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file

from ..conftest import EXAMPLES, SITE, row_counts
from .conftest import API, TestClient

Headers = dict[str, dict[str, str]]
OTHER = "moon-bay"
NEW_PASSWORD = "a new long password"


@pytest.fixture
def other_site(desk: Desk, tmp_path: Path) -> dict[str, int]:
    """A second site with a clerk of its own, and a company-wide admin; their ids."""
    text = (EXAMPLES / "site.toml").read_text("utf-8").replace(
        f'code = "{SITE}"', f'code = "{OTHER}"')
    path = tmp_path / "moon-bay.toml"
    path.write_text(text, "utf-8")
    load_site(desk, read_site_file(path))
    return {"moon-clerk": create_staff(desk, NewStaff("moon-clerk", "moon-clerk", Role.CLERK,
                                                      "moon clerk password", OTHER)),
            "hq-admin": create_staff(desk, NewStaff("hq-admin", "hq-admin", Role.ADMIN,
                                                    "hq admin password"))}


def _login(client: TestClient, name: str, password: str) -> dict[str, str]:
    response = client.post(f"{API}/login", json={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_a_site_admin_cannot_create_staff_elsewhere_or_company_wide(
        client: TestClient, desk: Desk, as_role: Headers, other_site: dict[str, int]) -> None:
    admin = as_role["admin"]
    before = row_counts(desk)
    elsewhere = client.post(f"{API}/staff", headers=admin, json={
        "username": "moon-director", "role": "director", "password": "long enough 123",
        "site": OTHER})
    assert (elsewhere.status_code, elsewhere.json()["field"]) == (404, "site")
    for role in ("admin", "director"):
        everywhere = client.post(f"{API}/staff", headers=admin, json={
            "username": f"hq-{role}-2", "role": role, "password": "long enough 123"})
        assert (everywhere.status_code, everywhere.json()["error"]) == (403, "permission")
    assert row_counts(desk) == before
    here = client.post(f"{API}/staff", headers=admin, json={
        "username": "new-clerk", "role": "clerk", "password": "long enough 123",
        "site": SITE})
    assert (here.status_code, here.json()["site"]) == (201, SITE)


def test_a_site_admin_neither_sees_nor_changes_other_sites_accounts(
        client: TestClient, desk: Desk, as_role: Headers, other_site: dict[str, int]) -> None:
    admin = as_role["admin"]
    listed = {s["username"] for s in client.get(f"{API}/staff", headers=admin).json()}
    assert "moon-clerk" not in listed and "hq-admin" not in listed and "clerk" in listed
    moon = _login(client, "moon-clerk", "moon clerk password")
    for target in other_site.values():
        for method, path, body in (
                ("PUT", f"/staff/{target}/role", {"role": "director"}),
                ("POST", f"/staff/{target}/password", {"password": NEW_PASSWORD}),
                ("POST", f"/staff/{target}/deactivate", None)):
            answer = client.request(method, API + path, json=body, headers=admin)
            assert answer.status_code == 404, (path, answer.text)
    with desk.sessions() as s:
        untouched = s.get(Staff, other_site["moon-clerk"])
        assert untouched is not None
        assert (untouched.role, untouched.active) == (Role.CLERK, True)
    assert client.get(f"{API}/me", headers=moon).status_code == 200
    _login(client, "hq-admin", "hq admin password")


def test_a_site_admin_changes_roles_and_resets_passwords_at_its_site(
        client: TestClient, desk: Desk, as_role: Headers, staff: object) -> None:
    admin = as_role["admin"]
    with desk.sessions() as s:
        clerk_id = s.scalars(select(Staff.id).where(Staff.username == "clerk")).one()
        admin_id = s.scalars(select(Staff.id).where(Staff.username == "admin")).one()
    promoted = client.put(f"{API}/staff/{clerk_id}/role", headers=admin,
                          json={"role": "front_desk_lead"})
    assert (promoted.status_code, promoted.json()["role"]) == (200, "front_desk_lead")
    assert client.get(f"{API}/me", headers=as_role["clerk"]).json()["staff"]["role"] == \
        "front_desk_lead"
    reset = client.post(f"{API}/staff/{clerk_id}/password", headers=admin,
                        json={"password": NEW_PASSWORD})
    assert reset.status_code == 200
    assert client.get(f"{API}/me", headers=as_role["clerk"]).status_code == 401
    _login(client, "clerk", NEW_PASSWORD)
    own = client.put(f"{API}/staff/{admin_id}/role", headers=admin, json={"role": "director"})
    assert own.status_code == 409
    short = client.post(f"{API}/staff/{clerk_id}/password", headers=admin,
                        json={"password": "short"})
    assert short.status_code == 422


def test_only_a_company_admin_makes_company_wide_accounts(
        client: TestClient, desk: Desk, other_site: dict[str, int]) -> None:
    hq = {**_login(client, "hq-admin", "hq admin password"), "X-Menwei-Site": SITE}
    made = client.post(f"{API}/staff", headers=hq, json={
        "username": "hq-admin-2", "role": "admin", "password": "long enough 123"})
    assert (made.status_code, made.json()["site"]) == (201, None)
    moon = client.post(f"{API}/staff", headers=hq, json={
        "username": "moon-director", "role": "director", "password": "long enough 123",
        "site": OTHER})
    assert (moon.status_code, moon.json()["site"]) == (201, OTHER)
    listed = {s["username"] for s in client.get(f"{API}/staff", headers=hq).json()}
    assert {"moon-clerk", "clerk", "hq-admin-2", "moon-director"} <= listed
    moved = client.put(f"{API}/staff/{other_site['moon-clerk']}/role", headers=hq,
                       json={"role": "guard"})
    assert (moved.status_code, moved.json()["role"]) == (200, "guard")


def test_a_role_given_at_another_site_is_the_callers_role_there(
        client: TestClient, as_role: Headers, other_site: dict[str, int]) -> None:
    hq = {**_login(client, "hq-admin", "hq admin password"), "X-Menwei-Site": SITE}
    clerk = as_role["clerk"]
    clerk_id = client.get(f"{API}/me", headers=clerk).json()["staff"]["id"]
    at_moon = {**clerk, "X-Menwei-Site": OTHER}
    not_theirs = client.get(f"{API}/households", headers=at_moon)
    assert not_theirs.status_code == 403
    assert "does not serve that site" in not_theirs.json()["message_en"]
    # Refused so before any role is weighed, and nothing is said of what it may do there.
    for path in ("/staff", "/me"):
        refused = client.get(f"{API}{path}", headers=at_moon)
        assert (refused.status_code, refused.json()["message_en"]) == (
            403, "this account does not serve that site"), path
    # Lent to the other site's gate as a guard: a guard there, a clerk at home.
    given = client.put(f"{API}/staff/{clerk_id}/site-roles/{OTHER}", headers=hq,
                       json={"role": "guard"})
    assert (given.status_code, given.json()["site_roles"]) == (200, {OTHER: "guard"})
    me = client.get(f"{API}/me", headers=clerk).json()
    assert (me["staff"]["role"], me["staff"]["site_roles"]) == ("clerk", {OTHER: "guard"})
    assert "list_households" in me["allowed_operations"]
    there = client.get(f"{API}/me", headers=at_moon).json()["allowed_operations"]
    assert "list_households" not in there and "list_visitors" in there
    as_guard = client.get(f"{API}/households", headers=at_moon)
    assert as_guard.status_code == 403
    assert as_guard.json()["message_en"].startswith("a guard may not")
    assert client.get(f"{API}/households", headers=clerk).status_code == 200
    assert client.get(f"{API}/visitors", headers=at_moon).status_code == 200
    # Given again, as a lead: replaced.
    lead = client.put(f"{API}/staff/{clerk_id}/site-roles/{OTHER}", headers=hq,
                      json={"role": "front_desk_lead"})
    assert lead.json()["site_roles"] == {OTHER: "front_desk_lead"}
    assert client.get(f"{API}/households", headers=at_moon).status_code == 200
    # Only the company's admin gives such roles; a site's admin is refused, a typo is a 422.
    site_admin = client.put(f"{API}/staff/{clerk_id}/site-roles/{OTHER}",
                            headers=as_role["admin"], json={"role": "guard"})
    assert site_admin.status_code == 403
    typo = client.put(f"{API}/staff/{clerk_id}/site-roles/{OTHER}", headers=hq,
                      json={"role": "boss"})
    assert (typo.status_code, typo.json()["errors"][0]["field"]) == (422, "role")
    # A site's admin is an account of that site: not a role lent to another's account.
    admin_there = client.put(f"{API}/staff/{clerk_id}/site-roles/{OTHER}", headers=hq,
                             json={"role": "admin"})
    assert (admin_there.status_code, admin_there.json()["field"]) == (409, "role")
    taken = client.delete(f"{API}/staff/{clerk_id}/site-roles/{OTHER}", headers=hq)
    assert (taken.status_code, taken.json()["site_roles"]) == (200, {})
    gone = client.get(f"{API}/households", headers=at_moon)
    assert "does not serve that site" in gone.json()["message_en"]
    again = client.delete(f"{API}/staff/{clerk_id}/site-roles/{OTHER}", headers=hq)
    assert again.status_code == 404
