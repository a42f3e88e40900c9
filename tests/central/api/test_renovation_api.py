"""Renovation over HTTP: the filing with its deposits (H6, G6), workers' cards, the
extension every card follows, the ledger with ID numbers masked per role (G5), the cards'
return and the refunds — each refusal with its rule and nothing written."""

from __future__ import annotations

from typing import Any

from central.services.context import Desk

from ..conftest import card, household_of, person, row_counts, signed
from .conftest import API, TestClient, errors_by_field

Headers = dict[str, dict[str, str]]
WORKER_ID = "440301199001011234"


def filing_form(desk: Desk, **override: Any) -> dict[str, Any]:
    form = {"household_id": household_of(desk, "王建国"),
            "applicant_person_id": person(desk, "王建国").id, "starts_on": "2026-06-10",
            "ends_on": "2026-09-09",
            "contractor": {"name": "美家装修", "lead_name": "李工", "lead_phone": "13800000000"}}
    form.update(override)
    return form


def refused(response: Any, status: int, rule: str, desk: Desk, before: dict[str, int]) -> str:
    """The refused field, after checking status, rule and that nothing was written."""
    assert response.status_code == status, response.text
    assert response.json()["rule"] == rule, response.text
    assert row_counts(desk) == before
    field: str = response.json()["field"]
    return field


def test_filing_cards_extension_return_and_refund(client: TestClient, desk: Desk,
                                                  as_role: Headers) -> None:
    clerk = as_role["clerk"]
    before = row_counts(desk)
    too_long = client.post(f"{API}/renovations", json=filing_form(desk, ends_on="2026-09-10"),
                           headers=clerk)
    assert refused(too_long, 422, "H6", desk, before) == "ends_on"
    no_contractor = client.post(f"{API}/renovations", json=filing_form(desk, contractor=None),
                                headers=clerk)
    assert "contractor" in errors_by_field(no_contractor.json())

    filed = client.post(f"{API}/renovations", json=filing_form(desk), headers=clerk)
    assert filed.status_code == 201, filed.text
    filing = filed.json()["filing_id"]
    deposits = filed.json()["deposits"]
    assert [(d["payer"], d["amount"]["yuan"]) for d in deposits] == [
        ("owner", "1000.00"), ("contractor", "1000.00")]
    assert filed.json()["approved"] is False  # seed 001: the manager approves first
    base = f"{API}/renovations/{filing}"

    line = {"uid": "0E000001", "worker": {"name": "工人甲", "id_number": WORKER_ID}}
    before = row_counts(desk)
    early = client.post(f"{base}/worker-cards", headers=clerk,
                        json={"lines": [{**line, "signoff": signed("工人甲")}]})
    assert refused(early, 422, "H6", desk, before) == "filing_id"
    for role in ("clerk", "front_desk_lead", "customer_service_lead"):
        not_theirs = client.post(f"{base}/approve", headers=as_role[role])
        # The manager's approval is rule H6's step: refused under that rule (docs/api.md).
        assert (not_theirs.status_code, not_theirs.json()["rule"]) == (422, "H6"), role
    approved = client.post(f"{base}/approve", headers=as_role["director"])
    assert approved.status_code == 200 and approved.json()["filing_id"] == filing, approved.text
    before = row_counts(desk)
    unsigned = client.post(f"{base}/worker-cards", json={"lines": [line]}, headers=clerk)
    assert refused(unsigned, 422, "I1", desk, before) == "lines[0].signoff"
    lent = client.post(f"{base}/worker-cards", headers=clerk,
                       json={"lines": [{**line, "signoff": signed("工人甲")}]})
    assert lent.status_code == 201, lent.text
    (worker,) = lent.json()
    assert (worker["uid"], worker["valid_until"], worker["id_number"]) == (
        "0E000001", "2026-09-09", "440***********1234")
    assert worker["schedule"]

    extend = {"new_end": "2026-12-10", "signoff": signed("李工")}
    before = row_counts(desk)
    too_far = client.post(f"{base}/extend", json=extend, headers=clerk)
    assert refused(too_far, 422, "H6", desk, before) == "new_end"
    extended = client.post(f"{base}/extend", json={**extend, "new_end": "2026-12-09"},
                           headers=clerk)
    assert extended.json() == {"filing_id": filing, "previous_end": "2026-09-09",
                               "new_end": "2026-12-09", "marking": "延期至 2026-12-09",
                               "cards": ["0E000001"]}
    assert str(card(desk, "0E000001").valid_until) == "2026-12-09"

    ledger = {role: client.get(base, headers=as_role[role]).json()
              for role in ("guard", "clerk", "director")}
    assert ledger["guard"]["workers"][0]["id_number"] == "440***********1234"
    assert ledger["clerk"]["workers"][0]["id_number"] == "440***********1234"
    assert ledger["director"]["workers"][0]["id_number"] == WORKER_ID
    assert (ledger["clerk"]["unit"], ledger["clerk"]["extensions"]) == ("1-1201", 1)

    owner_receipt = deposits[0]["receipt_number"]
    refund = f"{base}/deposits/{owner_receipt}/refund"
    before = row_counts(desk)
    cards_out = client.post(refund, json={"signoff": signed("王建国")}, headers=clerk)
    assert refused(cards_out, 422, "G6", desk, before) == "filing_id"
    assert "0E000001" in cards_out.json()["message_en"]
    returned = client.post(f"{base}/returned-cards", headers=clerk,
                           json={"uids": ["0e:00:00:01"], "signoff": signed("李工")})
    assert returned.json() == {"filing_id": filing, "returned": ["0E000001"], "still_out": 0}
    assert card(desk, "0E000001").state.value == "formatted"
    before = row_counts(desk)
    wrong_payer = client.post(refund, json={"signoff": signed("李工")}, headers=clerk)
    assert refused(wrong_payer, 422, "G6", desk, before) == "signoff"
    done = client.post(refund, json={"signoff": signed("王建国")}, headers=clerk)
    assert done.status_code == 200, done.text
    assert done.json()["refunded"] is True
    assert client.post(refund, json={"signoff": signed("王建国")},
                       headers=clerk).status_code == 409
    assert client.post(base + "/extend", json=extend,
                       headers=as_role["guard"]).status_code == 403
