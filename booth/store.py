"""``events.db`` of a booth: the booth's own records (shifts, visitors, slips let out,
parking charges) and the journal that carries each of them to central, in one SQLite file.

A record and its journal event are written in one transaction (``BoothStore.record``), so a
power cut leaves both or neither: a charge is never in the float without being on its way
to the desk, nor on its way without being in the float. The journal is the gate's
(edge.journal: gap-free sequence, WAL, ``synchronous=FULL``) and the booth's sync agent ships
it with the same uplink as a gate's, acknowledged and never pruned before the ack.

The journal owns ``PRAGMA user_version``; each part of the booth (shifts, visitors, ...)
owns its tables and their migrations under its own name in ``booth_schema``, so parts are
added without touching each other's steps."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.journal import Journal
from edge.migrations import SchemaTooNewError, connect
from edge.ports import Clock


class Recording:
    """One open write transaction of the booth: table writes and journal events, committed
    together when the ``record`` block ends."""

    def __init__(self, conn: sqlite3.Connection, journal: Journal) -> None:
        self._conn = conn
        self._journal = journal
        self.seqs: list[int] = []

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement in the transaction."""
        return self._conn.execute(sql, params)

    def append(self, kind: str, data: Mapping[str, object], *, alarm: bool = False) -> int:
        """Journal one event (it reaches central exactly once); its sequence number."""
        seq = self._journal.append_within(self._conn, kind, data, alarm=alarm)
        self.seqs.append(seq)
        return seq


class BoothStore:
    """The booth's file. Thread-safe: the page's requests run on several threads, and every
    read and every ``record`` block takes the store's lock."""

    def __init__(self, path: Path, clock: Clock, *, max_events: int) -> None:
        self.path = path
        self.clock = clock
        self.journal = Journal(path, clock, max_events=max_events)
        self._conn = connect(str(path))
        self._conn.execute("CREATE TABLE IF NOT EXISTS booth_schema "
                           "(part TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the file; every recorded write is already durable."""
        with self._lock:
            self._conn.close()
            self.journal.close()

    def migrate(self, part: str, steps: Sequence[str]) -> int:
        """Bring ``part``'s tables up to date, each step in its own transaction; the version.
        A file written by a newer booth is refused (SchemaTooNewError), not guessed at."""
        with self._lock:
            while True:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    row = self._conn.execute("SELECT version FROM booth_schema WHERE part = ?",
                                             (part,)).fetchone()
                    current = int(row[0]) if row else 0
                    if current > len(steps):
                        raise SchemaTooNewError(
                            f"{self.path}: the booth's {part} tables are at version {current} "
                            f"but this software knows only {len(steps)}; install the newer "
                            "release instead of downgrading")
                    if current == len(steps):
                        self._conn.rollback()
                        return current
                    for statement in filter(None, (s.strip() for s in steps[current].split(";"))):
                        self._conn.execute(statement)
                    self._conn.execute(
                        "INSERT INTO booth_schema (part, version) VALUES (?, ?) "
                        "ON CONFLICT (part) DO UPDATE SET version = excluded.version",
                        (part, current + 1))
                except BaseException:
                    self._conn.rollback()
                    raise
                self._conn.commit()

    @contextmanager
    def record(self) -> Iterator[Recording]:
        """A write transaction: everything written and journalled in the block is committed
        (fsynced) together when it ends, or rolled back together if it raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Recording(self._conn, self.journal)
            except BaseException:
                self._conn.rollback()
                raise
            self._conn.commit()

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read (a consistent snapshot, WAL: never waits for a writer)."""
        with self._lock:
            cur = self._conn.execute(sql, params)
            cur.row_factory = sqlite3.Row
            return list(cur.fetchall())

    def one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Row | None:
        """The first row of a read, or None."""
        rows = self.query(sql, params)
        return rows[0] if rows else None
