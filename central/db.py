"""The database: engines, sessions with the append-only guard, and migrations.

SQLite is the default (``sqlite:///var/desk/desk.db``); a company running many sites points
the same code at PostgreSQL. SQLite-specific settings live here and in the migrations only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from threading import Lock
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from central.models import AppendOnly, Base, FrozenColumns

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_URL = "sqlite:///var/desk/desk.db"
# PostgreSQL named without a driver means psycopg 3, the one the desk extra installs
# (SQLAlchemy's own default, psycopg2, is not); "postgres" is libpq's spelling of the scheme.
_POSTGRESQL_DRIVER = "postgresql+psycopg"
_POSTGRESQL_SCHEMES = ("postgresql", "postgres")
# Seconds libpq waits for a server that does not answer (a URL's connect_timeout wins):
# without one a command aimed at a dead address hangs instead of saying so.
_CONNECT_TIMEOUT_S = 10
# Execution option marking a connection that will write: on SQLite it begins IMMEDIATE.
WRITE_OPTION = "menwei_writes"
# SQLite's own busy handler polls for the write lock with sleeps of 1, 2, 5, 10 … 100 ms, so
# a writer that arrives during another's fsync'd commit loses tens of milliseconds. Writers
# of one process queue on a lock instead and start the moment the previous commit is done;
# SQLite's lock stays the guard (and the only one between processes).
_HOLDS_WRITE_TURN = "menwei_write_turn"


class ImmutableRecordError(RuntimeError):
    """Code tried to change what the rules say is never changed (the register, receipts,
    the authorisation log). A programming error, not a user's: it is never caught."""


class DatabaseUnavailableError(RuntimeError):
    """The database URL cannot be used: it does not parse, its driver is not installed, or
    the database does not answer. Bad input to a command (exit 2), said in one line."""

    def __init__(self, url: str, problem_en: str, problem_zh: str) -> None:
        self.url = url
        self.message_en = f"database {url}: {problem_en}"
        self.message_zh = f"数据库 {url}：{problem_zh}"
        super().__init__(f"{self.message_en} / {self.message_zh}")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def database_url(url: str) -> URL:
    """``url`` parsed; ``postgresql://…`` without a driver gets psycopg 3's."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # Not echoed: a URL that does not parse may still hold a password.
        raise DatabaseUnavailableError(
            "(--db)", "not a database URL; expected e.g. sqlite:////var/lib/menwei-desk/"
            "desk.db or postgresql://menwei@/menwei_desk",
            "不是数据库地址，例如 sqlite:////var/lib/menwei-desk/desk.db 或 "
            "postgresql://menwei@/menwei_desk") from exc
    if parsed.drivername in _POSTGRESQL_SCHEMES:
        parsed = parsed.set(drivername=_POSTGRESQL_DRIVER)
    return parsed


def shown_url(url: str | URL) -> str:
    """The URL as a message may show it: the password hidden."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "(--db)"
    return parsed.render_as_string(hide_password=True)


class DeskSession(Session):
    """The desk's session class; the guards below listen on it, not on every Session."""


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; for a SQLite file, its directory is created, WAL with
    ``synchronous=FULL`` (money and the register must survive a power cut), and a
    transaction on a connection marked with WRITE_OPTION begins IMMEDIATE: it takes the
    write lock at once, so two desks never both read a receipt number and then collide on
    writing it. Reads begin deferred and never wait for a writer (WAL).

    PostgreSQL without a driver in the URL uses psycopg 3 (``database_url``). A URL that
    does not parse or whose driver is not installed raises DatabaseUnavailableError; so
    does a database that does not answer, when ``connected`` first connects."""
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite":
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        return _create_engine(parsed, echo=echo, pool_pre_ping=True,
                              connect_args=connect_args)
    if parsed.database and parsed.database != ":memory:":
        try:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailableError(
                shown_url(parsed), f"cannot create its folder: {exc.strerror}",
                f"无法创建所在目录：{exc.strerror}") from exc
    busy_timeout_s = 15.0
    engine = _create_engine(parsed, echo=echo, connect_args={"timeout": busy_timeout_s})
    write_turn = Lock()

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below); pysqlite's own handling would defer it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        info = conn.connection.info  # the pool record's: the checkin below sees it
        if immediate and not info.get(_HOLDS_WRITE_TURN):
            # Past the timeout SQLite's busy handler decides, as it would without the queue.
            info[_HOLDS_WRITE_TURN] = write_turn.acquire(timeout=busy_timeout_s)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @event.listens_for(engine, "checkin")
    @event.listens_for(engine, "close")
    def _end_write_turn(_dbapi_connection: Any, record: Any) -> None:
        # A session gives its connection back when its transaction ends (committed or rolled
        # back); a connection that is closed or invalidated instead never keeps the turn.
        if record is not None and record.info.pop(_HOLDS_WRITE_TURN, False):
            write_turn.release()

    return engine


def _create_engine(url: URL, **options: Any) -> Engine:
    try:
        return create_engine(url, **options)
    except (ArgumentError, ImportError) as exc:
        # NoSuchModuleError (an ArgumentError): no such dialect or driver in SQLAlchemy;
        # ImportError: SQLAlchemy knows the driver but it is not installed.
        raise DatabaseUnavailableError(
            shown_url(url), f"its driver {url.drivername!r} is not available ({_first_line(exc)});"
            " PostgreSQL takes postgresql://… (psycopg 3, installed with the desk)",
            f"驱动 {url.drivername!r} 不可用；PostgreSQL 请写 postgresql://…") from exc


@contextmanager
def connected(engine: Engine) -> Iterator[Connection]:
    """A connection of ``engine``; a database that cannot be reached raises
    DatabaseUnavailableError naming it (and why, in the driver's first line)."""
    try:
        conn = engine.connect()
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailableError(
            shown_url(engine.url), f"cannot connect: {_first_line(exc.orig or exc)}",
            f"无法连接：{_first_line(exc.orig or exc)}") from exc
    with conn:
        yield conn


def make_sessionmaker(engine: Engine, *, writes: bool = False) -> sessionmaker[DeskSession]:
    """Sessions that refuse to alter append-only and frozen records; ``writes`` for the
    sessions of actions (see make_engine)."""
    bind = engine.execution_options(**{WRITE_OPTION: True}) if writes else engine
    return sessionmaker(bind, class_=DeskSession, expire_on_commit=False)


@event.listens_for(DeskSession, "before_flush")
def _guard_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    for obj in session.deleted:
        if isinstance(obj, AppendOnly | FrozenColumns):
            raise ImmutableRecordError(f"{type(obj).__name__} rows are never deleted")
    for obj in session.dirty:
        if isinstance(obj, AppendOnly) and session.is_modified(obj):
            raise ImmutableRecordError(f"{type(obj).__name__} rows are append-only")
        if isinstance(obj, FrozenColumns):
            state = inspect(obj)
            changed = [name for name in type(obj).__frozen__
                       if state.attrs[name].history.has_changes()]
            if changed:
                raise ImmutableRecordError(
                    f"{type(obj).__name__}.{', '.join(sorted(changed))} never change; "
                    "void and write a new one instead")


@cache
def _guarded_tables() -> frozenset[str]:
    return frozenset(
        mapper.local_table.name for mapper in Base.registry.mappers  # type: ignore[attr-defined]
        if issubclass(mapper.class_, AppendOnly | FrozenColumns))


@event.listens_for(DeskSession, "do_orm_execute")
def _guard_bulk(state: ORMExecuteState) -> None:
    # Bulk UPDATE/DELETE statements bypass before_flush; refuse them on guarded tables.
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.local_table.name in _guarded_tables():  # type: ignore[attr-defined]
        raise ImmutableRecordError(f"bulk update/delete of {mapper.local_table.name} refused")  # type: ignore[attr-defined]


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini to ship or lose)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found in " + str(MIGRATIONS_DIR))
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None: empty database)."""
    with connected(engine) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> str:
    """Apply every migration not yet applied, in one transaction; return the head.

    Running it on an up-to-date database changes nothing. A database newer than this code
    is refused rather than guessed at.
    """
    head = head_revision()
    current = current_revision(engine)
    if current is not None and current != head:
        known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config())
                 .walk_revisions()}
        if current not in known:
            raise RuntimeError(f"the database is at migration {current}, which this software "
                               "does not know; install the newer release instead")
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    return head


class SchemaOutOfDateError(RuntimeError):
    """The database is not at this code's newest migration."""


def require_current_schema(engine: Engine) -> None:
    """Refuse to work on a database that ``create-db`` has not brought up to date."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutOfDateError(
            f"database schema is at {current or 'nothing'}, this software needs {head}: "
            "run `menwei-desk create-db` first")
