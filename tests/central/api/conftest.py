"""Fixtures for the API: the desk's real SQLite file (migrated, example site loaded, one
account per role — tests/central/conftest.py), a real sync CentralStore file for the gate
events, and FastAPI's TestClient (httpx) over ``create_app``."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.api import create_app
from central.clock import FixedClock
from central.services.context import Desk
from sync.hub.store import CentralStore

from ..conftest import FAST_HASHER, NOW, PASSWORD, SITE, Staffs

with warnings.catch_warnings():
    # Starlette's TestClient warns about httpx on import; the client works as documented.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["API", "ROLES", "TestClient", "errors_by_field", "login", "username"]

API = "/api/v1"
ROLES = ("clerk", "front_desk_lead", "customer_service_lead", "director", "guard", "admin")


def username(role: str) -> str:
    """The fixture account of a role (tests/central/conftest.py names them so)."""
    return role.replace("_", "-")


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[CentralStore]:
    """The sync side's central store of the example site (events, device status): a file
    beside a SQLite desk, the site's schema in the desk's database on PostgreSQL."""
    where = db_url if db_url.startswith("postgresql") else tmp_path / "central-sync.db"
    s = CentralStore(where, SITE, clock=NOW.timestamp)
    yield s
    s.close()


@pytest.fixture
def client(db_url: str, desk: Desk, staff: Staffs, clock: FixedClock,
           store: CentralStore) -> Iterator[TestClient]:
    """The API over the fixture database, its clock the fixture's."""
    app = create_app(db_url, gate_events=store, clock=clock, hasher=FAST_HASHER,
                     login_refusal_delay_s=0)
    with TestClient(app) as c:
        yield c


def login(client: TestClient, role: str) -> dict[str, str]:
    """Log in as the fixture account of ``role``; the Authorization header."""
    response = client.post(f"{API}/login", json={"username": username(role),
                                                 "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def as_role(client: TestClient) -> dict[str, dict[str, str]]:
    """The Authorization header of every role, logged in once."""
    return {role: login(client, role) for role in ROLES}


def errors_by_field(body: dict[str, Any]) -> dict[str, str]:
    """An input error's fields and their English messages."""
    assert body["error"] == "input", body
    return {e["field"]: e["message_en"] for e in body["errors"]}
