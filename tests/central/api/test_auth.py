"""Logging in and out over HTTP: bearer tokens stored hashed, throttled failures with
Retry-After, expiry, logout, disabled accounts."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from central.clock import FixedClock
from central.models import LoginAttempt, StaffSession
from central.refusals import LoginFailedError, LoginThrottledError
from central.services.context import Desk
from central.services.staff import login as check_login

from ..conftest import PASSWORD, SITE
from .conftest import API, TestClient, errors_by_field, login


def test_login_gives_a_bearer_token_stored_only_hashed(client: TestClient, desk: Desk) -> None:
    response = client.post(f"{API}/login", json={"username": "Clerk", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["staff"] == {"id": body["staff"]["id"], "username": "clerk",
                             "display_name": "clerk", "role": "clerk", "site": SITE,
                             "site_roles": {}}
    token = body["token"]
    with desk.sessions() as s:
        stored = s.scalars(select(StaffSession)).one()
    assert stored.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_sha256
    me = client.get(f"{API}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["staff"]["role"] == "clerk"
    assert "issue_resident_cards" in me.json()["allowed_operations"]
    assert "void_receipt" not in me.json()["allowed_operations"]


def test_wrong_password_and_unknown_name_are_answered_alike(client: TestClient) -> None:
    wrong = client.post(f"{API}/login", json={"username": "clerk", "password": "nope nope"})
    unknown = client.post(f"{API}/login", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "login"
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


def test_five_failures_throttle_with_retry_after(client: TestClient, clock: FixedClock,
                                                 desk: Desk) -> None:
    for _ in range(5):
        assert client.post(f"{API}/login", json={"username": "clerk",
                                                 "password": "guess guess"}).status_code == 401
        clock.advance(timedelta(minutes=1))
    throttled = client.post(f"{API}/login", json={"username": "clerk", "password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == str(10 * 60)
    assert throttled.json()["error"] == "throttled"
    assert "10 分钟" in throttled.json()["message_zh"]
    with desk.sessions() as s:
        # the throttled attempt is not written: a flood of them writes nothing
        assert len(s.scalars(select(LoginAttempt)).all()) == 5
        assert s.scalars(select(StaffSession)).all() == []
    clock.advance(timedelta(minutes=10, seconds=1))
    assert client.post(f"{API}/login", json={"username": "clerk",
                                             "password": PASSWORD}).status_code == 200


def test_a_session_expires(client: TestClient, clock: FixedClock) -> None:
    headers = login(client, "clerk")
    clock.advance(timedelta(hours=9, minutes=59))
    assert client.get(f"{API}/me", headers=headers).status_code == 200
    clock.advance(timedelta(minutes=1))
    expired = client.get(f"{API}/me", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["error"] == "unauthenticated"


def test_logout_ends_only_that_session(client: TestClient) -> None:
    first, second = login(client, "clerk"), login(client, "clerk")
    assert client.post(f"{API}/logout", headers=first).status_code == 204
    assert client.get(f"{API}/me", headers=first).status_code == 401
    assert client.get(f"{API}/me", headers=second).status_code == 200


def test_every_endpoint_but_login_needs_a_session(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "Basic Y2xlcms6cHc="}, {"Authorization": "Bearer"}):
        response = client.get(f"{API}/cards/04A1B2C3", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthenticated"
    assert client.post(f"{API}/cards/resident", json={}).status_code == 401


def test_a_deactivated_account_loses_its_sessions(client: TestClient,
                                                  as_role: dict[str, dict[str, str]]) -> None:
    clerk_id = client.get(f"{API}/me", headers=as_role["clerk"]).json()["staff"]["id"]
    response = client.post(f"{API}/staff/{clerk_id}/deactivate", headers=as_role["admin"])
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert client.get(f"{API}/me", headers=as_role["clerk"]).status_code == 401
    again = client.post(f"{API}/login", json={"username": "clerk", "password": PASSWORD})
    assert again.status_code == 401


def test_login_form_problems_are_listed_per_field(client: TestClient) -> None:
    response = client.post(f"{API}/login", json={"user": "clerk", "password": 12})
    assert response.status_code == 422
    fields = errors_by_field(response.json())
    assert set(fields) == {"user", "username", "password"}
    assert fields["user"] == "unknown field"
    malformed = client.post(f"{API}/login", content=b'{"username": "clerk",',
                            headers={"Content-Type": "application/json"})
    assert malformed.status_code == 422
    assert errors_by_field(malformed.json()).keys() == {"(body)"}
    text = client.post(f"{API}/login", content=b"username=clerk",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert text.status_code == 415


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    missing = client.get(f"{API}/nowhere")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong = client.delete(f"{API}/login")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method")
    big = client.post(f"{API}/login", content=b'{"username": "' + b"a" * 300_000 + b'"}',
                      headers={"Content-Type": "application/json"})
    assert (big.status_code, big.json()["error"]) == (413, "too_large")


# The throttle's scheme (docs/api.md, "Logging in"), through the service with the address
# the API passes: an outsider must not be able to lock a named account out of the desk.
DESK_TERMINAL = "10.0.0.5"
OUTSIDER = "10.0.0.66"


def _refusal(desk: Desk, name: str, password: str, remote: str) -> str | None:
    try:
        check_login(desk, name, password, remote)
    except LoginFailedError:
        return "failed"
    except LoginThrottledError:
        return "wait"
    return None


def test_an_outsider_cannot_lock_the_clerk_out(desk: Desk, staff: object,
                                               clock: FixedClock) -> None:
    for _ in range(5):
        assert _refusal(desk, "clerk", "guess guess", OUTSIDER) == "failed"
    # The outsider waits, even with the right password; the clerk at the desk does not.
    assert _refusal(desk, "clerk", PASSWORD, OUTSIDER) == "wait"
    assert _refusal(desk, "clerk", PASSWORD, DESK_TERMINAL) is None
    # Trying on while waiting does not renew the wait.
    for _ in range(10):
        clock.advance(timedelta(minutes=1))
        assert _refusal(desk, "clerk", "guess guess", OUTSIDER) == "wait"
    clock.advance(timedelta(minutes=5, seconds=1))
    assert _refusal(desk, "clerk", "guess guess", OUTSIDER) == "failed"


def test_an_address_guessing_many_names_waits(desk: Desk, staff: object) -> None:
    for i in range(20):
        assert _refusal(desk, f"someone-{i}", "guess guess", OUTSIDER) == "failed"
    assert _refusal(desk, "clerk", PASSWORD, OUTSIDER) == "wait"
    assert _refusal(desk, "someone-99", "guess guess", DESK_TERMINAL) == "failed"
    assert _refusal(desk, "clerk", PASSWORD, DESK_TERMINAL) is None


def test_a_name_guessed_from_many_addresses(desk: Desk, staff: object) -> None:
    for i in range(20):
        assert _refusal(desk, "clerk", "guess guess", f"10.1.0.{i % 5}") == "failed"
    # Every address that failed on the name waits; a fresh one gets one try.
    assert _refusal(desk, "clerk", PASSWORD, "10.1.0.1") == "wait"
    assert _refusal(desk, "clerk", "guess guess", "10.2.0.1") == "failed"
    assert _refusal(desk, "clerk", PASSWORD, "10.2.0.1") == "wait"
    assert _refusal(desk, "clerk", PASSWORD, DESK_TERMINAL) is None
