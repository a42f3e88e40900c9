"""Loss, review and replacement; fees, payments and receipts; change of owner; the
register — over HTTP."""

from __future__ import annotations

from central.models import RegisterAction
from central.services.context import Desk

from ..conftest import (
    application,
    card,
    household_of,
    owner_line,
    person,
    receipts,
    register,
    row_counts,
    signed,
)
from .conftest import API, TestClient, errors_by_field

Headers = dict[str, dict[str, str]]
UID, NEW = "04A1B2C3", "04FFEE01"


def issued_with_balance(client: TestClient, desk: Desk, headers: dict[str, str]) -> None:
    form = application(desk, "王建国", [owner_line(desk, UID, "王建国",
                                                   access_groups=["common", "b1"])])
    assert client.post(f"{API}/cards/resident", json=form, headers=headers).status_code == 201
    topped = client.post(f"{API}/cards/{UID}/top-ups", json={
        "amount_yuan": "12.50", "payer_name": "王建国"}, headers=headers)
    assert topped.status_code == 201, topped.text


def loss_form(desk: Desk) -> dict[str, object]:
    return {"reporter_person_id": person(desk, "王建国").id, "in_person": True,
            "balance_shown_yuan": "12.50", "holder_agrees": True, "signoff": signed("王建国")}


def test_lost_reviewed_replaced(client: TestClient, desk: Desk, as_role: Headers) -> None:
    clerk = as_role["clerk"]
    issued_with_balance(client, desk, clerk)
    wrong = client.post(f"{API}/cards/{UID}/report-lost",
                        json={**loss_form(desk), "balance_shown_yuan": "0"}, headers=clerk)
    assert (wrong.json()["rule"], wrong.json()["field"]) == ("L1", "balance_shown_yuan")
    lost = client.post(f"{API}/cards/{UID}/report-lost", json=loss_form(desk), headers=clerk)
    assert lost.status_code == 201, lost.text
    report_id = lost.json()["report_id"]
    assert lost.json()["balance"]["yuan"] == "12.50"
    replacement = {"new_uid": NEW, "balance_checked_yuan": "12.50", "signoff": signed("王建国")}
    before = row_counts(desk)
    early = client.post(f"{API}/cards/{UID}/replace", json=replacement, headers=clerk)
    assert (early.status_code, early.json()["rule"]) == (422, "L2")
    assert row_counts(desk) == before
    pending = client.get(f"{API}/loss-reports?pending=true", headers=clerk).json()
    assert [(r["id"], r["uid"], r["kind"]) for r in pending] == [(report_id, UID, "lost")]
    for role in ("clerk", "front_desk_lead", "customer_service_lead"):
        refused = client.post(f"{API}/loss-reports/{report_id}/review",
                              json={"approved": True}, headers=as_role[role])
        assert (refused.status_code, refused.json()["rule"]) == (422, "L2")
    reviewed = client.post(f"{API}/loss-reports/{report_id}/review",
                           json={"approved": True, "note": "已核对"},
                           headers=as_role["director"])
    assert reviewed.json() == {"report_id": report_id, "approved": True}
    replaced = client.post(f"{API}/cards/{UID}/replace", json=replacement, headers=clerk)
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["fee"]["yuan"] == "20.00"  # lost: always the holder's fault (I3)
    assert replaced.json()["balance"]["fen"] == 1250
    assert card(desk, NEW).balance_fen == 1250
    assert client.get(f"{API}/loss-reports?pending=true", headers=clerk).json() == []


def test_damaged_card_taken_back(client: TestClient, desk: Desk, as_role: Headers) -> None:
    issued_with_balance(client, desk, as_role["clerk"])
    form = {**loss_form(desk), "holder_fault": False}
    refused = client.post(f"{API}/cards/{UID}/report-damaged", json=form,
                          headers=as_role["clerk"])
    assert (refused.json()["rule"], refused.json()["field"]) == ("L2", "card_taken_back")
    done = client.post(f"{API}/cards/{UID}/report-damaged",
                       json={**form, "card_taken_back": True}, headers=as_role["clerk"])
    assert done.status_code == 201
    lost_only = client.post(f"{API}/cards/{UID}/report-lost",
                            json={**loss_form(desk), "card_taken_back": True},
                            headers=as_role["clerk"])
    assert errors_by_field(lost_only.json()) == {"card_taken_back": "unknown field"}


def test_fees_payment_receipts_and_void(client: TestClient, desk: Desk,
                                        as_role: Headers) -> None:
    clerk = as_role["clerk"]
    household = household_of(desk, "陈国强")
    charged = client.post(f"{API}/fees", json={
        "household_id": household, "kind": "management", "amount_yuan": "350.50",
        "due_on": "2026-06-30", "description": "物业费 6月"}, headers=clerk)
    assert charged.status_code == 201, charged.text
    fee_id = charged.json()["fee_id"]
    float_amount = client.post(f"{API}/fees", json={
        "household_id": household, "kind": "management", "amount_yuan": 350.5,
        "due_on": "2026-06-30"}, headers=clerk)
    assert "amount_yuan" in errors_by_field(float_amount.json())
    unpaid = client.get(f"{API}/fees?household_id={household}&unpaid=true", headers=clerk)
    assert [(f["id"], f["amount"]["yuan"]) for f in unpaid.json()] == [(fee_id, "350.50")]
    paid = client.post(f"{API}/fees/payments", json={
        "household_id": household, "fee_ids": [fee_id], "payer_name": "陈国强"}, headers=clerk)
    assert paid.status_code == 201
    number = paid.json()["receipt_number"]
    receipt = client.get(f"{API}/receipts/{number}", headers=clerk).json()
    assert (receipt["amount"]["yuan"], receipt["void"], receipt["lines"][0]["fee_id"]) == (
        "350.50", False, fee_id)
    assert client.get(f"{API}/fees?household_id={household}&unpaid=true",
                      headers=clerk).json() == []
    void = {"reason": "金额有误", "corrected": [{"item": "fee_settlement", "amount_yuan": "305.50",
                                               "fee_id": fee_id}]}
    refused = client.post(f"{API}/receipts/{number}/void", json=void, headers=clerk)
    assert refused.status_code == 403
    bad_line = client.post(f"{API}/receipts/{number}/void", json={
        "reason": "x", "corrected": [{"item": "card_fee", "amount_yuan": "0"}]},
        headers=as_role["front_desk_lead"])
    assert set(errors_by_field(bad_line.json())) == {"corrected[0].amount_yuan",
                                                     "corrected[0].card_uid"}
    voided = client.post(f"{API}/receipts/{number}/void", json=void, headers=as_role["director"])
    assert voided.json() == {"voided": number, "replacement": number + 1}
    listed = client.get(f"{API}/receipts", headers=clerk).json()
    assert [(r["number"], r["void"], r["replaces"]) for r in listed] == [
        (number + 1, False, number), (number, True, None)]
    assert [r.amount_fen for r in receipts(desk)] == [35050, 30550]


def test_ownership_transfer_after_fees_settled(client: TestClient, desk: Desk,
                                               as_role: Headers) -> None:
    clerk = as_role["clerk"]
    household = household_of(desk, "陈国强")
    households = client.get(f"{API}/households?building=1&unit=1202", headers=clerk).json()
    unit_id = next(h["unit_id"] for h in households if h["id"] == household)
    fee = client.post(f"{API}/fees", json={"household_id": household, "kind": "utilities",
                                           "amount_yuan": "80", "due_on": "2026-06-01"},
                      headers=clerk).json()["fee_id"]
    transfer = {"unit_id": unit_id, "new_owner": {"name": "新业主 林"},
                "purchase_contract_ref": "买卖合同 2026-77", "moved_in_on": "2026-07-01"}
    before = row_counts(desk)
    refused = client.post(f"{API}/ownership-transfers", json=transfer, headers=clerk)
    assert (refused.status_code, refused.json()["rule"]) == (422, "H8")
    assert row_counts(desk) == before
    client.post(f"{API}/fees/payments", json={"household_id": household, "fee_ids": [fee],
                                               "payer_name": "陈国强"}, headers=clerk)
    done = client.post(f"{API}/ownership-transfers", json=transfer, headers=clerk)
    assert done.status_code == 201, done.text
    assert done.json()["cards_stopped"] == []
    owners = client.get(f"{API}/households?unit_id={unit_id}", headers=clerk).json()
    # The sale ends the old owner's household; the tenancy goes on (买卖不破租赁).
    assert sorted((h["kind"], h["members"][0]["name"]) for h in owners) == [
        ("ownership", "新业主 林"), ("tenancy", "赵磊")]


def test_register_is_listed_newest_first_and_filtered(client: TestClient, desk: Desk,
                                                      as_role: Headers) -> None:
    issued_with_balance(client, desk, as_role["clerk"])
    client.post(f"{API}/cards/{UID}/report-lost", json=loss_form(desk), headers=as_role["clerk"])
    entries = client.get(f"{API}/register", headers=as_role["clerk"]).json()
    assert [(e["action"], e["card_uid"], e["staff"]) for e in entries] == [
        ("report_lost", UID, "clerk"), ("issue", UID, "clerk")]
    assert entries[0]["signed_by"] == "王建国"
    only = client.get(f"{API}/register?action=issue&card=04:a1:b2:c3&limit=5",
                      headers=as_role["clerk"]).json()
    assert [e["action"] for e in only] == ["issue"]
    page = client.get(f"{API}/register?before_id={entries[0]['id']}",
                      headers=as_role["clerk"]).json()
    assert [e["id"] for e in page] == [entries[1]["id"]]
    assert len(register(desk)) == 2
    typo = client.get(f"{API}/register?acton=issue", headers=as_role["clerk"])
    assert errors_by_field(typo.json()) == {"acton": "unknown query parameter"}
    bad = client.get(f"{API}/register?action=steal&since=yesterday&limit=100000",
                     headers=as_role["clerk"])
    assert set(errors_by_field(bad.json())) == {"action", "since", "limit"}
    assert not any(e.action is RegisterAction.FORMAT for e in register(desk))
