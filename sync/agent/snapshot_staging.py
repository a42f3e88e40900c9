"""Staging the chunks of a snapshot in ``auth.db`` until all of them are there, then putting
the whole list in force at once.

A snapshot arrives as signed chunks sharing a ``snapshot_id``, numbered from 0; the last says
so (central sends the list as it reads it, so only then is the count known). Each chunk's cards
are written to ``cards_staged`` in the same transaction that records the chunk, so a chunk
delivered twice (QoS 1) is staged once and a crash between chunks leaves the staging
consistent. ``cards_staged`` (and ``schedules_staged``) are made for each snapshot from the
definitions of ``cards`` and ``schedules`` themselves, beside them in ``auth.db``; once every
chunk is there, one transaction drops the old tables and renames the staged ones in their
place, with the new ``applied_seq``. So each card is written once, the list changes in one
commit (after a crash at any instant the file holds the old list with its ``applied_seq`` or
the new one with ``upto_seq``), and the swap itself takes milliseconds whatever the size.
The gate keeps reading ``cards`` all along: in WAL mode a reader never waits for a writer,
and its prepared statement is prepared again by SQLite once the schema changed.

Staging commits are not flushed to disk one by one (``synchronous=NORMAL``: a power cut may
lose the last chunks staged, never leave a chunk half-staged); the swap's commit is, and
flushes everything before it. A chunk lost so is like a chunk never received: the snapshot
stays incomplete, and the catch-up at the next connection brings a new one.

Only one snapshot is staged at a time: a newer one discards the rest, and one that stops
arriving is discarded after ``STALE_AFTER_S``."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edge.auth_store import CARD_COLUMNS, LIST_ISSUED_AT
from edge.migrations import connect
from edge.ports import Clock
from sync.wire.auth_messages import SnapshotRows

log = logging.getLogger(__name__)

# A snapshot of 100,000 cards is 50 chunks that arrive within seconds; a quarter of an hour
# without the rest means central gave up on it (or the device was offline) and a new one
# will be sent after the next catch-up request.
STALE_AFTER_S = 15 * 60.0
# The tables a snapshot replaces, each staged as ``<name>_staged``.
_REPLACED = ("cards", "schedules")
_INSERT_CARD = (f"INSERT OR REPLACE INTO cards_staged ({', '.join(CARD_COLUMNS)}) "
                f"VALUES (?{', ?' * (len(CARD_COLUMNS) - 1)})")
_SCHEDULE = CARD_COLUMNS.index("schedule")


@dataclass(frozen=True)
class StagedSnapshot:
    """A snapshot whose chunks are (or are being) staged."""

    snapshot_id: str
    site: str
    upto_seq: int
    count: int | None  # chunks in the snapshot; None until its last chunk is staged
    issued_at: float
    received: int
    highest: int  # the highest chunk index staged (-1: none)

    @property
    def whole(self) -> bool:
        """Every chunk of the snapshot is staged."""
        return self.count is not None and self.received >= self.count


def open_staging_connection(auth_db: Path) -> sqlite3.Connection:
    """The staging's own connection to ``auth.db``: staged chunks need not each reach the
    disk (see the module's docstring); ``apply`` flushes its commit whatever this says."""
    return connect(str(auth_db), synchronous="NORMAL")


class SnapshotStaging:
    """The staging tables of ``auth.db``; used from the agent's worker thread only."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    def _snapshot(self, snapshot_id: str) -> StagedSnapshot | None:
        row = self._conn.execute(
            "SELECT site, upto_seq, count, issued_at, "
            "(SELECT count(*) FROM snapshot_chunks c WHERE c.snapshot_id = s.snapshot_id), "
            "(SELECT max(idx) FROM snapshot_chunks c WHERE c.snapshot_id = s.snapshot_id) "
            "FROM snapshots s WHERE snapshot_id = ?", (snapshot_id,)).fetchone()
        if row is None:
            return None
        site, upto, count, issued, received, highest = row
        return StagedSnapshot(snapshot_id, str(site), int(upto),
                              None if count is None else int(count), float(issued),
                              int(received), -1 if highest is None else int(highest))

    def staged(self) -> list[StagedSnapshot]:
        """Every snapshot with chunks staged (none or one)."""
        ids = [r[0] for r in self._conn.execute("SELECT snapshot_id FROM snapshots")]
        return [s for s in map(self._snapshot, ids) if s is not None]

    def complete(self) -> StagedSnapshot | None:
        """The newest staged snapshot that has all its chunks, if any."""
        done = [s for s in self.staged() if s.whole]
        return max(done, key=lambda s: s.upto_seq) if done else None

    def add(self, chunk: SnapshotRows) -> StagedSnapshot | None:
        """Stage one chunk; return the snapshot once all its chunks are staged.

        A chunk of a snapshot older than the one being staged is dropped; a chunk that
        disagrees with its own snapshot (another sequence number, an index past its last
        chunk, a last chunk below an index already staged or beside another last chunk)
        discards that snapshot.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            ours = False
            for staged in map(self._snapshot, [r[0] for r in conn.execute(
                    "SELECT snapshot_id FROM snapshots").fetchall()]):
                if staged is None:
                    continue
                snapshot_id, upto = staged.snapshot_id, staged.upto_seq
                if snapshot_id == chunk.snapshot_id:
                    disagreement = _disagreement(staged, chunk)
                    if disagreement:
                        log.warning("snapshot %s: chunk %d %s; discarding the snapshot",
                                    snapshot_id, chunk.index, disagreement)
                        self._delete()
                        conn.commit()
                        return None
                    ours = True
                elif upto > chunk.upto_seq:
                    log.info("snapshot %s (upto %d) is older than the one being staged; "
                             "dropping its chunk", chunk.snapshot_id, chunk.upto_seq)
                    conn.commit()
                    return None
                else:
                    log.info("snapshot %s supersedes staged snapshot %s",
                             chunk.snapshot_id, snapshot_id)
            if not ours:
                self._delete()
                self._create_tables()
            conn.execute(
                "INSERT INTO snapshots (snapshot_id, site, upto_seq, count, issued_at, "
                "updated_wall) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (snapshot_id) "
                "DO UPDATE SET updated_wall = excluded.updated_wall, "
                "count = coalesce(count, excluded.count)",
                (chunk.snapshot_id, chunk.site, chunk.upto_seq,
                 chunk.index + 1 if chunk.last else None, chunk.issued_at,
                 self._clock.wall()))
            new = conn.execute("INSERT OR IGNORE INTO snapshot_chunks (snapshot_id, idx) "
                               "VALUES (?, ?)", (chunk.snapshot_id, chunk.index)).rowcount
            if new:
                conn.executemany(_INSERT_CARD, chunk.rows)
                conn.executemany("INSERT OR IGNORE INTO schedules_staged (spec) VALUES (?)",
                                 [(s,) for s in {r[_SCHEDULE] for r in chunk.rows} if s])
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        staged = self._snapshot(chunk.snapshot_id)
        if staged is not None and staged.whole:
            return staged
        return None

    def _create_tables(self) -> None:
        """Empty ``<table>_staged`` tables defined as the tables they will replace are (their
        columns as every migration left them); their indexes are made at the swap."""
        for table in _REPLACED:
            sql = self._table_sql(table)
            self._conn.execute(f"CREATE TABLE {table}_staged {sql[sql.index('('):]}")

    def _table_sql(self, table: str) -> str:
        row = self._conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                 "AND name = ?", (table,)).fetchone()
        return str(row[0])

    def _delete(self) -> None:
        """Forget whatever is staged (one snapshot at most)."""
        for table in _REPLACED:
            self._conn.execute(f"DROP TABLE IF EXISTS {table}_staged")
        self._conn.execute("DELETE FROM snapshot_chunks")
        self._conn.execute("DELETE FROM snapshots")

    def apply(self, snapshot: StagedSnapshot) -> bool:
        """Put the completely staged ``snapshot`` in force: the staged tables replace the
        old ones, with ``applied_seq`` = ``upto_seq`` and the snapshot's ``issued_at``, in
        one transaction whose commit is on disk when this returns; the staging is gone
        with it.

        Returns False (and only discards the staging) if ``auth.db`` is already at or past
        ``upto_seq`` or the snapshot is no longer completely staged."""
        conn = self._conn
        # Whatever the connection's setting: the list in force must survive a power cut
        # once applied_seq says so.
        conn.execute("PRAGMA synchronous=FULL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Re-read under the write lock: nothing else may have moved them meanwhile.
                applied = int(conn.execute(
                    "SELECT value FROM meta WHERE key = 'applied_seq'").fetchone()[0])
                staged = self._snapshot(snapshot.snapshot_id)
                if applied >= snapshot.upto_seq or staged is None or not staged.whole:
                    self._delete()
                    conn.commit()
                    return False
                self._swap()
                conn.execute("UPDATE meta SET value = ? WHERE key = 'applied_seq'",
                             (str(snapshot.upto_seq),))
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (LIST_ISSUED_AT, repr(float(snapshot.issued_at))))
                self._conn.execute("DELETE FROM snapshot_chunks")
                self._conn.execute("DELETE FROM snapshots")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            conn.execute("PRAGMA synchronous=NORMAL")
        return True

    def _swap(self) -> None:
        """Inside the apply's transaction: the staged tables take the old ones' names, and
        the old tables' indexes are made again on them."""
        indexes = [str(sql) for (sql,) in self._conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(_REPLACED))})", _REPLACED)]
        for table in _REPLACED:
            self._conn.execute(f"DROP TABLE {table}")
            self._conn.execute(f"ALTER TABLE {table}_staged RENAME TO {table}")
        for sql in indexes:
            self._conn.execute(sql)

    def discard(self, snapshot_id: str) -> None:
        """Remove a staged snapshot (no longer wanted)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM snapshots WHERE snapshot_id = ?",
                            (snapshot_id,)).fetchone() is not None:
                self._delete()
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def discard_stale(self, max_age: float = STALE_AFTER_S) -> list[str]:
        """Discard incomplete snapshots that received nothing for ``max_age`` seconds."""
        now = self._clock.wall()
        rows = self._conn.execute("SELECT snapshot_id, updated_wall FROM snapshots").fetchall()
        # abs(): a wall clock set backwards must not keep a dead snapshot forever.
        old = {str(sid) for sid, updated in rows if abs(now - float(updated)) > max_age}
        stale = [s.snapshot_id for s in self.staged() if s.snapshot_id in old and not s.whole]
        for snapshot_id in stale:
            log.info("discarding stale incomplete snapshot %s", snapshot_id)
            self.discard(snapshot_id)
        return stale


def _disagreement(staged: StagedSnapshot, chunk: SnapshotRows) -> str | None:
    """How ``chunk`` contradicts the chunks of its snapshot staged so far, if it does."""
    if chunk.upto_seq != staged.upto_seq:
        return f"says upto_seq {chunk.upto_seq}, earlier chunks said {staged.upto_seq}"
    if staged.count is not None and chunk.index >= staged.count:
        return f"is past the last chunk, {staged.count - 1}"
    if chunk.last and staged.count is not None and chunk.index + 1 != staged.count:
        return f"says it is the last, chunk {staged.count - 1} said so before"
    if chunk.last and chunk.index < staged.highest:
        return f"says it is the last, yet chunk {staged.highest} is staged"
    return None
