"""Monthly parking over HTTP: the application (P1), the director's approval (P3), top-ups
(P2), ending, reserve spaces (P5), and the monthly report's three steps with its JSON, CSV
and XLSX (P4) — each refusal with its rule and nothing written."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from openpyxl import load_workbook

from central.api import create_app
from central.clock import FixedClock
from central.services.context import Desk
from sync.hub.store import CentralStore

from ..conftest import FAST_HASHER, Staffs, application, owner_line, person, row_counts
from ..helpers import documents
from ..test_parking_report import devices, wall
from .conftest import API, ROLES, TestClient, errors_by_field, login

Headers = dict[str, dict[str, str]]
WANG = "04A1B2C3"


def wang_card(client: TestClient, desk: Desk, headers: dict[str, str]) -> None:
    form = application(desk, "王建国", [owner_line(desk, WANG, "王建国")])
    assert client.post(f"{API}/cards/resident", json=form, headers=headers).status_code == 201


def parking_form(desk: Desk, **override: Any) -> dict[str, Any]:
    form = {"holder_person_id": person(desk, "王建国").id, "plate": "粤B·12345",
            "documents": documents(desk, "王建国"), "existing_uid": WANG}
    form.update(override)
    return form


def refused(response: Any, status: int, rule: str, desk: Desk,
            before: dict[str, int]) -> dict[str, Any]:
    """The refusal's body, after checking its status, rule and that nothing was written."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["rule"] == rule, body
    assert body["message_zh"] and body["message_en"]
    assert row_counts(desk) == before
    return body


def applied_and_approved(client: TestClient, desk: Desk, as_role: Headers) -> int:
    wang_card(client, desk, as_role["clerk"])
    applied = client.post(f"{API}/parking/subscriptions", json=parking_form(desk),
                          headers=as_role["clerk"])
    assert applied.status_code == 201, applied.text
    subscription: int = applied.json()["subscription_id"]
    owner_unit = client.post(
        f"{API}/parking/subscriptions/{subscription}/owner-unit-approval",
        headers=as_role["clerk"], json={"signer_name": "业主单位 林", "reference": "申请表",
                                        "signed_at": "2026-06-09T09:30:00+08:00"})
    assert owner_unit.status_code == 200, owner_unit.text
    approved = client.post(f"{API}/parking/subscriptions/{subscription}/approve",
                           json={"fee_per_month_yuan": "300", "space_kind": "floating"},
                           headers=as_role["director"])
    assert approved.status_code == 200, approved.text
    return subscription


def test_apply_approve_top_up_and_end(client: TestClient, desk: Desk, as_role: Headers) -> None:
    clerk = as_role["clerk"]
    wang_card(client, desk, clerk)
    before = row_counts(desk)
    no_licence = client.post(f"{API}/parking/subscriptions", headers=clerk, json=parking_form(
        desk, documents=documents(desk, "王建国", driving_licence_ref=None)))
    body = refused(no_licence, 422, "P1", desk, before)
    assert body["field"] == "documents.driving_licence_ref"
    both = client.post(f"{API}/parking/subscriptions", headers=clerk,
                       json=parking_form(desk, new_uid="0A0A0A0A"))
    assert "existing_uid" in errors_by_field(both.json())

    applied = client.post(f"{API}/parking/subscriptions", json=parking_form(desk), headers=clerk)
    assert applied.status_code == 201, applied.text
    assert applied.json() | {"subscription_id": 0} == {
        "subscription_id": 0, "card_uid": WANG, "new_card": False,
        "card_fee": {"fen": 0, "yuan": "0.00"}, "receipt_number": None}
    subscription = applied.json()["subscription_id"]

    before = row_counts(desk)
    early = client.post(f"{API}/cards/{WANG}/parking/top-ups", json={"months": 1}, headers=clerk)
    refused(early, 422, "P3", desk, before)
    approve = f"{API}/parking/subscriptions/{subscription}/approve"
    by_clerk = client.post(approve, json={"fee_per_month_yuan": "300", "space_kind": "floating"},
                           headers=clerk)
    refused(by_clerk, 422, "P3", desk, before)
    fixed = client.post(approve, json={"fee_per_month_yuan": "300", "space_kind": "fixed"},
                        headers=as_role["director"])
    assert refused(fixed, 422, "P3", desk, before)["field"] == "space_number"
    reserve = client.post(approve, json={"fee_per_month_yuan": "300",
                                         "space_kind": "emergency_reserve"},
                          headers=as_role["director"])
    refused(reserve, 422, "P5", desk, before)
    approved = client.post(approve, json={"fee_per_month_yuan": "300", "space_kind": "floating"},
                           headers=as_role["director"])
    assert approved.json() == {"subscription_id": subscription,
                               "fee_per_month": {"fen": 30000, "yuan": "300.00"},
                               "space_kind": "floating", "space_number": None}

    # Seed 000: the owner unit signs the application as well as the director.
    before = row_counts(desk)
    unsigned = client.post(f"{API}/cards/{WANG}/parking/top-ups", json={"months": 1},
                           headers=clerk)
    assert refused(unsigned, 422, "P3", desk, before)["field"] == "uid"
    owner_unit = client.post(
        f"{API}/parking/subscriptions/{subscription}/owner-unit-approval", headers=clerk,
        json={"signer_name": "业主单位 行政部 林", "signed_at": "2026-06-09T09:30:00+08:00",
              "reference": "车位使用申请表 2026-061"})
    assert owner_unit.json() == {"subscription_id": subscription,
                                 "signer_name": "业主单位 行政部 林",
                                 "signed_at": "2026-06-09T09:30:00+08:00"}, owner_unit.text

    paid = client.post(f"{API}/cards/04:a1:b2:c3/parking/top-ups", json={"months": 2},
                       headers=clerk)
    assert paid.status_code == 201, paid.text
    assert {k: paid.json()[k] for k in ("uid", "paid_from", "paid_until")} == {
        "uid": WANG, "paid_from": "2026-06-09", "paid_until": "2026-08-08"}
    assert paid.json()["amount"]["yuan"] == "600.00"
    too_many = client.post(f"{API}/cards/{WANG}/parking/top-ups", json={"months": 25},
                           headers=clerk)
    assert "months" in errors_by_field(too_many.json())

    ended = client.post(f"{API}/cards/{WANG}/parking/end", headers=clerk)
    assert ended.json() == {"uid": WANG, "ended": True}
    again = client.post(f"{API}/cards/{WANG}/parking/end", headers=clerk)
    assert again.status_code == 409


def test_reserve_spaces_only_for_vehicles_named_in_advance(
        client: TestClient, desk: Desk, as_role: Headers) -> None:
    check = f"{API}/parking/reserve-admission?plate=粤B 88888"
    before = row_counts(desk)
    unnamed = client.get(check, headers=as_role["guard"])
    assert refused(unnamed, 422, "P5", desk, before)["field"] == "plate"
    backdated = client.post(f"{API}/parking/reserve-vehicles", headers=as_role["clerk"], json={
        "plate": "粤B88888", "named_by": "owner_unit", "named_by_name": "业主单位 陈",
        "valid_from": "2026-06-01"})
    assert errors_by_field(backdated.json()) == {
        "valid_from": "named in advance: not a day already past"}
    by_guard = client.post(f"{API}/parking/reserve-vehicles", headers=as_role["guard"], json={
        "plate": "粤B88888", "named_by": "owner_unit", "named_by_name": "业主单位 陈",
        "valid_from": "2026-06-09"})
    assert by_guard.status_code == 403
    named = client.post(f"{API}/parking/reserve-vehicles", headers=as_role["clerk"], json={
        "plate": "粤b-88888", "named_by": "owner_unit", "named_by_name": "业主单位 陈",
        "valid_from": "2026-06-09", "valid_until": "2026-06-30"})
    assert named.status_code == 201, named.text
    assert named.json()["plate"] == "粤B88888"
    admitted = client.get(check, headers=as_role["guard"])
    assert admitted.json() == {"plate": "粤B88888", "admitted": True, "named_by": "owner_unit",
                               "named_by_name": "业主单位 陈", "valid_until": "2026-06-30"}
    missing = client.get(f"{API}/parking/reserve-admission", headers=as_role["guard"])
    assert errors_by_field(missing.json()) == {"plate": "required"}


def tap(store: CentralStore, device: str, uid: str, at: float, seq: int) -> None:
    store.store_events(device, [{
        "seq": seq, "boot_id": "boot-1", "wall": at, "mono": float(seq), "kind": "tap",
        "alarm": False, "clock_trusted": True, "uid": uid, "granted": True,
        "reason": "granted", "data": {}}])


def test_monthly_report_steps_and_files(client: TestClient, desk: Desk, as_role: Headers,
                                        clock: FixedClock, store: CentralStore) -> None:
    devices(desk)
    applied_and_approved(client, desk, as_role)
    paid = client.post(f"{API}/cards/{WANG}/parking/top-ups", json={"months": 1},
                       headers=as_role["clerk"])
    assert paid.status_code == 201
    tap(store, "dev-in", WANG, wall(2026, 6, 10, 8, 0), 1)
    tap(store, "dev-out", WANG, wall(2026, 6, 10, 18, 0), 1)
    report = f"{API}/parking/reports/2026-06"

    not_over = client.post(f"{report}/fees", headers=as_role["clerk"])
    assert not_over.status_code == 409
    clock.set(datetime(2026, 7, 3, 2, 0, tzinfo=UTC))
    as_role = {role: login(client, role) for role in ROLES}  # the shift's sessions ended
    before = row_counts(desk)
    early_use = client.post(f"{report}/usage", headers=as_role["guard"])
    refused(early_use, 422, "P4", desk, before)
    early_sign = client.post(f"{report}/sign", json={"note": "ok"}, headers=as_role["director"])
    refused(early_sign, 422, "P4", desk, before)
    by_clerk = client.post(f"{report}/usage", headers=as_role["clerk"])
    refused(by_clerk, 422, "P4", desk, before)

    totalled = client.post(f"{report}/fees", headers=as_role["clerk"])
    assert totalled.status_code == 200, totalled.text
    assert totalled.json()["fees_total"]["yuan"] == "300.00"
    assert totalled.json()["usage"] is None
    assert totalled.json()["stamps"]["fees_totalled_by"] == "clerk"
    fees_only = client.get(report, headers=as_role["guard"]).json()
    assert (fees_only["usage"], fees_only["stamps"]["usage_added_by"]) == (None, None)

    used = client.post(f"{report}/usage", headers=as_role["guard"])
    assert used.status_code == 200, used.text
    assert [(u["card_uid"], u["entries"], u["exits"], u["days_used"])
            for u in used.json()["usage"]] == [(WANG, 1, 1, 1)]
    by_lead = client.post(f"{report}/sign", json={}, headers=as_role["front_desk_lead"])
    refused(by_lead, 422, "P4", desk, row_counts(desk))
    signed_report = client.post(f"{report}/sign", json={"note": "已核对"},
                                headers=as_role["director"])
    assert signed_report.status_code == 200, signed_report.text
    stamps = signed_report.json()["stamps"]
    assert (stamps["signed_by"], stamps["director_note"]) == ("director", "已核对")
    assert len(stamps["content_sha256"]) == 64
    assert client.post(f"{report}/fees", headers=as_role["clerk"]).status_code == 409

    as_json = client.get(report, headers=as_role["clerk"]).json()
    assert as_json["month"] == "2026-06" and as_json["entries_total"] == 1
    csv = client.get(f"{report}?format=csv", headers=as_role["clerk"])
    assert csv.headers["content-type"].startswith("text/csv")
    assert "parking-report-sunrise-garden-2026-06.csv" in csv.headers["content-disposition"]
    text = csv.content.decode("utf-8-sig")
    assert "停车费收取情况月统计表" in text and WANG in text and "300.00" in text
    xlsx = client.get(f"{report}?format=xlsx", headers=as_role["guard"])
    assert xlsx.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Fees 停车费", "Use 使用", "Reconciliation 对账", "Sign-off 签字"]

    odd = client.get(f"{report}?format=pdf", headers=as_role["clerk"])
    assert errors_by_field(odd.json()) == {"format": "one of json, csv, xlsx"}
    bad_month = client.get(f"{API}/parking/reports/0000-01", headers=as_role["clerk"])
    assert set(errors_by_field(bad_month.json())) == {"month"}
    for month in ("2026-13", "9999-12", "٢٠٢٦-٠٦"):  # the last: not ASCII digits
        assert client.get(f"{API}/parking/reports/{month}",
                          headers=as_role["clerk"]).status_code == 422
    both = client.get(f"{API}/parking/reports/June?format=pdf", headers=as_role["clerk"])
    assert set(errors_by_field(both.json())) == {"month", "format"}


def test_report_steps_needing_the_gates_logs_answer_503_without_them(
        db_url: str, desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    with TestClient(create_app(db_url, clock=clock, hasher=FAST_HASHER)) as bare:
        guard = login(bare, "guard")
        response = bare.post(f"{API}/parking/reports/2026-05/usage", headers=guard)
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        # Before security's step the report needs no logs: the fees alone.
        assert bare.get(f"{API}/parking/reports/2026-05",
                        headers=guard).json()["usage"] is None
