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
