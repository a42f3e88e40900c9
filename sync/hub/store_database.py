"""Where a site's central store (sync/hub/store.py) keeps its tables: a SQLite file of its
own (one compound, the default), or the company's PostgreSQL database, in a schema of its
own per site (``hub_<site>``), beside the desk's tables.

The store's SQL is written once, for both: ``?`` placeholders, ``ON CONFLICT``, ``RETURNING``,
no SQLite-only functions. What differs — connecting, the schema's versions, beginning a
write, and storing events into PostgreSQL's month partitions — is here.

On PostgreSQL the gates' events are partitioned by month of the device's wall clock
(``events_2026_12``), made as the first event of a month arrives; a wall clock before 2000
or from 2100 on (a gate whose clock was never set) goes to one partition for each side.
A partition's unique key must hold the partition column, so idempotency on (device,
journal, seq) is kept by reading which of a batch's seqs are stored before inserting
(``insert_events``), under the journal's row lock (``lock_journal``)."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from edge.migrations import connect, migrate
from sync.hub.schema import (
    MIGRATIONS,
    POSTGRES_SCHEMA,
    POSTGRES_SCHEMA_VERSION,
    POSTGRES_STEPS,
)

# What psycopg needs instead of SQLite's ``?``; a literal % must be doubled for it.
_PLACEHOLDER = re.compile(r"\?")
# psycopg's TransactionStatus IDLE and UNKNOWN (psycopg is imported only where a desk uses
# it).
_IDLE, _UNKNOWN = 0, 4
_FAR_PAST, _FAR_FUTURE = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


class StoreCursor(Protocol):
    """What the store reads from a statement's cursor."""

    def fetchone(self) -> Any:
        """The next row, or None."""
        ...

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        ...

    def __iter__(self) -> Iterator[Any]:
        """The remaining rows."""
        ...


class StoreConnection(Protocol):
    """The part of ``sqlite3.Connection`` the store uses; PostgreSQL's adapter has it too."""

    @property
    def total_changes(self) -> int:
        """Rows changed by this connection so far."""
        ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> StoreCursor:
        """Run one statement; its cursor."""
        ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> object:
        """Run one statement for each parameter row."""
        ...

    def commit(self) -> None:
        """Commit the open transaction."""
        ...

    def rollback(self) -> None:
        """Roll the open transaction back."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class StoreDatabase(Protocol):
    """One site's store tables in one database."""

    where: str

    @property
    def failures(self) -> tuple[type[Exception], ...]:
        """What the database raises when it fails (down, full, a lost connection, a
        deadlock), as against a batch it cannot take: what failed is tried again."""
        ...

    def connect(self) -> StoreConnection:
        """A new connection for one thread, the schema ready."""
        ...

    def usable(self, conn: StoreConnection) -> bool:
        """Whether ``conn`` can still be used (a server connection may have been lost)."""
        ...

    def begin(self, conn: StoreConnection, *, durable: bool) -> None:
        """Begin a write transaction; ``durable=False`` may commit without waiting for the
        disk (what a power cut may lose because the gates say it again)."""
        ...

    def end(self, conn: StoreConnection, *, durable: bool) -> None:
        """After commit or rollback: the connection as ``connect`` gave it."""
        ...

    def prepare_walls(self, conn: StoreConnection, walls: Collection[float]) -> None:
        """Before a write that stores events with these wall clocks: make what they need
        (PostgreSQL's month partitions). Called outside a transaction."""
        ...

    def lock_log(self, conn: StoreConnection) -> None:
        """Hold the authorisation log until commit: its next number is read, then written
        (one worker relays a site at a time; this keeps a second from numbering twice)."""
        ...

    def lock_journal(self, conn: StoreConnection, device: str, journal_id: str) -> None:
        """Hold the journal's progress row until commit: two workers storing batches of one
        journal at once take turns (SQLite's writer lock already does)."""
        ...

    def insert_events(self, conn: StoreConnection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert event rows (``device, journal_id, seq, …`` as store._EVENT_COLUMNS),
        skipping any whose (device, journal_id, seq) is stored; how many were new."""
        ...


class SqliteStoreDatabase:
    """The store in a SQLite file of its own (WAL, ``synchronous=FULL``)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.where = str(path)

    @property
    def failures(self) -> tuple[type[Exception], ...]:
        """Any of SQLite's errors."""
        return (sqlite3.Error,)

    def connect(self) -> StoreConnection:
        """A connection in WAL mode; the schema migrated the first time."""
        conn = connect(str(self.path))
        migrate(conn, MIGRATIONS, f"central store {self.path}")
        return conn

    def usable(self, conn: StoreConnection) -> bool:
        """Always: a file does not go away under its connection."""
        return True

    def begin(self, conn: StoreConnection, *, durable: bool) -> None:
        """BEGIN IMMEDIATE: the write lock at once."""
        if not durable:
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")

    def end(self, conn: StoreConnection, *, durable: bool) -> None:
        """Back to ``synchronous=FULL``."""
        if not durable:
            conn.execute("PRAGMA synchronous=FULL")

    def prepare_walls(self, conn: StoreConnection, walls: Collection[float]) -> None:
        """Nothing: one events table."""

    def lock_log(self, conn: StoreConnection) -> None:
        """Nothing: the transaction holds SQLite's only write lock."""

    def lock_journal(self, conn: StoreConnection, device: str, journal_id: str) -> None:
        """Nothing: the transaction holds SQLite's only write lock."""

    def insert_events(self, conn: StoreConnection, rows: Sequence[tuple[Any, ...]]) -> int:
        """One INSERT … ON CONFLICT DO NOTHING for the batch."""
        before = conn.total_changes
        conn.executemany(_INSERT_EVENTS + " ON CONFLICT (device, journal_id, seq) DO NOTHING",
                         rows)
        return conn.total_changes - before


_INSERT_EVENTS = ("INSERT INTO events (device, journal_id, seq, boot_id, wall, mono, kind, "
                  "alarm, clock_trusted, uid, granted, reason, data, received_at) VALUES "
                  "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


# The primary key holds the partition key (wall), so ON CONFLICT alone would not see a seq
# stored in another month: NOT EXISTS looks across the partitions, under the journal's lock.
_INSERT_NEW_EVENTS = (
    _INSERT_EVENTS.partition(" VALUES ")[0] + " SELECT r.* FROM unnest(?::text[], ?::text[], "
    "?::bigint[], ?::text[], ?::float8[], ?::float8[], ?::text[], ?::integer[], "
    "?::integer[], ?::text[], ?::integer[], ?::text[], ?::text[], ?::float8[]) AS r (device, "
    "journal_id, seq, boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, "
    "reason, data, received_at) WHERE NOT EXISTS (SELECT 1 FROM events e WHERE "
    "e.device = r.device AND e.journal_id = r.journal_id AND e.seq = r.seq) "
    "ON CONFLICT DO NOTHING")


class PostgresConnection:
    """A psycopg connection with the store's sqlite3-style calls: ``?`` placeholders,
    ``total_changes``, and transactions only where the store begins one (autocommit
    otherwise, so a read never leaves a transaction open holding its locks)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.total_changes = 0
        self._sql: dict[str, str] = {}
        self.schema: str | None = None  # the search_path SiteConnection last set

    def _translate(self, sql: str) -> str:
        done = self._sql.get(sql)
        if done is None:
            done = self._sql[sql] = _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
        return done

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        """Run one statement; its cursor."""
        cursor = self.raw.cursor()
        cursor.execute(self._translate(sql), tuple(parameters))
        if cursor.rowcount > 0 and cursor.description is None:
            self.total_changes += cursor.rowcount
        return cursor

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        """Run one statement for each parameter row (psycopg pipelines them)."""
        rows = [tuple(p) for p in parameters]
        cursor = self.raw.cursor()
        if rows:
            cursor.executemany(self._translate(sql), rows)
            self.total_changes += max(cursor.rowcount, 0)
        return cursor

    def rollback(self) -> None:
        """Roll back the transaction ``begin`` opened."""
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        """Close."""
        self.raw.close()


class SiteConnection:
    """A site's store on its thread's connection to the company's database
    (``ThreadConnections``): every statement runs on the site's schema.

    The connection's ``search_path`` is set only when the thread moves to another site, in
    the same round trip as the next BEGIN where it can. Moving while a transaction is open
    would run the rest of that transaction on another site's tables, so it is refused."""

    def __init__(self, owner: ThreadConnections, shared: PostgresConnection,
                 schema: str) -> None:
        self._owner = owner
        self.shared = shared
        self.schema = schema
        self.closed = False

    @property
    def total_changes(self) -> int:
        """Rows changed by the thread's connection so far (whatever the site)."""
        return self.shared.total_changes

    def usable(self) -> bool:
        """Not closed, and the thread's connection still stands."""
        raw = self.shared.raw
        return not self.closed and not raw.closed and not raw.broken

    def _set_path(self) -> str:
        """The SET that moves the connection to this site, or "" when it is there."""
        shared = self.shared
        if shared.schema == self.schema:
            return ""
        # A closed or lost connection (UNKNOWN) fails at the statement, as psycopg says.
        if shared.raw.info.transaction_status not in (_IDLE, _UNKNOWN):
            raise RuntimeError(
                f"a transaction of schema {shared.schema} is open on this thread's "
                f"connection: {self.schema} cannot be used until it ends")
        shared.schema = None  # unknown until the SET is known to have run
        return f'SET search_path TO "{self.schema}"'

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Any:
        """Run one statement on the site's schema; its cursor."""
        self._move()
        return self.shared.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any:
        """Run one statement for each parameter row, on the site's schema."""
        self._move()
        return self.shared.executemany(sql, parameters)

    def _move(self) -> None:
        path = self._set_path()
        if path:
            # Not prepared: a hundred sites' SETs would crowd out the store's statements.
            self.shared.raw.execute(path, prepare=False)
            self.shared.schema = self.schema

    def begin(self, *, durable: bool) -> None:
        """BEGIN on the site's schema, in one round trip (with the move to the site and a
        write's ``synchronous_commit`` when it needs them)."""
        path = self._set_path()
        statements = [path] if path else []
        statements.append("BEGIN")
        if not durable:
            statements.append("SET LOCAL synchronous_commit TO off")
        # No parameters: psycopg sends the statements as one simple query.
        raw = self.shared.raw
        try:
            raw.execute("; ".join(statements))
        except BaseException:
            # A BEGIN that ran before a later part failed would leave the thread's
            # connection in a transaction, refused to every site from then on.
            if raw.info.transaction_status not in (_IDLE, _UNKNOWN):
                try:
                    self.rollback()
                except Exception:  # the first failure is the one to report
                    self.shared.schema = None
            raise
        if path:
            # A rollback would take the SET back with the transaction: see rollback.
            self.shared.schema = self.schema

    def commit(self) -> None:
        """Commit the open transaction."""
        try:
            done = self.shared.raw.execute("COMMIT")
        except BaseException:
            self.shared.schema = None  # whether the SET in it stands is unknown
            raise
        if done.statusmessage != "COMMIT":
            # PostgreSQL ends a failed transaction's COMMIT as a ROLLBACK, the SET with it.
            self.shared.schema = None

    def rollback(self) -> None:
        """Roll the open transaction back (a SET made in it with it)."""
        self.shared.schema = None
        self.shared.rollback()

    def close(self) -> None:
        """This site is done with the thread's connection; the connection is closed with
        its last site."""
        if not self.closed:
            self.closed = True
            self._owner.release(self)


class ThreadConnections:
    """One connection per thread and database for every site's store of a process: a desk
    worker's thread that serves a hundred sites (an ingest lane, the relay, a request)
    keeps one server connection, not a hundred. PostgreSQL spends a process on each; a
    company's hundred compounds on two workers held more than a thousand before."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._users: dict[PostgresConnection, set[SiteConnection]] = {}  # open, by connection

    def connection(self, url: str, schema: str) -> SiteConnection:
        """This thread's connection to ``url``, for ``schema``'s store."""
        import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

        mine: dict[str, PostgresConnection] | None = getattr(self._local, "by_url", None)
        if mine is None:
            mine = self._local.by_url = {}
        shared = mine.get(url)
        with self._lock:
            # Taken under the lock: another thread closing a store may be closing this very
            # connection (its last site's) at this moment; one with no site is closed.
            if shared is not None and shared in self._users and not shared.raw.broken:
                conn = SiteConnection(self, shared, schema)
                self._users[shared].add(conn)
                return conn
        shared = mine[url] = PostgresConnection(psycopg.connect(url, autocommit=True))
        conn = SiteConnection(self, shared, schema)
        with self._lock:
            self._users[shared] = {conn}
        return conn

    def release(self, conn: SiteConnection) -> None:
        """``conn``'s site is done with its connection: closed when no site uses it."""
        with self._lock:
            users = self._users.get(conn.shared)
            if users is None:
                return
            users.discard(conn)
            if users:
                return
            del self._users[conn.shared]
        with conn.shared.raw.lock:  # after a statement under way on its thread
            conn.shared.close()


_SHARED = ThreadConnections()


def schema_name(site: str) -> str:
    """The PostgreSQL schema holding ``site``'s store (site codes are letters, digits, '.',
    '_' and '-': sync/broker/config.check_id; quoted wherever used)."""
    return f"hub_{site}"


def _month_bounds(wall: float) -> tuple[str, str, str]:
    """(partition name suffix, first instant, first instant after) of ``wall``'s month."""
    if wall < _FAR_PAST.timestamp():
        return "before_2000", "MINVALUE", str(_FAR_PAST.timestamp())
    if wall >= _FAR_FUTURE.timestamp():
        return "from_2100", str(_FAR_FUTURE.timestamp()), "MAXVALUE"
    at = datetime.fromtimestamp(wall, UTC)
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    end = datetime(at.year + at.month // 12, at.month % 12 + 1, 1, tzinfo=UTC)
    return f"{at.year:04d}_{at.month:02d}", str(start.timestamp()), str(end.timestamp())


class PostgresStoreDatabase:
    """The store in the company's PostgreSQL database, schema ``hub_<site>``."""

    def __init__(self, url: str, site: str) -> None:
        self.url = libpq_url(url)
        self.site = site
        self.schema = schema_name(site)
        self.where = f"{_without_password(self.url)} schema {self.schema}"
        self._partitions: set[str] = set()
        self._partitions_lock = threading.Lock()
        self._ready = False  # the schema made or upgraded by this process
        self._ready_lock = threading.Lock()

    @property
    def failures(self) -> tuple[type[Exception], ...]:
        """The server's or the connection's failures (a row the server refuses is not)."""
        import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

        return (psycopg.OperationalError, psycopg.InterfaceError)

    def connect(self) -> StoreConnection:
        """This thread's connection to the company's database, on the site's schema; the
        schema made or upgraded the first time."""
        conn = _SHARED.connection(self.url, self.schema)
        if not self._ready:
            try:
                with self._ready_lock:
                    if not self._ready:
                        self._migrate(conn)
                        self._ready = True
            except BaseException:
                conn.close()
                raise
        return conn

    def _migrate(self, conn: StoreConnection) -> None:
        # One process at a time creates or upgrades a site's schema (many desk workers
        # start together); the lock ends with the transaction.
        conn.execute("BEGIN")
        try:
            self._create_or_check(conn)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def _create_or_check(self, conn: StoreConnection) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"menwei-hub:{self.site}",))
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
        conn.execute("CREATE TABLE IF NOT EXISTS store_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM store_version").fetchone()
        if row is None:
            _run_script(conn, POSTGRES_SCHEMA)
            conn.execute("INSERT INTO store_version (version) VALUES (?)",
                         (POSTGRES_SCHEMA_VERSION,))
            current = POSTGRES_SCHEMA_VERSION
        else:
            current = int(row[0])
        if current > len(MIGRATIONS):
            raise RuntimeError(f"central store {self.where} is at schema version {current} "
                               f"but this software knows only {len(MIGRATIONS)}; install the "
                               "newer release instead of downgrading")
        for version in range(current + 1, len(MIGRATIONS) + 1):
            _run_script(conn, POSTGRES_STEPS[version])
            conn.execute("UPDATE store_version SET version = ?", (version,))

    def usable(self, conn: StoreConnection) -> bool:
        """Whether the server connection still stands (a restarted server, a network
        failure or an administrator's pg_terminate_backend end it: then a new one is made)."""
        return isinstance(conn, SiteConnection) and conn.usable()

    def begin(self, conn: StoreConnection, *, durable: bool) -> None:
        """BEGIN; a write that need not wait for the disk says so for this transaction
        only."""
        if not isinstance(conn, SiteConnection):
            raise TypeError("a PostgreSQL store's connections come from its connect()")
        conn.begin(durable=durable)

    def end(self, conn: StoreConnection, *, durable: bool) -> None:
        """Nothing: SET LOCAL ended with the transaction."""

    def lock_log(self, conn: StoreConnection) -> None:
        """Lock the log against other writers (readers go on)."""
        conn.execute("LOCK TABLE auth_log IN EXCLUSIVE MODE")

    def lock_journal(self, conn: StoreConnection, device: str, journal_id: str) -> None:
        """Take the journal's row lock; a journal new to the store has no row yet: its first
        batches queue on a lock of its own (ended with the transaction)."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))",
                     (f"menwei-journal:{self.site}:{device}:{journal_id}",))

    def insert_events(self, conn: StoreConnection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert the rows whose (device, journal_id, seq) is not stored yet, each into its
        month's partition (made when missing), in one statement: the rows go as one array
        per column, since a statement each (or a look-up, then the inserts) cost most of a
        busy desk worker's time on its round trips."""
        if not rows:
            return 0
        fresh, seen = [], set()
        for row in rows:
            if row[2] not in seen:  # the first of a seq sent twice in one batch
                seen.add(row[2])
                fresh.append(row)
        before = conn.total_changes
        conn.execute(_INSERT_NEW_EVENTS, [list(column) for column in zip(*fresh, strict=True)])
        return conn.total_changes - before

    def prepare_walls(self, conn: StoreConnection, walls: Collection[float]) -> None:
        """Make the month partitions these wall clocks fall in, each in a short transaction
        of its own under a lock (workers may race to make the same month)."""
        for suffix, low, high in sorted({_month_bounds(w) for w in walls}):
            with self._partitions_lock:
                if suffix in self._partitions:
                    continue
            conn.execute("BEGIN")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(?))",
                             (f"menwei-partition:{self.site}",))
                conn.execute(f"CREATE TABLE IF NOT EXISTS events_{suffix} PARTITION OF events "
                             f"FOR VALUES FROM ({low}) TO ({high})")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
            with self._partitions_lock:
                self._partitions.add(suffix)


def _run_script(conn: StoreConnection, script: str) -> None:
    for statement in filter(None, (s.strip() for s in script.split(";"))):
        conn.execute(statement)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as libpq takes it (``postgresql://``)."""
    return re.sub(r"^postgresql\+[a-z0-9_]+://", "postgresql://", url)


def _without_password(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def store_database(where: Path | str, site: str) -> StoreDatabase:
    """The store's database: a path is a SQLite file; a ``postgresql://`` URL is the
    company's database (the site's own schema in it)."""
    if isinstance(where, str) and where.startswith("postgresql"):
        return PostgresStoreDatabase(where, site)
    return SqliteStoreDatabase(Path(where))

