"""One request per kind of refusal over HTTP: each answered with the status docs/api.md
gives its kind, in the one error shape (``rule`` exactly on rule refusals, ``errors`` on
input refusals)."""

from __future__ import annotations

from typing import Any

from central.services.context import Desk

from ..conftest import application, owner_line, person, signed
from ..test_refusals import _documented_statuses
from .conftest import API, TestClient

Headers = dict[str, dict[str, str]]
UID = "04A1B2C3"


def test_every_kind_of_refusal_over_http(client: TestClient, desk: Desk,
                                         as_role: Headers) -> None:
    clerk, lead = as_role["clerk"], as_role["front_desk_lead"]
    form = application(desk, "王建国", [owner_line(desk, UID, "王建国")])
    issued = client.post(f"{API}/cards/resident", json=form, headers=clerk)
    receipt = issued.json()["receipt_number"]
    assert client.post(f"{API}/receipts/{receipt}/void", json={"reason": "x"},
                       headers=lead).status_code == 200
    staff_card = {"uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
                  "written_application_ref": "申请", "department_head": {"name": "钱"},
                  "holder_signoff": signed("孙伟")}
    seen: dict[str, Any] = {
        # A rule naming who may (H4) at the router, and a rule met in the service (V1, H7).
        "rule": [client.post(f"{API}/cards/staff", json=staff_card, headers=clerk),
                 client.post(f"{API}/cards/{UID}/spends", json={
                     "amount_yuan": "1", "purpose": "临时停车"}, headers=as_role["guard"]),
                 client.post(f"{API}/parking-permits", json={
                     "plate": "粤A00001", "host_person_id": person(desk, "周静").id,
                     "valid_from": "2026-06-09", "valid_until": "2026-06-10"}, headers=clerk)],
        "input": [client.get(f"{API}/cards/AB", headers=clerk)],
        "not_found": [client.get(f"{API}/cards/DEADBEEF", headers=clerk)],
        "conflict": [client.post(f"{API}/receipts/{receipt}/void", json={"reason": "x"},
                                 headers=lead)],
        "permission": [client.get(f"{API}/cards/{UID}", headers=as_role["admin"])],
        "unauthenticated": [client.get(f"{API}/cards/{UID}")],
        "login": [client.post(f"{API}/login", json={"username": "clerk",
                                                     "password": "wrong password"})],
        "method": [client.delete(f"{API}/cards/{UID}", headers=clerk)],
        "media_type": [client.post(f"{API}/cards/resident", content=b"x",
                                   headers={**clerk, "Content-Type": "text/plain"})],
        "too_large": [client.post(f"{API}/cards/resident", content=b" " * 300_000,
                                  headers={**clerk, "Content-Type": "application/json"})],
    }
    documented = _documented_statuses()
    for kind, responses in seen.items():
        for response in responses:
            body = response.json()
            assert (body["error"], {response.status_code}) == (kind, documented[kind]), \
                response.text
            assert ("rule" in body and body["rule"] is not None) == (kind == "rule"), body
            assert ("errors" in body) == (kind == "input"), body
    assert [r.json()["rule"] for r in seen["rule"]] == ["H4", "V1", "H7"]
