"""The site, households and people (ID numbers never shown whole), and staff accounts."""

from __future__ import annotations

from sqlalchemy import select

from central.models import Role, Staff
from central.services.context import Desk
from central.services.staff import NewStaff, create_staff

from ..conftest import SITE, household_of, person, row_counts
from .conftest import API, TestClient, errors_by_field

Headers = dict[str, dict[str, str]]


def test_site_structure(client: TestClient, as_role: Headers) -> None:
    site = client.get(f"{API}/site", headers=as_role["guard"]).json()
    assert (site["code"], site["timezone"]) == (SITE, "Asia/Shanghai")
    assert [g["code"] for g in site["gates"]] == ["b1-lobby", "b2-lobby", "carpark-in",
                                                   "carpark-out", "main-gate"]
    building = next(b for b in site["buildings"] if b["code"] == "1")
    assert building["default_access_groups"] == ["b1", "common"]
    assert [(u["label"], u["area_m2"]) for u in building["units"]] == [
        ("1-101", "89.50"), ("1-1201", "128.50"), ("1-1202", "145.00")]


def test_households_and_people_never_show_id_numbers(client: TestClient, desk: Desk,
                                                     as_role: Headers) -> None:
    clerk = as_role["clerk"]
    household = household_of(desk, "王建国")
    found = client.get(f"{API}/households?building=1&unit=1201", headers=clerk).json()
    assert [h["id"] for h in found] == [household]
    assert [m["name"] for m in found[0]["members"]] == ["王建国", "张丽", "王小明"]
    detail = client.get(f"{API}/households/{household}", headers=clerk)
    assert detail.status_code == 200
    text = detail.text
    assert "440301197503033456" not in text
    assert detail.json()["members"][0]["id_number"] == "440***********3456"
    # The director answers for the records and sees them whole (central/services/privacy.py).
    whole = client.get(f"{API}/households/{household}", headers=as_role["director"]).json()
    assert whole["members"][0]["id_number"] == "440301197503033456"
    assert detail.json()["cards"] == [] and detail.json()["unpaid_fees"] == []
    people = client.get(f"{API}/people?name=王&holder_kind=family", headers=clerk).json()
    assert [p["name"] for p in people] == ["王芳", "王小明"]
    one = client.get(f"{API}/people/{person(desk, '周静').id}", headers=clerk).json()
    assert (one["holder_kind"], one["organisation"]) == ("merchant", "好邻居便利店")
    assert client.get(f"{API}/people/999999", headers=clerk).status_code == 404
    assert client.get(f"{API}/households/0", headers=clerk).status_code == 422
    assert client.get(f"{API}/people", headers=as_role["guard"]).status_code == 403


def test_admin_manages_accounts(client: TestClient, desk: Desk, as_role: Headers) -> None:
    admin = as_role["admin"]
    listed = client.get(f"{API}/staff", headers=admin).json()
    assert {s["username"] for s in listed} >= {"clerk", "admin", "director"}
    assert "password" not in client.get(f"{API}/staff", headers=admin).text
    short = client.post(f"{API}/staff", json={"username": "New Clerk", "role": "janitor",
                                              "password": "short"}, headers=admin)
    assert set(errors_by_field(short.json())) == {"username", "role", "password"}
    before = row_counts(desk)
    taken = client.post(f"{API}/staff", json={"username": "clerk", "role": "clerk",
                                              "password": "long enough 123", "site": SITE},
                        headers=admin)
    assert (taken.status_code, taken.json()["field"]) == (409, "username")
    assert row_counts(desk) == before
    made = client.post(f"{API}/staff", json={"username": "clerk2", "role": "clerk",
                                             "password": "long enough 123", "site": SITE},
                       headers=admin)
    assert made.status_code == 201
    with desk.sessions() as s:
        stored = s.scalars(select(Staff).where(Staff.username == "clerk2")).one()
    assert stored.password_hash.startswith("$argon2id$")
    login = client.post(f"{API}/login", json={"username": "clerk2",
                                              "password": "long enough 123"})
    assert login.status_code == 200
    me = client.get(f"{API}/me", headers=admin).json()["staff"]["id"]
    self_off = client.post(f"{API}/staff/{me}/deactivate", headers=admin)
    assert self_off.status_code == 409
    assert client.post(f"{API}/staff", json={}, headers=as_role["director"]).status_code == 403


def test_a_company_wide_account_names_its_site(client: TestClient, desk: Desk,
                                               as_role: Headers) -> None:
    # Only a company-wide admin (here: the command line) makes a company-wide account.
    create_staff(desk, NewStaff("hq-director", "hq-director", Role.DIRECTOR,
                                "long enough 123"))
    token = client.post(f"{API}/login", json={"username": "hq-director",
                                              "password": "long enough 123"}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    unnamed = client.get(f"{API}/site", headers=headers)
    assert errors_by_field(unnamed.json()) == {
        "X-Menwei-Site": "this account serves every site: name one in the X-Menwei-Site header"}
    named = client.get(f"{API}/site", headers={**headers, "X-Menwei-Site": SITE})
    assert named.json()["code"] == SITE
    elsewhere = client.get(f"{API}/site", headers={**headers, "X-Menwei-Site": "nowhere"})
    assert elsewhere.status_code == 404
    # A site-bound account cannot reach past its site.
    other = client.get(f"{API}/site", headers={**as_role["clerk"], "X-Menwei-Site": "nowhere"})
    assert other.status_code in (403, 404)
