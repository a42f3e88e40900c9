"""The permission matrix: one table in code, the same table in docs/api.md, and every
(role, operation) pair tried against a real app — 403 where the table says no (422 with
the rule's id where a domain rule names who may), and where it
says yes, a request that reaches the service (which checks roles again) and is answered by
it, never 403."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from central.api import create_app
from central.api.app import ROUTERS
from central.api.permissions import PERMISSIONS, PUBLIC, markdown_table
from central.clock import FixedClock
from central.models import Role
from sync.hub.store import CentralStore

from ..conftest import FAST_HASHER, NOW, PASSWORD, SITE
from .conftest import API, ROLES, TestClient, username
from .live_desk import every_role_desk

DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"
NOBODY = 999_999  # an id nothing has: allowed calls reach the service and get 404
SIGNED = {"signer_name": "王建国"}

# One request per operation, shaped to pass the form and reach the service's own checks:
# (method, path, JSON body or None, status when the role is allowed).
SAMPLES: dict[str, tuple[str, str, dict[str, Any] | None, int]] = {
    "logout": ("POST", "/logout", None, 204),
    "whoami": ("GET", "/me", None, 200),
    # Refused by the form (too short) before any password is checked: no failed login is
    # recorded against the fixture accounts.
    "change_own_password": ("POST", "/me/password", {
        "current_password": "x", "new_password": "short", "new_password_again": "short"}, 422),
    "list_staff": ("GET", "/staff", None, 200),
    "create_staff": ("POST", "/staff", {"username": "made-by-{role}", "role": "clerk",
                                        "password": "long enough 123", "site": SITE}, 201),
    "change_staff_role": ("PUT", f"/staff/{NOBODY}/role", {"role": "clerk"}, 404),
    "reset_staff_password": ("POST", f"/staff/{NOBODY}/password",
                             {"password": "long enough 123"}, 404),
    "deactivate_staff": ("POST", f"/staff/{NOBODY}/deactivate", None, 404),
    "give_staff_site_role": ("PUT", f"/staff/{NOBODY}/site-roles/sunrise-garden", {"role": "clerk"},
                             404),
    "take_staff_site_role": ("DELETE", f"/staff/{NOBODY}/site-roles/sunrise-garden", None, 404),
    "get_site": ("GET", "/site", None, 200),
    "list_households": ("GET", "/households", None, 200),
    "get_household": ("GET", f"/households/{NOBODY}", None, 404),
    "list_people": ("GET", "/people", None, 200),
    "get_person": ("GET", f"/people/{NOBODY}", None, 404),
    "search": ("GET", "/search?q=1-1201", None, 200),
    "issue_resident_cards": ("POST", "/cards/resident", {
        "household_id": NOBODY, "applicant_person_id": NOBODY, "applicant_in_person": True,
        "lines": [{"uid": "01020304", "relationship": "self", "holder_person_id": NOBODY,
                   "holder_signoff": SIGNED}]}, 404),
    "issue_merchant_card": ("POST", "/cards/merchant", {
        "uid": "0A0B0C0D", "holder_person_id": NOBODY, "seal_application_ref": "盖章申请",
        "shop_manager": {"name": "店长"}, "department_head": {"name": "部门负责人"},
        "holder_signoff": SIGNED}, 404),
    "issue_staff_card": ("POST", "/cards/staff", {
        "uid": "0C0C0C0C", "holder_person_id": NOBODY, "written_application_ref": "申请",
        "department_head": {"name": "经理"}, "holder_signoff": SIGNED}, 404),
    "get_card": ("GET", "/cards/DEADBEEF", None, 404),
    "set_card_grants": ("PUT", "/cards/DEADBEEF/grants", {"access_groups": []}, 404),
    "renew_card": ("POST", "/cards/DEADBEEF/renew", {"signoff": SIGNED}, 404),
    "revoke_card": ("POST", "/cards/DEADBEEF/revoke", {"signoff": SIGNED}, 404),
    "format_card": ("POST", "/cards/DEADBEEF/format", {"signoff": SIGNED}, 404),
    "report_lost": ("POST", "/cards/DEADBEEF/report-lost", {
        "reporter_person_id": NOBODY, "in_person": True, "balance_shown_yuan": "0",
        "holder_agrees": True, "signoff": SIGNED}, 404),
    "report_damaged": ("POST", "/cards/DEADBEEF/report-damaged", {
        "reporter_person_id": NOBODY, "in_person": True, "balance_shown_yuan": "0",
        "holder_agrees": True, "signoff": SIGNED, "card_taken_back": True}, 404),
    "replace_card": ("POST", "/cards/DEADBEEF/replace", {
        "new_uid": "CAFEBABE", "balance_checked_yuan": "0", "signoff": SIGNED}, 404),
    "list_loss_reports": ("GET", "/loss-reports", None, 200),
    "review_loss": ("POST", f"/loss-reports/{NOBODY}/review", {"approved": True}, 404),
    "list_fees": ("GET", "/fees", None, 200),
    "charge_fee": ("POST", "/fees", {"household_id": NOBODY, "kind": "management",
                                     "amount_yuan": "10", "due_on": "2026-07-01"}, 404),
    "pay_fees": ("POST", "/fees/payments", {"household_id": NOBODY, "fee_ids": [1],
                                            "payer_name": "王建国"}, 404),
    "list_receipts": ("GET", "/receipts", None, 200),
    "top_up_card": ("POST", "/cards/DEADBEEF/top-ups", {"amount_yuan": "10",
                                                        "payer_name": "王建国"}, 404),
    "spend_from_card": ("POST", "/cards/DEADBEEF/spends", {"amount_yuan": "1",
                                                           "purpose": "临时停车"}, 404),
    "list_balance_entries": ("GET", "/cards/DEADBEEF/balance-entries", None, 404),
    "get_receipt": ("GET", f"/receipts/{NOBODY}", None, 404),
    "void_receipt": ("POST", f"/receipts/{NOBODY}/void", {"reason": "wrong"}, 404),
    "transfer_ownership": ("POST", "/ownership-transfers", {
        "unit_id": NOBODY, "new_owner": {"name": "林"}, "purchase_contract_ref": "合同",
        "moved_in_on": "2026-07-01"}, 404),
    "list_register": ("GET", "/register", None, 200),
    "list_events": ("GET", "/events", None, 200),
    "list_devices": ("GET", "/devices", None, 200),
    "list_lots": ("GET", "/lots", None, 503),  # no link to a broker
    "list_sites_gates": ("GET", "/sites/gates", None, 200),
    "get_card_sync": ("GET", "/cards/DEADBEEF/sync", None, 200),
    "get_change_sync": ("GET", f"/card-changes/{NOBODY}/sync", None, 404),
    # the matrix's app has no link to a broker: the service answers "not linked"
    "open_gate_once": ("POST", "/devices/nowhere/open-once", {"reason": "快递"}, 503),
    "hold_gate_open": ("POST", "/devices/nowhere/hold-open", {"reason": "搬家"}, 503),
    "lock_gate_down": ("POST", "/devices/nowhere/lockdown", {"reason": "可疑人员"}, 503),
    "release_gate": ("POST", "/devices/nowhere/release", {"reason": "恢复"}, 503),
    "list_gate_commands": ("GET", "/gate-commands", None, 200),
    # monthly parking: every sample names something that does not exist (404), or meets a
    # rule whatever the other samples did (the months are chosen so)
    "apply_parking": ("POST", "/parking/subscriptions", {
        "holder_person_id": NOBODY, "plate": "粤B12345", "existing_uid": "DEADBEEF"}, 404),
    "approve_parking": ("POST", f"/parking/subscriptions/{NOBODY}/approve", {
        "fee_per_month_yuan": "300", "space_kind": "floating"}, 404),
    "record_owner_unit_approval": ("POST", f"/parking/subscriptions/{NOBODY}/owner-unit-approval",
                                   {"signer_name": "业主单位 林", "reference": "申请表",
                                    "signed_at": "2026-06-09T09:30:00+08:00"}, 404),
    "top_up_parking": ("POST", "/cards/DEADBEEF/parking/top-ups", {"months": 1}, 404),
    "end_parking": ("POST", "/cards/DEADBEEF/parking/end", None, 404),
    "name_reserve_vehicle": ("POST", "/parking/reserve-vehicles", {
        "plate": "粤B00001", "named_by": "owner_unit", "named_by_name": "业主单位 办公室",
        "valid_from": "2026-07-01"}, 201),
    "check_reserve_admission": ("GET", "/parking/reserve-admission?plate=粤B99999", None, 422),
    "get_parking_report": ("GET", "/parking/reports/2026-05", None, 200),
    "total_parking_fees": ("POST", "/parking/reports/2026-07/fees", None, 409),  # not over
    "add_parking_usage": ("POST", "/parking/reports/2026-04/usage", None, 422),  # P4 order
    "sign_parking_report": ("POST", "/parking/reports/2026-04/sign", {"note": "n"}, 422),
    "file_renovation": ("POST", "/renovations", {
        "household_id": NOBODY, "applicant_person_id": NOBODY, "starts_on": "2026-06-10",
        "ends_on": "2026-07-10", "self_renovation": True}, 404),
    "approve_renovation": ("POST", f"/renovations/{NOBODY}/approve", None, 404),
    "issue_worker_cards": ("POST", f"/renovations/{NOBODY}/worker-cards", {"lines": [{
        "uid": "0D0D0D0D", "worker": {"name": "工人", "id_number": "440301199001011234"},
        "signoff": SIGNED}]}, 404),
    "extend_renovation": ("POST", f"/renovations/{NOBODY}/extend", {
        "new_end": "2026-09-01", "signoff": SIGNED}, 404),
    "get_renovation": ("GET", f"/renovations/{NOBODY}", None, 404),
    "return_worker_cards": ("POST", f"/renovations/{NOBODY}/returned-cards", {
        "uids": ["0D0D0D0D"], "signoff": SIGNED}, 404),
    "refund_renovation_deposit": ("POST", f"/renovations/{NOBODY}/deposits/1/refund", {
        "signoff": SIGNED}, 404),
    "issue_visitor_pass": ("POST", "/visitor-passes", {
        "visitor": {"name": "访客"}, "valid_from": "2026-06-10", "valid_until": "2026-06-10",
        "invited_by_person_id": NOBODY}, 404),
    "issue_parking_permit": ("POST", "/parking-permits", {
        "plate": "粤B00002", "host_person_id": NOBODY, "valid_from": "2026-06-10",
        "valid_until": "2026-06-11"}, 404),
    "return_parking_permit": ("POST", f"/parking-permits/{NOBODY}/return", None, 404),
    "register_visitor": ("POST", "/visitors", {
        "name": "访客", "id_number": "440301199001011234", "gate_code": "nowhere"}, 404),
    "record_visitor_exit": ("POST", f"/visitors/{NOBODY}/exit", None, 404),
    "list_visitors": ("GET", "/visitors", None, 200),
    "issue_goods_slip": ("POST", "/goods-slips", {
        "household_id": NOBODY, "applicant_person_id": NOBODY, "carrier_name": "搬家公司",
        "items": "沙发", "valid_on": "2026-06-10"}, 404),
    "approve_goods_slip": ("POST", f"/goods-slips/{NOBODY}/approve", None, 404),
    "record_goods_exit": ("POST", f"/goods-slips/{NOBODY}/exit", {
        "gate_code": "main-gate", "items_match": True, "carrier_matches": True,
        "guard_signoff": {"signer_name": "guard"}}, 404),
    "file_goods_slips": ("POST", "/goods-slips/filed", {"numbers": [NOBODY]}, 404),
    "list_overdue_goods_slips": ("GET", "/goods-slips/overdue", None, 200),
    "issue_goods_pass": ("POST", "/goods-passes", {"person_id": NOBODY,
                                                   "id_number_presented": "1"}, 404),
    "list_id_check_failures": ("GET", "/id-check-failures", None, 200),
    # the site's rules (issue 12): an allowed edit either writes (idempotently) or names
    # something that does not exist
    "get_site_rules": ("GET", "/site-rules", None, 200),
    "set_parking_policy": ("PUT", "/site-rules/parking/floating", {"expired": "refuse"}, 200),
    "add_holiday": ("POST", "/site-rules/holidays", {"day": "2026-10-01", "kind": "holiday"},
                    201),
    "remove_holiday": ("DELETE", "/site-rules/holidays/2030-01-01", None, 404),
    "set_lot_spaces": ("PUT", "/site-rules/lots/nowhere", {
        "fixed": 1, "monthly": 1, "temporary": 1}, 404),
    "add_timed_mode": ("POST", "/site-rules/timed-modes", {
        "gate": "nowhere", "schedule": "Mon-Fri 07:00-09:00", "mode": "hold_open"}, 422),
    "remove_timed_mode": ("DELETE", f"/site-rules/timed-modes/{NOBODY}", None, 404),
}


@pytest.fixture(scope="module")
def matrix_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the whole matrix (192 requests): the example site, one account per
    role. The requests change nothing the others depend on."""
    root = tmp_path_factory.mktemp("matrix")
    url, desk = every_role_desk(root)
    desk.close()
    store = CentralStore(root / "sync.db", SITE, clock=NOW.timestamp)
    with TestClient(create_app(url, gate_events=store, clock=FixedClock(NOW),
                               hasher=FAST_HASHER, login_refusal_delay_s=0)) as client:
        yield client
    store.close()


@pytest.fixture(scope="module")
def tokens(matrix_client: TestClient) -> dict[str, str]:
    """A session per role, opened once."""
    out = {}
    for role in ROLES:
        response = matrix_client.post(f"{API}/login", json={"username": username(role),
                                                            "password": PASSWORD})
        out[role] = response.json()["token"]
    return out


def test_every_route_is_in_the_matrix_and_nothing_else_is() -> None:
    app_routes = {}
    for router in ROUTERS:
        for route in router.routes:
            assert isinstance(route, APIRoute) and route.methods is not None
            (method,) = route.methods
            app_routes[route.name] = (method, route.path)
    assert set(app_routes) == set(PERMISSIONS) | PUBLIC
    for op, permission in PERMISSIONS.items():
        assert app_routes[op] == (permission.method, permission.path), op
    assert set(SAMPLES) == set(PERMISSIONS)


def test_docs_show_the_matrix_in_code() -> None:
    docs = DOCS.read_text("utf-8")
    assert markdown_table() in docs, "docs/api.md's permission table differs from " \
        "central/api/permissions.py: paste markdown_table()'s output into it"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", list(PERMISSIONS))
def test_role_against_operation(matrix_client: TestClient, tokens: dict[str, str],
                                op: str, role: str) -> None:
    method, path, body, allowed_status = SAMPLES[op]
    token = tokens[role]
    if op == "logout":  # would end the shared session of the role
        token = matrix_client.post(f"{API}/login", json={
            "username": username(role), "password": PASSWORD}).json()["token"]
    if body is not None and op == "create_staff":
        body = {**body, "username": f"made-by-{role.replace('_', '-')}"}
    response = matrix_client.request(method, API + path, json=body,
                                     headers={"Authorization": f"Bearer {token}"})
    if Role(role) in PERMISSIONS[op].roles:
        assert response.status_code == allowed_status, response.text
    elif PERMISSIONS[op].rule is not None:  # a domain rule names who may: its refusal
        assert response.status_code == 422, response.text
        refusal = response.json()
        assert (refusal["error"], refusal["rule"]) == ("rule", PERMISSIONS[op].rule)
    else:
        assert response.status_code == 403, response.text
        refusal = response.json()
        assert refusal["error"] == "permission" and "rule" not in refusal
