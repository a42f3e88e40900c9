"""The database: create-db on an empty file, twice; migrations in step with the models;
the command line."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event, inspect, text

from central.cli import main
from central.db import (
    SchemaOutOfDateError,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    make_sessionmaker,
    require_current_schema,
    upgrade,
)
from central.models import Base
from central.services.context import Desk
from central.services.staff import login

from .conftest import EXAMPLES, FAST_HASHER


def test_create_db_on_empty_file_builds_the_schema(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'desk.db'}"
    assert main(["create-db", "--db", url]) == 0
    assert "schema at migration" in capsys.readouterr().out
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_create_db_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    assert main(["create-db", "--db", url]) == 0
    assert main(["load-site", "--db", url, str(EXAMPLES / "site.toml")]) == 0
    assert main(["create-db", "--db", url]) == 0
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM persons")).scalar() == 10
    assert upgrade(engine) == head_revision()
    engine.dispose()


def test_migrations_match_the_models(empty_db_url: str) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []
    engine.dispose()


def test_commands_refuse_a_database_not_created(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    engine = make_engine(url)
    with pytest.raises(SchemaOutOfDateError):
        require_current_schema(engine)
    engine.dispose()
    with pytest.raises(SystemExit):
        main(["load-site", "--db", url, str(EXAMPLES / "site.toml")])
    assert "run `menwei-desk create-db` first" in capsys.readouterr().err


def test_create_staff_from_password_file(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    main(["create-db", "--db", url])
    main(["load-site", "--db", url, str(EXAMPLES / "site.toml")])
    secret = tmp_path / "pw"
    secret.write_text("a long enough password\n", encoding="utf-8")
    assert main(["create-staff", "--db", url, "--role", "front_desk_lead", "--username",
                 "lead.wu", "--name", "吴主管", "--site", "sunrise-garden",
                 "--password-file", str(secret)]) == 0
    assert "lead.wu (front_desk_lead) created" in capsys.readouterr().out
    desk = Desk.open(url, hasher=FAST_HASHER)
    try:
        assert login(desk, "lead.wu", "a long enough password").site == "sunrise-garden"
    finally:
        desk.close()
    secret.write_text("short\n", encoding="utf-8")
    assert main(["create-staff", "--db", url, "--role", "clerk", "--username", "x1",
                 "--password-file", str(secret)]) == 2
    assert "password: at least 10 characters" in capsys.readouterr().err


def test_writers_take_turns_and_every_ending_gives_the_turn_back(tmp_path: Path) -> None:
    """A second writer of the process waits for its turn on a lock, not in SQLite's busy
    handler (which polls with sleeps of up to 100 ms: a clerk's write arriving during a
    login's commit lost tens of ms). A commit, a rollback and a dropped connection each
    give the turn back."""
    engine = make_engine(f"sqlite:///{tmp_path / 'desk.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    writes = make_sessionmaker(engine, writes=True)
    begun: list[int] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            begun.append(threading.get_ident())

    def write_one() -> None:
        with writes() as session, session.begin():
            session.execute(text("INSERT INTO t VALUES (1)"))

    first = writes()
    with first.begin():
        first.execute(text("INSERT INTO t VALUES (1)"))
        second = threading.Thread(target=write_one)
        second.start()
        second.join(0.5)
        assert second.is_alive() and second.ident not in begun, \
            "the second writer went to SQLite's busy handler instead of waiting its turn"
    first.close()
    second.join(10)
    assert not second.is_alive()

    with pytest.raises(ValueError), writes() as session, session.begin():
        session.execute(text("INSERT INTO t VALUES (1)"))
        raise ValueError("the action is refused")
    dropped = writes()
    dropped.begin()
    dropped.execute(text("INSERT INTO t VALUES (1)"))
    dropped.connection().invalidate()
    dropped.close()
    after = threading.Thread(target=write_one)
    after.start()
    after.join(10)
    assert not after.is_alive(), "a writer still holds the turn"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 3


def test_upgrading_numbers_the_existing_auth_log_per_site_and_keeps_it_append_only(
        empty_db_url: str) -> None:
    """Migration 0013 on a desk with history: each site's entries numbered 1, 2, … in the
    order they were written, each site's head at its last number; the log still refuses
    UPDATE and DELETE (SQLite rebuilt the table to make the column NOT NULL)."""
    engine = make_engine(empty_db_url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0012_postgresql_guards")
        now = datetime(2026, 6, 1, tzinfo=UTC)
        for code in ("north", "south"):
            conn.execute(text("INSERT INTO sites (code, name, timezone, created_at) "
                              "VALUES (:c, :c, 'Asia/Shanghai', :t)"), {"c": code, "t": now})
        for site, uid in (("north", "01"), ("south", "02"), ("north", "03"), ("north", "04"),
                          ("south", "05")):
            conn.execute(text("INSERT INTO auth_log (site, uid, card, created_at) "
                              "VALUES (:s, :u, '{}', :t)"), {"s": site, "u": uid, "t": now})
    upgrade(engine)
    with engine.connect() as conn:
        numbered = conn.execute(text(
            "SELECT site, site_seq, uid FROM auth_log ORDER BY seq")).all()
        heads: dict[str, int] = dict(conn.execute(
            text("SELECT code, auth_log_head FROM sites")).all())
    assert [tuple(r) for r in numbered] == [("north", 1, "01"), ("south", 1, "02"),
                                            ("north", 2, "03"), ("north", 3, "04"),
                                            ("south", 2, "05")]
    assert heads == {"north": 3, "south": 2}
    with engine.connect() as conn:
        for sql in ("UPDATE auth_log SET card = 'x'", "DELETE FROM auth_log"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
        # A new entry still takes a number never given before (AUTOINCREMENT kept).
        conn.execute(text("INSERT INTO auth_log (site, site_seq, uid, card, created_at) "
                          "VALUES ('north', 4, '06', '{}', :t)"), {"t": now})
        assert conn.execute(text("SELECT max(seq) FROM auth_log")).scalar() == 6
    engine.dispose()
