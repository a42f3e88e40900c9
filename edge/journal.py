"""``events.db``: the gate's journal. Every event gets the next per-device sequence number
with no gaps; an event is durable (committed, WAL, ``synchronous=FULL``) when ``append``
returns, which is why a grant is appended before its relay fires."""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.migrations import connect, migrate
from edge.ports import Clock

MIGRATIONS = [
    # AUTOINCREMENT: sequence numbers are never reused, even after the newest rows are
    # pruned, and a rolled-back insert gives its number back (so no gaps appear).
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        boot_id TEXT NOT NULL,
        wall REAL NOT NULL,
        mono REAL NOT NULL,
        kind TEXT NOT NULL,
        alarm INTEGER NOT NULL DEFAULT 0,
        clock_trusted INTEGER NOT NULL,
        uid TEXT,
        granted INTEGER,
        reason TEXT,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_alarm ON events (alarm, seq);
    CREATE TABLE sync_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        acked_seq INTEGER NOT NULL
    );
    INSERT INTO sync_state (id, acked_seq) VALUES (1, 0)
    """,
    # 2: the journal's identity. A new file (a lost, damaged or replaced SD card) is a new
    # journal whose numbers start again at 1; the random id keeps central from taking its
    # events for the old journal's. A journal older than ids gets one the first time it is
    # opened by this code, once, under migrate's write lock.
    """
    ALTER TABLE sync_state ADD COLUMN journal_id TEXT NOT NULL DEFAULT '';
    UPDATE sync_state SET journal_id = lower(hex(randomblob(16)))
    """,
]

_INSERT = (
    "INSERT INTO events (boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, "
    "reason, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

OVERFLOW_KIND = "journal_overflow"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One journalled event as read back."""

    seq: int
    boot_id: str
    wall: float
    mono: float
    kind: str
    alarm: bool
    clock_trusted: bool
    uid: str | None
    granted: bool | None
    reason: str | None
    data: dict[str, object]


class Journal:
    """The append-only event journal of one device, bounded by ``max_events``.

    When full, events the central service has acknowledged go first; only if that is not
    enough are the oldest unacknowledged non-alarm events dropped, and a
    ``journal_overflow`` alarm records how many and which sequence numbers were lost.
    Alarms are never dropped.
    """

    def __init__(self, path: Path, clock: Clock, *, max_events: int,
                 boot_id: str | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self.max_events = max_events
        self.boot_id = boot_id or uuid.uuid4().hex
        self.clock_trusted = True
        self._conn = connect(str(path))
        migrate(self._conn, MIGRATIONS, f"journal {path}")
        self._journal_id = str(
            self._conn.execute("SELECT journal_id FROM sync_state").fetchone()[0])
        self._count = int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])
        # Prune in slices so a full journal does not pay a delete on every append.
        self._slack = max(100, max_events // 100)

    def close(self) -> None:
        """Close the file; every appended event is already durable."""
        self._conn.close()

    def append(
        self,
        kind: str,
        data: Mapping[str, object] | None = None,
        *,
        alarm: bool = False,
        uid: str | None = None,
        granted: bool | None = None,
        reason: str | None = None,
    ) -> int:
        """Write one event durably and return its sequence number.

        A storage error (disk full, I/O error, damaged file) is raised with nothing written:
        the insert runs in autocommit, so it is committed whole or rolled back whole (and a
        rolled-back insert gives its sequence number back)."""
        # Outside an explicit transaction sqlite3 runs the insert in autocommit mode, so it is
        # committed (and, with synchronous=FULL, fsynced) before execute returns.
        seq = self._insert(self._conn, kind, data, alarm=alarm, uid=uid, granted=granted,
                           reason=reason)
        if self._count > self.max_events + self._slack:
            try:
                self._prune()
            except sqlite3.Error as exc:
                # The event is committed: report it as written. Pruning (it needs space for
                # its overflow alarm) is tried again at the next append.
                log.warning("journal %s: pruning failed: %s", self.path, exc)
        return seq

    def append_within(self, conn: sqlite3.Connection, kind: str,
                      data: Mapping[str, object] | None = None, *, alarm: bool = False) -> int:
        """Write one event inside the caller's open transaction on ``conn`` (a connection to
        this journal's file) and return its sequence number: it is committed together with
        the caller's other writes, or not at all. The booth keeps its records in the
        journal's file for this: a charge and the event that carries it to central are one
        commit."""
        if not conn.in_transaction:
            raise RuntimeError("append_within needs an open transaction")
        # Counted before the commit: a rolled-back record only makes pruning start one
        # event early.
        return self._insert(conn, kind, data, alarm=alarm)

    def _insert(self, conn: sqlite3.Connection, kind: str, data: Mapping[str, object] | None,
                *, alarm: bool, uid: str | None = None, granted: bool | None = None,
                reason: str | None = None) -> int:
        """Insert one event on ``conn`` (in whatever transaction it is in) and count it; its
        sequence number."""
        cur = conn.execute(
            _INSERT,
            (self.boot_id, self.clock.wall(), self.clock.monotonic(), kind, int(alarm),
             int(self.clock_trusted), uid, None if granted is None else int(granted), reason,
             json.dumps(data, separators=(",", ":"), default=str) if data else "{}"),
        )
        seq = cur.lastrowid
        assert seq is not None
        self._count += 1
        return seq

    @property
    def journal_id(self) -> str:
        """This journal's random identity (32 hex digits), fixed when the file was made."""
        return self._journal_id

    @property
    def acked_seq(self) -> int:
        """The highest sequence number the central service has acknowledged storing."""
        return int(self._conn.execute("SELECT acked_seq FROM sync_state").fetchone()[0])

    def last_seq(self) -> int:
        """The newest sequence number ever given (0 for a new journal)."""
        row = self._conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        found = row.fetchone()
        return int(found[0]) if found else 0

    def count(self) -> int:
        """How many events the journal holds."""
        return self._count

    def _prune(self) -> None:
        excess = self._count - self.max_events
        change = 0  # applied to _count only once committed: a failed prune changes nothing
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            acked = self.acked_seq
            cur = conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? "
                "ORDER BY seq LIMIT ?)", (acked, excess))
            excess -= cur.rowcount
            change -= cur.rowcount
            if excess > 0:
                lost = conn.execute(
                    "SELECT min(seq), max(seq), count(*) FROM (SELECT seq FROM events "
                    "WHERE alarm = 0 AND seq > ? ORDER BY seq LIMIT ?)", (acked, excess),
                ).fetchone()
                first, last, n = lost
                if n:
                    conn.execute(
                        "DELETE FROM events WHERE alarm = 0 AND seq > ? AND seq <= ?",
                        (acked, last))
                    conn.execute(
                        _INSERT,
                        (self.boot_id, self.clock.wall(), self.clock.monotonic(), OVERFLOW_KIND,
                         1, int(self.clock_trusted), None, None, None,
                         json.dumps({"lost": n, "first_seq": first, "last_seq": last})),
                    )
                    change += 1 - n
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        self._count += change

    def read(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Events with sequence numbers above ``after_seq``, oldest first."""
        return [_event(r) for r in self.read_rows(after_seq, limit)]

    def read_rows(self, after_seq: int = 0, limit: int = 1000) -> list[tuple[Any, ...]]:
        """``read`` as the table holds them: ``Event``'s fields in order, ``alarm``,
        ``clock_trusted`` and ``granted`` as 0/1 and ``data`` as its JSON text; for the
        uplink, which passes them on without looking inside."""
        return self._conn.execute(
            "SELECT seq, boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, reason, "
            "data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit),
        ).fetchall()

    def tail(self, n: int) -> list[Event]:
        """The newest ``n`` events, oldest first."""
        rows = self._conn.execute(
            "SELECT seq, boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, reason, "
            "data FROM events ORDER BY seq DESC LIMIT ?", (n,),
        ).fetchall()
        return [_event(r) for r in reversed(rows)]

    def mark_acked(self, seq: int) -> None:
        """Record that the central service stored every event up to ``seq``."""
        self._conn.execute("UPDATE sync_state SET acked_seq = max(acked_seq, ?)", (seq,))


def _event(row: tuple[object, ...]) -> Event:
    seq, boot_id, wall, mono, kind, alarm, trusted, uid, granted, reason, data = row
    return Event(
        seq=int(seq),  # type: ignore[call-overload]
        boot_id=str(boot_id), wall=float(wall), mono=float(mono),  # type: ignore[arg-type]
        kind=str(kind), alarm=bool(alarm), clock_trusted=bool(trusted),
        uid=None if uid is None else str(uid),
        granted=None if granted is None else bool(granted),
        reason=None if reason is None else str(reason),
        data=json.loads(str(data)),
    )


def open_readonly(path: Path) -> sqlite3.Connection:
    """A connection for inspecting a journal from another process (tests, tools)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    return conn
