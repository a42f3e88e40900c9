"""docs/company.md's backup, done: ``pg_dump --format=custom`` of a desk at work, restored
with ``pg_restore --no-owner`` by a role that is not a superuser (as the desk's own is) into
a new database it owns; the desk opens the copy, every row is there, and the append-only
guards hold in it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from central.services.context import Desk
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from hardware_sim.local_postgres import SUPERUSER, LocalPostgres, server_bin

from .conftest import FAST_HASHER, Staffs, application, owner_line, row_counts

OWNER = "desk_owner"
RESTORED = "desk_restored"


def _as_superuser(pg: LocalPostgres, *statements: str) -> None:
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=SUPERUSER, dbname="postgres",
                         autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql.encode())


@pytest.fixture
def restored_database(postgres: LocalPostgres) -> Iterator[str]:
    """An empty database owned by a role of its own that may log in and nothing more: as
    docs/company.md's ``createdb --owner=menwei``; its URL for that role."""
    _as_superuser(postgres, f'CREATE ROLE "{OWNER}" LOGIN',
                  f'CREATE DATABASE "{RESTORED}" OWNER "{OWNER}" TEMPLATE template0')
    try:
        yield f"postgresql://{OWNER}@127.0.0.1:{postgres.port}/{RESTORED}"
    finally:
        _as_superuser(postgres, f'DROP DATABASE IF EXISTS "{RESTORED}" WITH (FORCE)',
                      f'DROP ROLE IF EXISTS "{OWNER}"')


@pytest.mark.parametrize("desk_db_kind", ["postgresql"], indirect=True)
def test_a_dump_restores_into_a_working_desk(desk: Desk, staff: Staffs, db_url: str,
                                              restored_database: str, tmp_path: Path) -> None:
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(application(
        desk, "王建国", [owner_line(desk, "04A1B2C3", "王建国")])))
    before = row_counts(desk)
    assert before["register_entries"] and before["auth_log"]
    source = make_url(db_url)
    dump = tmp_path / "desk.dump"
    subprocess.run([server_bin("pg_dump"), "--format=custom", f"--file={dump}",
                    f"--host={source.host}", f"--port={source.port}",
                    f"--username={source.username}", str(source.database)],
                   check=True, capture_output=True, text=True)
    target = make_url(restored_database)
    restore = subprocess.run([server_bin("pg_restore"), f"--dbname={target.database}",
                              f"--host={target.host}", f"--port={target.port}",
                              f"--username={target.username}", "--no-owner",
                              "--exit-on-error", str(dump)],
                             capture_output=True, text=True)
    assert restore.returncode == 0, restore.stderr
    copy = Desk.open(restored_database, hasher=FAST_HASHER)
    try:
        assert row_counts(copy) == before
        with copy.engine.connect() as conn:
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text("UPDATE register_entries SET detail = 'changed'"))
            conn.rollback()
            with pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text("DELETE FROM auth_log"))
    finally:
        copy.close()
