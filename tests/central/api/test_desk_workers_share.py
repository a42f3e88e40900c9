"""Two ``menwei-desk serve`` workers over one database (a company runs several against one
PostgreSQL; a SQLite file shared by two processes holds the same): a session opened at one
is a session at the other, a logout at one ends it at both, and failed logins count
together, so a second worker is not a second round of guesses."""

from __future__ import annotations

from pathlib import Path

import httpx

from central.services.context import Desk

from ..conftest import PASSWORD, Staffs
from .live_desk import serving


def test_sessions_and_the_login_throttle_are_the_same_at_every_worker(
        db_url: str, desk: Desk, staff: Staffs, tmp_path: Path) -> None:
    with serving(db_url, tmp_path / "one.log") as one, \
            serving(db_url, tmp_path / "two.log") as two:
        token = httpx.post(f"{one}/login", json={"username": "clerk",
                                                "password": PASSWORD}).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{two}/me", headers=bearer).json()["staff"]["username"] == "clerk"
        assert httpx.post(f"{two}/logout", headers=bearer).status_code in (200, 204)
        assert httpx.get(f"{one}/me", headers=bearer).status_code == 401
        # Five failures on one name from one address make it wait: three here, two there.
        for base in (one, one, one, two, two):
            wrong = httpx.post(f"{base}/login", json={"username": "director",
                                                     "password": "guess"})
            assert wrong.status_code == 401, wrong.text
        for base in (one, two):
            refused = httpx.post(f"{base}/login", json={"username": "director",
                                                       "password": PASSWORD})
            assert refused.status_code == 429 and "Retry-After" in refused.headers
