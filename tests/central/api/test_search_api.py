"""``GET /search``: the search box over HTTP — typed hits with their links, the desk
reader's decimal read in the site's byte order, limits and bad input answered 422, only
the desk's roles, and nothing in the answer a clerk may not see (G5)."""

from __future__ import annotations

from sqlalchemy import select

from central.models import Card, CardState, HolderKind, Person
from central.services.context import Desk

from ..conftest import NOW, household_of, person
from .conftest import API, TestClient, errors_by_field

Headers = dict[str, dict[str, str]]


def _card(desk: Desk, uid: str, holder: str) -> None:
    with desk.write_sessions() as s, s.begin():
        owner = s.scalars(select(Person).where(Person.name == holder)).one()
        s.add(Card(site_id=owner.site_id, uid=uid, state=CardState.ACTIVE,
                   holder_person_id=owner.id, holder_kind=HolderKind.OWNER,
                   created_at=NOW, updated_at=NOW))


def test_one_box_finds_a_unit_a_person_and_a_card(client: TestClient, desk: Desk,
                                                  as_role: Headers) -> None:
    clerk = as_role["clerk"]
    unit = client.get(f"{API}/search", params={"q": "1栋1201"}, headers=clerk)
    assert unit.status_code == 200, unit.text
    body = unit.json()
    assert body["q"] == "1栋1201"
    first = body["hits"][0]
    assert {k: first[k] for k in ("kind", "match", "matched_on", "unit", "members")} == {
        "kind": "household", "match": "exact", "matched_on": "unit", "unit": "1-1201",
        "members": ["王建国", "张丽", "王小明"]}
    assert first["link"] == {"kind": "household",
                             "target": str(household_of(desk, "王建国"))}
    people = client.get(f"{API}/search", params={"q": "0002"}, headers=clerk).json()["hits"]
    assert [(h["kind"], h["name"], h["match"], h["phone"]) for h in people] == [
        ("person", "王建国", "last_digits", "138****0002")]
    assert people[0]["link"] == {"kind": "person", "target": str(person(desk, "王建国").id)}
    _card(desk, "04A1B2C3", "王建国")
    # The site's reader is lsb_first (the default): 04A1B2C3 typed as 3283263748.
    card = client.get(f"{API}/search", params={"q": "3283263748"},
                      headers=clerk).json()["hits"][0]
    assert {k: card[k] for k in ("kind", "uid", "state", "holder_name", "matched_on")} == {
        "kind": "card", "uid": "04A1B2C3", "state": "active", "holder_name": "王建国",
        "matched_on": "reader_decimal"}
    assert card["link"] == {"kind": "card", "target": "04A1B2C3"}


def test_nothing_private_in_the_answer(client: TestClient, as_role: Headers) -> None:
    answer = client.get(f"{API}/search", params={"q": "王建国"}, headers=as_role["director"])
    assert answer.status_code == 200
    assert "13800000002" not in answer.text and "440301197503033456" not in answer.text
    by_id = client.get(f"{API}/search", params={"q": "440301197503033456"},
                       headers=as_role["clerk"])
    assert by_id.json()["hits"] == []


def test_limits_and_bad_input(client: TestClient, as_role: Headers) -> None:
    clerk = as_role["clerk"]
    assert len(client.get(f"{API}/search", params={"q": "1", "limit": "2"},
                          headers=clerk).json()["hits"]) == 2
    assert client.get(f"{API}/search", headers=clerk).json() == {"q": "", "hits": []}
    assert client.get(f"{API}/search", params={"q": "  "}, headers=clerk).json()["hits"] == []
    for limit in ("0", "51", "many"):
        refused = client.get(f"{API}/search", params={"q": "1", "limit": limit}, headers=clerk)
        assert refused.status_code == 422 and set(errors_by_field(refused.json())) == {
            "limit"}, limit
    long = client.get(f"{API}/search", params={"q": "1" * 65}, headers=clerk)
    assert long.status_code == 422 and set(errors_by_field(long.json())) == {"q"}
    typo = client.get(f"{API}/search", params={"query": "1"}, headers=clerk)
    assert typo.status_code == 422 and set(errors_by_field(typo.json())) == {"query"}


def test_only_the_desk_searches(client: TestClient, as_role: Headers) -> None:
    for role in ("guard", "admin"):
        refused = client.get(f"{API}/search", params={"q": "王"}, headers=as_role[role])
        assert refused.status_code == 403 and refused.json()["error"] == "permission"
    assert client.get(f"{API}/search", params={"q": "王"}).status_code == 401
