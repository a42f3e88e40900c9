"""Stored value over HTTP: the desk tops up (receipt), the booth's guard spends, every card
view shows the balance, the ledger is readable, and a spend beyond the balance is a V1
refusal."""

from __future__ import annotations

from central.services.context import Desk

from ..conftest import application, household_of, owner_line, person, row_counts
from .conftest import API, TestClient

Headers = dict[str, dict[str, str]]
UID = "04A1B2C3"


def test_top_up_spend_and_every_card_view_shows_the_balance(client: TestClient, desk: Desk,
                                                            as_role: Headers) -> None:
    clerk, guard = as_role["clerk"], as_role["guard"]
    form = application(desk, "王建国", [owner_line(desk, UID, "王建国")])
    assert client.post(f"{API}/cards/resident", json=form, headers=clerk).status_code == 201
    refused = client.post(f"{API}/cards/{UID}/top-ups", json={
        "amount_yuan": "50", "payer_name": "王建国"}, headers=guard)
    assert refused.status_code == 403
    topped = client.post(f"{API}/cards/{UID}/top-ups", json={
        "amount_yuan": "50", "payer_name": "王建国", "method": "mobile"}, headers=clerk)
    assert topped.status_code == 201, topped.text
    assert topped.json()["balance"] == {"fen": 5000, "yuan": "50.00"}
    receipt = client.get(f"{API}/receipts/{topped.json()['receipt_number']}", headers=clerk)
    assert [(ln["item"], ln["card_uid"]) for ln in receipt.json()["lines"]] == [
        ("stored_value", UID)]
    spent = client.post(f"{API}/cards/{UID}/spends", json={
        "amount_yuan": "6", "purpose": "临时停车 2 小时"}, headers=guard)
    assert (spent.status_code, spent.json()["balance"]["fen"]) == (201, 4400), spent.text
    before = row_counts(desk)
    beyond = client.post(f"{API}/cards/{UID}/spends", json={
        "amount_yuan": "44.01", "purpose": "临时停车"}, headers=guard)
    assert (beyond.status_code, beyond.json()["error"], beyond.json()["rule"],
            beyond.json()["field"]) == (422, "rule", "V1", "amount_yuan")
    assert row_counts(desk) == before
    # Every card view: the card, the household's cards, the person's cards.
    assert client.get(f"{API}/cards/{UID}", headers=guard).json()["balance"]["fen"] == 4400
    household = client.get(f"{API}/households/{household_of(desk, '王建国')}",
                           headers=clerk).json()
    assert [c["balance"]["fen"] for c in household["cards"]] == [4400]
    wang = client.get(f"{API}/people/{person(desk, '王建国').id}", headers=clerk).json()
    assert [c["balance"]["fen"] for c in wang["cards"]] == [4400]
    entries = client.get(f"{API}/cards/{UID}/balance-entries", headers=guard).json()
    assert [(e["movement"], e["amount"]["fen"], e["balance_after"]["fen"]) for e in entries] \
        == [("top_up", 5000, 5000), ("spend", -600, 4400)]
    assert entries[1]["purpose"] == "临时停车 2 小时"
