"""The OpenAPI document, walked by schemathesis against the live app: every operation with
requests generated from its schemas (valid and not), then stateful runs that follow the
links between operations (inferred from the schemas: an id one answer gives, the next
request uses). No answer may be a 5xx, and every answer must be one the document
declares: status, content type, headers and body schema.

Each request goes as a role the permission matrix allows for its operation, so it reaches
the service rather than stopping at 403. Runs are bounded and derandomized (a fixed seed):
CI sees the same requests every time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update

from central.api import create_app
from central.api.permissions import PERMISSIONS
from central.clock import FixedClock
from central.models import Role, Staff
from central.services.context import Desk

from ..conftest import FAST_HASHER, NOW, PASSWORD
from .conftest import API, TestClient, username
from .live_desk import every_role_desk, linked_hub, site_broker

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# Who calls each operation: a role the matrix allows, preferring the widest.
PREFERRED = (Role.FRONT_DESK_LEAD, Role.DIRECTOR, Role.ADMIN, Role.GUARD, Role.CLERK,
             Role.CUSTOMER_SERVICE_LEAD)
# Operations that can end a session or change an account: the callers are put back after.
SESSION_CHANGING = frozenset({"logout", "change_staff_role", "reset_staff_password",
                              "deactivate_staff"})
EXAMPLES_PER_OPERATION = 25
STATEFUL_RUNS = 40
STATEFUL_STEPS = 8


def caller(operation_id: str) -> Role | None:
    """The role to call an operation as (None: the login, which needs no session)."""
    permission = PERMISSIONS.get(operation_id)
    if permission is None:
        return None
    return next(r for r in PREFERRED if r in permission.roles)


class Callers:
    """A session per role, and the means to restore the accounts when an operation has
    changed one (an admin's generated request may reset the clerk's password)."""

    def __init__(self, client: TestClient, desk: Desk, database: Path) -> None:
        self.client = client
        self.desk = desk
        self.database = database
        self.saved: tuple[Path, dict[Role, str]] = (database, {})
        self.hashes: dict[str, str] = {}
        self.tokens: dict[Role, str] = {}
        with desk.sessions() as session:
            for staff in session.query(Staff):
                self.hashes[staff.username] = staff.password_hash
        self.restore()

    def restore(self) -> None:
        """Every role's account as made, and a fresh session for each."""
        with self.desk.engine.begin() as conn:
            for role in Role:
                name = username(role.value)
                conn.execute(update(Staff).where(Staff.username == name).values(
                    role=role, active=True, password_hash=self.hashes[name]))
        for role in Role:
            answer = self.client.post(f"{API}/login", json={"username": username(role.value),
                                                            "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            self.tokens[role] = answer.json()["token"]

    def headers(self, operation_id: str) -> dict[str, str]:
        """The Authorization header for an operation."""
        role = caller(operation_id)
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def snapshot(self, path: Path) -> None:
        """Keep the database as it is now, with the sessions open now."""
        with contextlib.closing(sqlite3.connect(self.database)) as live, \
                contextlib.closing(sqlite3.connect(path)) as copy:
            live.backup(copy)
        self.saved = (path, dict(self.tokens))

    def rewind(self) -> None:
        """Back to the snapshot: a stateful run must meet the same answers when hypothesis
        replays it."""
        path, tokens = self.saved
        with contextlib.closing(sqlite3.connect(path)) as copy, \
                contextlib.closing(sqlite3.connect(self.database)) as live:
            copy.backup(live)
        self.tokens = dict(tokens)

    def after(self, operation_id: str, status: int) -> None:
        """Put the accounts back after an operation that may have changed one."""
        if operation_id in SESSION_CHANGING and status < 300:
            self.restore()


def _operation_id(case: Any) -> str:
    operation_id: str = case.operation.definition.raw["operationId"]
    return operation_id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Callers]]:
    """The app over a migrated database (the example site, one account per role); the
    schemathesis schema loaded from its own /openapi.json, and the callers."""
    root = tmp_path_factory.mktemp("schemathesis")
    url, desk = every_role_desk(root)
    clock = FixedClock(NOW)
    # The desk linked to a real site broker, as ``serve --sync-config`` runs it: the remote
    # commands reach their own checks (no gate is known: 404) instead of "not linked".
    with site_broker(root, ()) as broker, linked_hub(root, broker, clock.wall) as hub:
        app = create_app(url, gate_events=hub.store, gate_links=hub, clock=clock,
                         hasher=FAST_HASHER, login_refusal_delay_s=0)
        with TestClient(app) as client:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                api = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app)
            yield api, Callers(client, desk, root / "desk.db")
    desk.close()


@pytest.fixture(scope="module")
def api_schema(live: tuple[Any, Callers]) -> Any:
    """The schema schemathesis loaded from the app."""
    return live[0]


@pytest.fixture(scope="module")
def callers(live: tuple[Any, Callers]) -> Callers:
    """The sessions the generated requests go with."""
    return live[1]


def _cases(operation: Any) -> Any:
    """Valid requests and invalid ones (schemathesis' positive and negative modes)."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # an operation with nothing to make invalid
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


@pytest.mark.parametrize("operation_id", ["login", *PERMISSIONS])
def test_every_operation_answers_as_documented(api_schema: Any, callers: Callers,
                                               operation_id: str) -> None:
    operation = api_schema.find_operation_by_id(operation_id)

    @given(case=_cases(operation))
    @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None,
              database=None, suppress_health_check=list(HealthCheck))
    def answers_as_documented(case: Any) -> None:
        response = case.call(headers=callers.headers(operation_id))
        try:
            case.validate_response(response, checks=CHECKS)
        finally:
            callers.after(operation_id, response.status_code)

    answers_as_documented()


def test_linked_operations_answer_as_documented(api_schema: Any, callers: Callers,
                                               tmp_path: Path) -> None:
    machine = api_schema.as_state_machine()
    callers.snapshot(tmp_path / "start.db")

    class Workflow(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            callers.rewind()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": callers.headers(_operation_id(case))}

        def after_call(self, response: Any, case: Any) -> None:
            callers.after(_operation_id(case), response.status_code)

        def validate_response(self, response: Any, case: Any,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=settings(max_examples=STATEFUL_RUNS, derandomize=True,
                                   deadline=None, database=None,
                                   stateful_step_count=STATEFUL_STEPS,
                                   suppress_health_check=list(HealthCheck)))


def test_the_document_describes_every_operation(api_schema: Any) -> None:
    """Every operation in the matrix, the error shape on every one, closed request bodies,
    the bearer scheme, parameters with a type."""
    doc = api_schema.raw_schema
    schemas = doc["components"]["schemas"]
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            assert operation["operationId"] in PERMISSIONS or operation["operationId"] == "login"
            assert "422" in operation["responses"], (method, path)
            error = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorBody"}
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert schemas[body["$ref"].rsplit("/", 1)[-1]]["additionalProperties"] is False
            if operation["operationId"] != "login":
                assert operation["security"] == [{"HTTPBearer": []}]
            for parameter in operation.get("parameters", ()):
                assert "anyOf" not in parameter["schema"] and "type" in parameter["schema"]


def test_the_stateful_run_has_links(api_schema: Any) -> None:
    """The stateful test follows links; without any it would only repeat the first."""
    bundles = set(api_schema.as_state_machine().bundles)
    assert {"POST /api/v1/renovations -> 201", "GET /api/v1/people -> 200"} <= bundles
    assert len(bundles) >= 10
