"""Visitors (H7, G5) and goods release (G4) over HTTP: passes and parking permits, the
visitor register with ID numbers masked per role, release slips from the desk to the exit
and the filing, long-term goods passes — each refusal with its rule and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from central.clock import FixedClock
from central.services.context import Desk

from ..conftest import household_of, person, row_counts
from .conftest import API, ROLES, TestClient, errors_by_field, login

Headers = dict[str, dict[str, str]]
VISITOR_ID = "440301199001011234"
MASKED = "440***********1234"


def refused(response: Any, status: int, rule: str, desk: Desk, before: dict[str, int]) -> str:
    """The refused field, after checking status, rule and that nothing was written."""
    assert response.status_code == status, response.text
    assert response.json()["rule"] == rule, response.text
    assert response.json()["message_zh"] and response.json()["message_en"]
    assert row_counts(desk) == before
    field: str = response.json()["field"]
    return field


def test_visitor_pass_and_parking_permit(client: TestClient, desk: Desk,
                                         as_role: Headers) -> None:
    wang = person(desk, "王建国").id
    form = {"visitor": {"name": "访客 刘", "id_number": VISITOR_ID},
            "valid_from": "2026-06-09", "valid_until": "2026-06-11",
            "invited_by_person_id": wang}
    before = row_counts(desk)
    four_days = client.post(f"{API}/visitor-passes", json={**form, "valid_until": "2026-06-12"},
                            headers=as_role["guard"])
    assert refused(four_days, 422, "H7", desk, before) == "valid_until"
    unconfirmed = client.post(f"{API}/visitor-passes", json=form, headers=as_role["guard"])
    assert refused(unconfirmed, 422, "H7", desk, before) == "confirmation"
    confirmed = {**form, "confirmation": {"person_id": wang, "method": "phone",
                                          "confirmed_at": "2026-06-09T09:50:00+08:00"}}
    issued = client.post(f"{API}/visitor-passes", json=confirmed, headers=as_role["guard"])
    assert issued.status_code == 201, issued.text
    assert (issued.json()["id_number"], issued.json()["card_uid"]) == (MASKED, None)
    by_director = client.post(f"{API}/visitor-passes", json=confirmed,
                              headers=as_role["director"])
    assert by_director.json()["id_number"] == VISITOR_ID

    permit = {"plate": "粤B 77777", "host_person_id": wang, "valid_from": "2026-06-09",
              "valid_until": "2026-06-16"}
    before = row_counts(desk)
    eight_days = client.post(f"{API}/parking-permits", json=permit, headers=as_role["clerk"])
    assert refused(eight_days, 422, "H7", desk, before) == "valid_until"
    written = client.post(f"{API}/parking-permits", json={**permit, "valid_until": "2026-06-15"},
                          headers=as_role["clerk"])
    assert written.status_code == 201, written.text
    assert written.json()["plate"] == "粤B77777"
    back = f"{API}/parking-permits/{written.json()['permit_id']}/return"
    assert client.post(back, headers=as_role["guard"]).json()["returned"] is True
    assert client.post(back, headers=as_role["guard"]).status_code == 409
    assert client.post(f"{API}/parking-permits", json=permit,
                       headers=as_role["admin"]).status_code == 403


def test_visitor_register_masks_id_numbers(client: TestClient, desk: Desk,
                                           as_role: Headers) -> None:
    line = {"name": "访客 刘", "plate": "粤B77777", "items": "水果一箱", "gate_code": "main-gate"}
    before = row_counts(desk)
    no_id = client.post(f"{API}/visitors", json=line, headers=as_role["guard"])
    assert refused(no_id, 422, "G5", desk, before) == "id_number"
    registered = client.post(f"{API}/visitors", json={**line, "id_number": VISITOR_ID},
                             headers=as_role["guard"])
    assert registered.status_code == 201, registered.text
    assert registered.json()["id_number"] == MASKED
    registration = registered.json()["registration_id"]
    left = client.post(f"{API}/visitors/{registration}/exit", headers=as_role["guard"])
    assert left.json() == {"registration_id": registration, "left": True}
    assert client.post(f"{API}/visitors/{registration}/exit",
                       headers=as_role["guard"]).status_code == 409

    shown = {role: client.get(f"{API}/visitors", headers=as_role[role]).json()
             for role in ("guard", "clerk", "front_desk_lead", "director")}
    assert [v["id_number"] for v in shown["guard"]] == [MASKED]
    assert [v["id_number"] for v in shown["front_desk_lead"]] == [MASKED]
    assert [v["id_number"] for v in shown["director"]] == [VISITOR_ID]
    assert shown["clerk"][0]["time_out"] is not None
    assert client.get(f"{API}/visitors?day=2026-06-08", headers=as_role["guard"]).json() == []
    assert client.get(f"{API}/visitors", headers=as_role["admin"]).status_code == 403
    bad = client.get(f"{API}/visitors?day=yesterday", headers=as_role["guard"])
    assert set(errors_by_field(bad.json())) == {"day"}


def test_goods_slip_from_desk_to_exit_to_filing(client: TestClient, desk: Desk,
                                                as_role: Headers, clock: FixedClock) -> None:
    clerk = as_role["clerk"]
    household = household_of(desk, "王建国")
    slip = {"household_id": household, "applicant_person_id": person(desk, "王建国").id,
            "carrier_name": "搬家公司 张", "items": "沙发一套", "valid_on": "2026-06-09"}
    fee = client.post(f"{API}/fees", json={"household_id": household, "kind": "management",
                                           "amount_yuan": "120", "due_on": "2026-06-01"},
                      headers=clerk).json()["fee_id"]
    before = row_counts(desk)
    owing = client.post(f"{API}/goods-slips", json=slip, headers=clerk)
    assert refused(owing, 422, "G4", desk, before) == "household_id"
    assert "120.00" in owing.json()["message_en"]
    tenant = person(desk, "赵磊")
    assert tenant.household_id is not None
    no_consent = client.post(f"{API}/goods-slips", headers=clerk, json={
        **slip, "household_id": tenant.household_id, "applicant_person_id": tenant.id})
    assert refused(no_consent, 422, "G4", desk, before) == "owner_consent"
    client.post(f"{API}/fees/payments", json={"household_id": household, "fee_ids": [fee],
                                               "payer_name": "王建国"}, headers=clerk)
    issued = client.post(f"{API}/goods-slips", json=slip, headers=clerk)
    assert issued.json() == {"number": 1, "valid_on": "2026-06-09"}

    exit_form = {"gate_code": "main-gate", "items_match": True, "carrier_matches": True,
                 "guard_signoff": {"signer_name": "guard"}}
    by_clerk = client.post(f"{API}/goods-slips/1/exit", json=exit_form, headers=clerk)
    assert (by_clerk.status_code, by_clerk.json()["rule"]) == (422, "G4")
    before = row_counts(desk)
    mismatch = client.post(f"{API}/goods-slips/1/exit", json={**exit_form, "items_match": False},
                           headers=as_role["guard"])
    assert refused(mismatch, 422, "G4", desk, before) == "items_match"
    unsigned = client.post(f"{API}/goods-slips/1/exit",
                           json={**exit_form, "guard_signoff": None}, headers=as_role["guard"])
    assert refused(unsigned, 422, "G4", desk, before) == "guard_signoff"
    left = client.post(f"{API}/goods-slips/1/exit", json=exit_form, headers=as_role["guard"])
    assert left.status_code == 200, left.text
    assert left.json()["number"] == 1

    assert client.get(f"{API}/goods-slips/overdue", headers=clerk).json() == []
    clock.set(datetime(2026, 6, 10, 1, 0, tzinfo=UTC))  # 09:00 the next day: past 08:30
    fresh = {role: login(client, role) for role in ROLES}
    overdue = client.get(f"{API}/goods-slips/overdue", headers=fresh["guard"]).json()
    assert [(s["number"], s["late"]) for s in overdue] == [(1, True)]
    filed = client.post(f"{API}/goods-slips/filed", json={"numbers": [1]},
                        headers=fresh["clerk"])
    assert filed.json() == [{"number": 1, "due_at": "2026-06-10T08:30:00+08:00", "late": True}]
    assert client.get(f"{API}/goods-slips/overdue", headers=fresh["clerk"]).json() == []
    bad = client.post(f"{API}/goods-slips/filed", json={"numbers": [1, "x", None]},
                      headers=fresh["clerk"])
    assert set(errors_by_field(bad.json())) == {"numbers[1]", "numbers[2]"}


def test_long_term_goods_pass(client: TestClient, desk: Desk, as_role: Headers) -> None:
    wang = person(desk, "王建国")
    before = row_counts(desk)
    wrong_id = client.post(f"{API}/goods-passes", headers=as_role["clerk"], json={
        "person_id": wang.id, "id_number_presented": "110101190001010000"})
    assert refused(wrong_id, 422, "G4", desk, before) == "id_number_presented"
    issued = client.post(f"{API}/goods-passes", headers=as_role["clerk"], json={
        "person_id": wang.id, "id_number_presented": wang.id_number})
    assert issued.status_code == 201, issued.text
    assert issued.json()["valid_until"].startswith("2027-06")
    assert client.post(f"{API}/goods-passes", json={"person_id": wang.id},
                       headers=as_role["guard"]).status_code == 403
