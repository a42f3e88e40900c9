"""An ID number shown at the desk is checked against the record without revealing it: a
clerk who sees ``440***********1234`` could otherwise guess the middle digits against
``POST /goods-passes`` (issue 9, "Abuse": right guess 201, wrong 422, 34 guesses a second).

Every failed check is written for the director to see; a few on one person, or by one staff
member, suspend further checks, and a suspended check is answered exactly as a mismatch —
even when the number is right."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from central.clock import FixedClock
from central.services.context import Desk

from ..conftest import application, owner_line, person
from ..helpers import documents
from .conftest import API, TestClient, login

Headers = dict[str, dict[str, str]]
WRONG = "440301198001019999"


def _goods_pass(client: TestClient, headers: dict[str, str], person_id: int,
                presented: str) -> Any:
    return client.post(f"{API}/goods-passes", headers=headers,
                       json={"person_id": person_id, "id_number_presented": presented})


def _answer(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.json()


def test_guessing_an_id_number_is_cut_off_and_reported(
        client: TestClient, desk: Desk, as_role: Headers, clock: FixedClock) -> None:
    clerk, director = as_role["clerk"], as_role["director"]
    wang = person(desk, "王建国")
    assert wang.id_number
    first = _answer(_goods_pass(client, clerk, wang.id, WRONG))
    assert first[0] == 422 and first[1]["rule"] == "G4"
    for guess in ("440301198001010000", "440301198001011111"):
        assert _answer(_goods_pass(client, clerk, wang.id, guess)) == first
    # Three misses on one person: checks of that person are suspended, the right number
    # included, and the answer is the same as for a wrong one — for every staff member.
    assert _answer(_goods_pass(client, clerk, wang.id, wang.id_number)) == first
    assert _answer(_goods_pass(client, as_role["front_desk_lead"], wang.id,
                               wang.id_number)) == first
    alarms = client.get(f"{API}/id-check-failures", headers=director)
    assert alarms.status_code == 200
    rows = alarms.json()
    assert len(rows) == 5
    assert {(r["staff"], r["person_name"], r["operation"]) for r in rows[2:]} == {
        ("clerk", "王建国", "issue_goods_pass")}
    assert [r["while_suspended"] for r in rows] == [True, True, False, False, False]
    assert wang.id_number not in alarms.text and WRONG not in alarms.text
    assert client.get(f"{API}/id-check-failures", headers=clerk).status_code == 403
    # The suspension ends a day after the misses, however often it was tried meanwhile.
    clock.advance(timedelta(hours=24, seconds=1))
    assert _goods_pass(client, login(client, "clerk"), wang.id,
                       wang.id_number).status_code == 201


def test_one_staff_members_misses_on_many_people_suspend_their_checks(
        client: TestClient, desk: Desk, as_role: Headers) -> None:
    clerk = as_role["clerk"]
    people = [person(desk, name) for name in ("王建国", "张丽", "王小明", "李明", "王芳")]
    for p in people:
        assert _goods_pass(client, clerk, p.id, WRONG).status_code == 422
    wang = people[0]
    assert wang.id_number
    suspended = _answer(_goods_pass(client, clerk, wang.id, wang.id_number))
    assert suspended[0] == 422
    # Another member of staff, with no misses of their own, checks 王建国 as usual.
    assert _goods_pass(client, as_role["front_desk_lead"], wang.id,
                       wang.id_number).status_code == 201


def test_every_id_check_of_the_desk_counts(client: TestClient, desk: Desk,
                                           as_role: Headers) -> None:
    """Resident cards (H1), monthly parking (P1) and goods passes (G4) compare a presented
    ID number with the record: a miss in any of them counts towards the same limit."""
    clerk = as_role["clerk"]
    wang = person(desk, "王建国")
    assert wang.id_number
    card = client.post(f"{API}/cards/resident", headers=clerk, json=application(
        desk, "王建国", [owner_line(desk, "0A0A0A0A", "王建国", id_number_presented=WRONG)]))
    assert (card.status_code, card.json()["rule"]) == (422, "H1"), card.text
    parking = client.post(f"{API}/parking/subscriptions", headers=clerk, json={
        "holder_person_id": wang.id, "plate": "粤B 12345", "existing_uid": "04A1B2C3",
        "documents": documents(desk, "王建国", id_number_presented=WRONG)})
    assert (parking.status_code, parking.json()["rule"]) == (422, "P1"), parking.text
    assert card.json()["message_en"] == parking.json()["message_en"]
    assert _goods_pass(client, clerk, wang.id, WRONG).status_code == 422
    assert _goods_pass(client, clerk, wang.id, wang.id_number).status_code == 422
    operations = [r["operation"] for r in client.get(
        f"{API}/id-check-failures", headers=as_role["director"]).json()]
    assert operations == ["issue_goods_pass", "issue_goods_pass", "apply_parking",
                          "issue_resident_cards"]
