"""A fuzz run of the OpenAPI document (hand-rolled, seeded, no extra packages): every
operation gets malformed JSON, wrong types, huge numbers, odd text, unknown fields, odd path
and query values — and valid-looking requests built from its schemas, so the services run
too. No answer may be a 5xx, and every refusal has the error shape.

The TestClient re-raises any exception the app did not answer, so a crash fails here too.
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote

import pytest

from central.api.permissions import PERMISSIONS
from central.models import Role
from central.services.context import Desk

from ..conftest import (
    SITE,
    application,
    confirmation,
    household_of,
    new_line,
    owner_line,
    person,
    signed,
)
from .conftest import API, TestClient

CASES_PER_OPERATION = 80
# Actions whose path says everything (the record acted on): they take no body.
BODILESS = frozenset({"logout", "deactivate_staff", "end_parking", "total_parking_fees",
                      "add_parking_usage", "return_parking_permit", "record_visitor_exit",
                      "approve_goods_slip", "approve_renovation"})
# Who calls each operation: a role the matrix allows, preferring the widest.
PREFERRED = (Role.FRONT_DESK_LEAD, Role.DIRECTOR, Role.ADMIN, Role.GUARD, Role.CLERK,
             Role.CUSTOMER_SERVICE_LEAD)

WILD: list[Any] = [
    None, "", " ", "x" * 5000, -1, 0, 1, 2**31, 2**63, 10**30, -(10**30), 1.5, 1e308, True,
    False, [], {}, [1, 2], {"a": {"b": []}}, "\u0000", "a\u0007b", "１２", "٣", "NaN", "sNaN",
    "Infinity", "1e999999999", "-0", "0x10", "2026-02-30", "9999-12-31", "0001-01-01",
    "2026-06-09T09:00:00+14:00", "2026-06-09T09:00:00", "04:A1:B2", "ZZZZ", "DROP TABLE",
    "'; --", "<script>", "😀" * 10, "\u202e", ["a"] * 200, "1" * 400]
STRINGS = ["common", "b1", "王建国", "陈国强", "cash", "x", "2026-06-30", "ref 1", "04000001",
           "Mon-Sat 08:00-12:00", "owner", "self", "20.00", "0", "12.50"]
INTS = [1, 2, 3, 5, 8, 0, -1, 999_999, 2**31 - 1, 2**31]
PATH_VALUES = ["1", "2", "0", "-1", "abc", "999999", "2147483648", "9" * 30, "1e3", " ",
               "04A1B2C3", "04:a1:b2:c3", "DEADBEEF", "ZZ", "x" * 300, "\x00", "😀", "null",
               "1.5", "01", "%"]
RAW_BODIES = [b"{", b"[]", b"null", b"123", b'"x"', b'{"a":', b"\xff\xfe\x00", b"[" * 5000,
              b'{"x": NaN}', b'{"x": Infinity}', b'{"x": 1e999}', b'{"x": "\\ud800"}',
              b'{"\\udfff": 1}', b"1" * 5000, b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}",
              b"{" + b'"k": 1,' * 20000 + b'"z": 2}', b"\x00", b"   "]


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _resolve(doc["components"]["schemas"][ref.rsplit("/", 1)[-1]], doc)
    return schema


# Values that pass the forms for fields so named, so that requests reach the services.
BY_NAME: dict[str, list[Any]] = {
    "uid": ["04000001", "04A1B2C3", "0b:0b:0b:01", "CAFEBABE"],
    "yuan": ["0", "12.50", "20", "350.50", "0.01"],
    "_id": [1, 2, 3, 4, 5, 6],
    "name": ["王建国", "张丽", "陈国强", "周静", "孙伟", "新人"],
    "number": [1, 2, 3],
}


def _by_name(name: str, rng: random.Random) -> Any:
    for suffix, values in BY_NAME.items():
        if name.endswith(suffix):
            return rng.choice(values)
    return None


def generate(schema: dict[str, Any], doc: dict[str, Any], rng: random.Random, wild: float,
             *, depth: int = 0, name: str = "") -> Any:
    """A value for ``schema``: mostly of its shape, now and then anything at all."""
    if rng.random() < wild:
        return rng.choice(WILD)
    schema = _resolve(schema, doc)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"] or schema["anyOf"]
        return generate(rng.choice(options), doc, rng, wild, depth=depth, name=name)
    hinted = _by_name(name, rng) if rng.random() < 0.8 else None
    if hinted is not None and "enum" not in schema:
        return hinted
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "object" and depth < 6:
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out = {k: generate(v, doc, rng, wild, depth=depth + 1, name=k) for k, v in props.items()
               if k in required or rng.random() < 0.7}
        if rng.random() < wild:
            out[rng.choice(["extra", "uid", "id", "__proto__"])] = rng.choice(WILD)
        return out
    if kind == "array" and depth < 6:
        return [generate(schema.get("items", {}), doc, rng, wild, depth=depth + 1, name=name)
                for _ in range(rng.randint(0, 3))]
    if kind == "integer":
        return rng.choice(INTS)
    if kind == "boolean":
        return rng.choice([True, False])
    if kind == "null":
        return None
    if schema.get("format") == "date":
        return rng.choice(["2026-06-30", "2026-07-01", "2025-01-01", "2026-13-01"])
    if schema.get("format") == "date-time":
        return rng.choice(["2026-06-09T09:50:00+08:00", "2026-06-09T01:00:00Z", "yesterday"])
    return rng.choice(STRINGS)


def caller(op: str) -> Role | None:
    """The role that calls ``op`` in the fuzz run (None: no session, the login)."""
    if op not in PERMISSIONS:
        return None
    return next(r for r in PREFERRED if r in PERMISSIONS[op].roles)


def requests_for(path: str, method: str, operation: dict[str, Any], doc: dict[str, Any],
                 rng: random.Random) -> list[dict[str, Any]]:
    """The fuzz cases of one operation, as keyword arguments of ``client.request``."""
    params = [p for p in operation.get("parameters", ()) if p["in"] in ("path", "query")]
    body_schema = (operation.get("requestBody", {}).get("content", {})
                   .get("application/json", {}).get("schema"))
    cases = []
    for i in range(CASES_PER_OPERATION):
        wild = rng.choice([0.0, 0.0, 0.02, 0.1, 0.3])
        url, query = path, {}
        for p in params:
            if p["in"] == "path":
                value = (str(generate(p["schema"], doc, rng, 0.0, name=p["name"]))
                         if rng.random() < 0.5 else rng.choice(PATH_VALUES))
                url = url.replace("{" + p["name"] + "}", quote(value, safe=""))
            elif rng.random() < 0.5:
                query[p["name"]] = rng.choice([*PATH_VALUES,
                                               str(generate(p["schema"], doc, rng, 0.0))])
        if rng.random() < 0.1:
            query["unexpected"] = "1"
        case: dict[str, Any] = {"method": method.upper(), "url": API + url.removeprefix(API),
                                "params": query, "headers": {}}
        if body_schema is not None:
            if i < len(RAW_BODIES):
                case["content"] = RAW_BODIES[i]
                case["headers"]["Content-Type"] = "application/json"
            else:
                case["content"] = json.dumps(generate(body_schema, doc, rng, wild),
                                             ensure_ascii=rng.random() < 0.5).encode()
                case["headers"]["Content-Type"] = rng.choice(
                    ["application/json"] * 6 + ["application/json; charset=utf-8",
                                                "text/plain", "application/vnd.api+json"])
        if rng.random() < 0.05:
            case["headers"]["X-Menwei-Site"] = rng.choice(["nowhere", "", "x" * 100])
        cases.append(case)
    return cases


def test_openapi_document_describes_every_operation(client: TestClient) -> None:
    doc = client.get(f"{API}/openapi.json").json()
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert operation["operationId"] in PERMISSIONS or operation["operationId"] == "login"
            assert "422" in operation["responses"], (method, path)
            error = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}
            if method in ("post", "put") and operation["operationId"] not in BODILESS:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert _resolve(body, doc)["additionalProperties"] is False, path
            if operation["operationId"] != "login":
                assert operation["security"] == [{"HTTPBearer": []}]
            for parameter in operation.get("parameters", ()):
                assert "anyOf" not in parameter["schema"] and "type" in parameter["schema"]


@pytest.mark.timeout(600)
def test_no_request_gets_a_5xx(client: TestClient,
                               as_role: dict[str, dict[str, str]]) -> None:
    doc = client.get(f"{API}/openapi.json").json()
    sent = 0
    for path, methods in sorted(doc["paths"].items()):
        for method, operation in sorted(methods.items()):
            op = operation["operationId"]
            if op == "logout":
                continue  # would end the session the rest of the run uses
            role = caller(op)
            auth = as_role[role.value] if role is not None else {}
            rng = random.Random(f"{op}-{method}")
            for case in requests_for(path, method, operation, doc, rng):
                case["headers"] = {**auth, **case["headers"]}
                response = client.request(**case)
                sent += 1
                shown = {k: (v[:200] if isinstance(v, bytes) else v) for k, v in case.items()}
                assert response.status_code < 500, (shown, response.text)
                if response.status_code >= 400:
                    body = response.json()
                    assert {"error", "field", "message_zh", "message_en"} <= set(body), shown
    assert sent > 1000


def _baselines(desk: Desk) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Valid requests on real records: (role, method, path, body)."""
    wang = person(desk, "王建国")
    chen_household = household_of(desk, "陈国强")
    lead = Role.FRONT_DESK_LEAD.value
    return [
        (lead, "POST", "/cards/resident", application(desk, "王建国", [
            owner_line(desk, "04000001", "王建国"),
            new_line("04000002", "保姆 刘阿姨", "nanny")],
            owner_confirmation=confirmation(desk, "王建国"))),
        (lead, "POST", "/cards/merchant", {
            "uid": "0B0B0B01", "holder_person_id": person(desk, "周静").id,
            "seal_application_ref": "申请书", "shop_manager": {"name": "店长"},
            "department_head": {"name": "郑"}, "holder_signoff": signed("周静"),
            "access_groups": ["shops"], "schedule": "Mon-Sun 07:00-23:00"}),
        (lead, "POST", "/cards/staff", {
            "uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
            "written_application_ref": "申请", "department_head": {"name": "钱"},
            "holder_signoff": signed("孙伟")}),
        (lead, "PUT", "/cards/04000001/grants", {"access_groups": ["common", "b1"]}),
        (lead, "POST", "/cards/04000001/renew", {"reason": "r", "signoff": signed("王建国")}),
        (lead, "POST", "/cards/04000001/report-lost", {
            "reporter_person_id": wang.id, "in_person": True, "balance_shown_yuan": "0",
            "holder_agrees": True, "signoff": signed("王建国")}),
        (Role.DIRECTOR.value, "POST", "/loss-reports/1/review", {"approved": True, "note": "n"}),
        (lead, "POST", "/cards/04000001/replace", {
            "new_uid": "04000009", "balance_checked_yuan": "0", "signoff": signed("王建国")}),
        (lead, "POST", "/fees", {"household_id": chen_household, "kind": "management",
                                 "amount_yuan": "10.50", "due_on": "2026-06-30",
                                 "description": "d"}),
        (lead, "POST", "/fees/payments", {"household_id": chen_household, "fee_ids": [1],
                                          "payer_name": "陈国强", "method": "cash"}),
        (lead, "POST", "/receipts/1/void", {"reason": "r", "corrected": [{
            "item": "card_fee", "amount_yuan": "20", "card_uid": "04000001", "fee_id": 1}]}),
        (lead, "POST", "/ownership-transfers", {
            "unit_id": 1, "new_owner": {"name": "林", "id_number": "1", "phone": "2"},
            "purchase_contract_ref": "c", "moved_in_on": "2026-07-01"}),
        (Role.ADMIN.value, "POST", "/staff", {"username": "someone", "role": "clerk",
                                              "password": "long enough 123", "site": SITE}),
        (lead, "POST", "/cards/04000001/format", {"reason": "r", "signoff": signed("王建国")}),
        *_phase_two_baselines(desk),
    ]


def _phase_two_baselines(desk: Desk) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Valid requests of monthly parking, renovation, visitors and goods, in an order in
    which each finds what it needs (王建国's card 04000009 is the replacement above)."""
    wang = person(desk, "王建国")
    household = household_of(desk, "王建国")
    lead, director = Role.FRONT_DESK_LEAD.value, Role.DIRECTOR.value
    id_shown = wang.id_number
    return [
        (lead, "POST", "/parking/subscriptions", {
            "holder_person_id": wang.id, "plate": "粤B·12345", "existing_uid": "04000009",
            "space_kind": "floating", "documents": {
                "id_number_presented": id_shown, "driving_licence_ref": "驾驶证",
                "vehicle_licence_ref": "行驶证", "parking_agreement_ref": "协议"}}),
        (lead, "POST", "/parking/subscriptions/1/owner-unit-approval", {
            "signer_name": "业主单位 林", "signed_at": "2026-06-09T09:30:00+08:00",
            "reference": "申请表"}),
        (director, "POST", "/parking/subscriptions/1/approve", {
            "fee_per_month_yuan": "300", "space_kind": "floating", "note": "n"}),
        (lead, "POST", "/cards/04000009/parking/top-ups", {"months": 2, "payer_name": "王建国",
                                                           "payment_method": "cash"}),
        (lead, "POST", "/parking/reserve-vehicles", {
            "plate": "粤B88888", "named_by": "management_office", "named_by_name": "主任",
            "valid_from": "2026-06-09", "valid_until": "2026-12-31"}),
        (director, "POST", "/parking/reports/2026-05/sign", {"note": "n"}),
        (lead, "POST", "/renovations", {
            "household_id": household, "applicant_person_id": wang.id,
            "starts_on": "2026-06-10", "ends_on": "2026-09-09", "payment_method": "cash",
            "contractor": {"name": "装修公司", "lead_name": "李工", "lead_phone": "138"}}),
        (director, "POST", "/renovations/1/approve", {}),
        (lead, "POST", "/renovations/1/worker-cards", {"lines": [{
            "uid": "0E000001", "worker": {"name": "工人甲", "id_number": "440301199001011234",
                                          "phone": "139", "organisation": "o"},
            "signoff": signed("工人甲")}]}),
        (lead, "POST", "/renovations/1/extend", {"new_end": "2026-10-31",
                                                 "signoff": signed("李工")}),
        (lead, "POST", "/renovations/1/returned-cards", {"uids": ["0E000001"],
                                                         "signoff": signed("李工")}),
        (lead, "POST", "/renovations/1/deposits/7/refund", {"signoff": signed("王建国")}),
        (lead, "POST", "/visitor-passes", {
            "visitor": {"name": "访客", "id_number": "440301199001011234"},
            "valid_from": "2026-06-09", "valid_until": "2026-06-11",
            "invited_by_person_id": wang.id, "card_uid": "0E000002",
            "confirmation": {"person_id": wang.id, "method": "phone",
                             "confirmed_at": "2026-06-09T09:50:00+08:00"},
            "access_groups": ["b1"], "signoff": signed("访客")}),
        (lead, "POST", "/parking-permits", {
            "plate": "粤B77777", "host_person_id": wang.id, "valid_from": "2026-06-09",
            "valid_until": "2026-06-15", "visitor_pass_id": 1}),
        (Role.GUARD.value, "POST", "/visitors", {
            "name": "访客", "id_number": "440301199001011234", "plate": "粤B77777",
            "items": "水果", "time_in": "2026-06-09T09:50:00+08:00", "gate_code": "main-gate",
            "visitor_pass_id": 1}),
        (lead, "POST", "/goods-slips", {
            "household_id": household, "applicant_person_id": wang.id, "carrier_name": "搬家",
            "items": "沙发", "valid_on": "2026-06-09"}),
        (Role.CUSTOMER_SERVICE_LEAD.value, "POST", "/goods-slips/1/approve", {}),
        (Role.GUARD.value, "POST", "/goods-slips/1/exit", {
            "gate_code": "main-gate", "items_match": True, "carrier_matches": True,
            "guard_signoff": {"signer_name": "guard", "reference": "r"}}),
        (lead, "POST", "/goods-slips/filed", {"numbers": [1]}),
        (lead, "POST", "/goods-passes", {"person_id": wang.id,
                                         "id_number_presented": id_shown}),
    ]


def _fields(body: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value of ``body`` (nested objects and list items included)."""
    out: list[tuple[Any, ...]] = []
    items = body.items() if isinstance(body, dict) else enumerate(body)
    for key, value in items:
        out.append((*prefix, key))
        if isinstance(value, dict | list):
            out += _fields(value, (*prefix, key))
    return out


def _with(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


def test_one_odd_value_in_an_otherwise_valid_request(
        client: TestClient, desk: Desk, as_role: dict[str, dict[str, str]]) -> None:
    rng = random.Random("one-odd-value")
    sent = 0
    for role, method, path, body in _baselines(desk):
        assert client.request(method, API + path, json=body,
                              headers=as_role[role]).status_code < 500
        for field in _fields(body):
            for value in rng.sample(WILD, 12):
                response = client.request(method, API + path, json=_with(body, field, value),
                                          headers=as_role[role])
                sent += 1
                assert response.status_code < 500, (path, field, value, response.text)
    assert sent > 1000
