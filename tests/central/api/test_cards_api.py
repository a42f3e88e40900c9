"""Issuing and managing cards over HTTP: each endpoint's happy path, refusals that carry
the rule and write nothing, and every field problem of a form at once."""

from __future__ import annotations

from typing import Any

from central.models import CardState, RegisterAction
from central.services.context import Desk

from ..conftest import (
    application,
    card,
    confirmation,
    groups_of,
    new_line,
    owner_line,
    person,
    receipts,
    register,
    row_counts,
    signed,
)
from .conftest import API, TestClient, errors_by_field

Headers = dict[str, dict[str, str]]


def issue_wang(client: TestClient, desk: Desk, headers: dict[str, str], uid: str = "04A1B2C3",
               **extra: Any) -> Any:
    form = application(desk, "王建国", [owner_line(desk, uid, "王建国", **extra)])
    response = client.post(f"{API}/cards/resident", json=form, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_issue_resident_cards(client: TestClient, desk: Desk, as_role: Headers) -> None:
    lines = [owner_line(desk, "04:a1:b2:c3", "王建国"), owner_line(desk, "04A1B2C4", "张丽",
                                                                 "spouse")]
    response = client.post(f"{API}/cards/resident", json=application(desk, "王建国", lines),
                           headers=as_role["clerk"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert [c["uid"] for c in body["cards"]] == ["04A1B2C3", "04A1B2C4"]
    assert body["cards"][0]["valid_until"] == "2028-06-08"  # H1: two years
    assert body["total"] == {"fen": 4000, "yuan": "40.00"}  # I2: 20 each
    assert body["receipt_number"] == 1
    assert [e.action for e in register(desk)] == [RegisterAction.ISSUE] * 2
    assert groups_of(desk, "04A1B2C3") == ["b1", "common"]  # the building's defaults


def test_a_rule_refusal_names_the_rule_and_writes_nothing(client: TestClient, desk: Desk,
                                                          as_role: Headers) -> None:
    # 1-1201 is 128.5 m²: a nanny on the application caps the household at 4 cards (I4).
    lines = [owner_line(desk, "04000001", "王建国"),
             owner_line(desk, "04000002", "张丽", "spouse"),
             owner_line(desk, "04000003", "王小明", "child"),
             new_line("04000004", "保姆 刘阿姨", "nanny"),
             new_line("04000005", "侄子 王磊", "other_relative")]
    form = application(desk, "王建国", lines,
                       owner_confirmation=confirmation(desk, "王建国", "in_person"))
    before = row_counts(desk)
    response = client.post(f"{API}/cards/resident", json=form, headers=as_role["clerk"])
    assert response.status_code == 422
    body = response.json()
    assert (body["error"], body["rule"], body["field"]) == ("rule", "I4", "lines")
    assert "at most 4 cards" in body["message_en"] and "最多 4 张" in body["message_zh"]
    assert row_counts(desk) == before


def test_every_field_problem_at_once_and_nothing_written(client: TestClient, desk: Desk,
                                                        as_role: Headers) -> None:
    before = row_counts(desk)
    form = {"household_id": "abc", "applicant_in_person": "maybe", "payment_methd": "cash",
            "lines": [{"uid": "XYZ", "relationship": "cousin", "holder_signof": {},
                       "new_holder": {"name": "x" * 101}}]}
    response = client.post(f"{API}/cards/resident", json=form, headers=as_role["clerk"])
    assert response.status_code == 422
    fields = errors_by_field(response.json())
    assert fields["payment_methd"] == "unknown field"
    assert fields["lines[0].holder_signof"] == "unknown field"
    for field in ("household_id", "applicant_person_id", "applicant_in_person", "lines[0].uid",
                  "lines[0].relationship", "lines[0].new_holder.name"):
        assert field in fields, field
    assert all(e["message_zh"] for e in response.json()["errors"])
    assert row_counts(desk) == before


def test_huge_numbers_and_odd_values_are_input_errors(client: TestClient, desk: Desk,
                                                      as_role: Headers) -> None:
    base = application(desk, "王建国", [owner_line(desk, "04000001", "王建国")])
    for field, value in (("household_id", 10**30), ("household_id", "99999999999"),
                         ("applicant_person_id", -1), ("applicant_person_id", 1.5)):
        response = client.post(f"{API}/cards/resident", json={**base, field: value},
                               headers=as_role["clerk"])
        assert response.status_code == 422, (field, value)
        assert field in errors_by_field(response.json())
    nan = client.post(f"{API}/fees", content=b'{"household_id": NaN}',
                      headers={**as_role["clerk"], "Content-Type": "application/json"})
    assert nan.status_code == 422
    surrogate = client.post(f"{API}/fees", content=b'{"description": "\\ud800"}',
                            headers={**as_role["clerk"], "Content-Type": "application/json"})
    assert errors_by_field(surrogate.json()) == {"description": "contains invalid characters"}


def test_merchant_card(client: TestClient, desk: Desk, as_role: Headers) -> None:
    form = {"uid": "0B0B0B01", "holder_person_id": person(desk, "周静").id,
            "seal_application_ref": "好邻居便利店 申请书（盖章）",
            "shop_manager": {"name": "店长 周静"}, "department_head": {"name": "部门负责人 郑"},
            "holder_signoff": signed("周静"), "access_groups": ["common", "shops"],
            "schedule": "Mon-Sun 07:00-23:00"}
    refused = client.post(f"{API}/cards/merchant", json={**form, "department_head": None},
                          headers=as_role["clerk"])
    assert (refused.status_code, refused.json()["rule"]) == (422, "H3")
    response = client.post(f"{API}/cards/merchant", json=form, headers=as_role["clerk"])
    assert response.status_code == 201, response.text
    assert response.json()["cards"][0]["valid_until"] == "2027-06-08"
    assert response.json()["total"]["yuan"] == "20.00"


def test_staff_card_only_by_the_leads(client: TestClient, desk: Desk, as_role: Headers) -> None:
    form = {"uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
            "written_application_ref": "工程部申请 2026-06-01",
            "department_head": {"name": "工程部经理 钱"}, "holder_signoff": signed("孙伟")}
    before = row_counts(desk)
    for role in ("clerk", "director", "guard", "admin"):
        response = client.post(f"{API}/cards/staff", json=form, headers=as_role[role])
        assert response.status_code == 422, role
        assert (response.json()["error"], response.json()["rule"]) == ("rule", "H4")
    assert row_counts(desk) == before
    response = client.post(f"{API}/cards/staff", json=form, headers=as_role["front_desk_lead"])
    assert response.status_code == 201
    assert (response.json()["total"]["fen"], response.json()["receipt_number"]) == (0, None)


def test_card_summary_for_desk_and_guard(client: TestClient, desk: Desk,
                                         as_role: Headers) -> None:
    issue_wang(client, desk, as_role["clerk"])
    for role in ("clerk", "guard"):
        response = client.get(f"{API}/cards/04a1b2c3", headers=as_role[role])
        assert response.status_code == 200
        body = response.json()
        assert (body["uid"], body["state"], body["holder_name"]) == ("04A1B2C3", "active",
                                                                     "王建国")
        assert body["balance"] == {"fen": 0, "yuan": "0.00"}
    missing = client.get(f"{API}/cards/0BADCAFE", headers=as_role["clerk"])
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    bad = client.get(f"{API}/cards/not-hex", headers=as_role["clerk"])
    assert errors_by_field(bad.json()).keys() == {"uid"}
    assert client.get(f"{API}/cards/04A1B2C3", headers=as_role["admin"]).status_code == 403


def test_grants_renew_revoke_format(client: TestClient, desk: Desk, as_role: Headers) -> None:
    issue_wang(client, desk, as_role["clerk"])
    h = as_role["clerk"]
    grants = client.put(f"{API}/cards/04A1B2C3/grants",
                        json={"access_groups": ["common", "carpark"]}, headers=h)
    assert grants.json() == {"uid": "04A1B2C3", "added": ["carpark"], "removed": ["b1"]}
    unknown = client.put(f"{API}/cards/04A1B2C3/grants", json={"access_groups": ["moon"]},
                         headers=h)
    assert errors_by_field(unknown.json()) == {
        "access_groups": "no such access group at this site: moon"}
    sign = {"reason": "yearly", "signoff": signed("王建国")}
    renewed = client.post(f"{API}/cards/04A1B2C3/renew", json=sign, headers=h)
    assert renewed.json() == {"uid": "04A1B2C3", "valid_until": "2030-06-08"}
    unsigned = client.post(f"{API}/cards/04A1B2C3/revoke", json={"reason": "x"}, headers=h)
    assert (unsigned.status_code, unsigned.json()["rule"]) == (422, "I1")
    revoked = client.post(f"{API}/cards/04A1B2C3/revoke", json=sign, headers=h)
    assert revoked.json() == {"uid": "04A1B2C3", "state": "revoked"}
    formatted = client.post(f"{API}/cards/04A1B2C3/format", json=sign, headers=h)
    assert formatted.json() == {"uid": "04A1B2C3", "state": "formatted"}
    assert card(desk, "04A1B2C3").state is CardState.FORMATTED
    again = client.post(f"{API}/cards/04A1B2C3/format", json=sign, headers=h)
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    assert [e.action for e in register(desk)] == [
        RegisterAction.ISSUE, RegisterAction.GRANTS_CHANGED, RegisterAction.RENEW,
        RegisterAction.REVOKE, RegisterAction.FORMAT]


def test_the_uid_comes_from_the_path_only(client: TestClient, desk: Desk,
                                          as_role: Headers) -> None:
    issue_wang(client, desk, as_role["clerk"])
    response = client.post(f"{API}/cards/04A1B2C3/revoke",
                           json={"uid": "0BADCAFE", "signoff": signed("王建国")},
                           headers=as_role["clerk"])
    assert errors_by_field(response.json()) == {"uid": "unknown field"}
    assert card(desk, "04A1B2C3").state is CardState.ACTIVE
    assert len(receipts(desk)) == 1
