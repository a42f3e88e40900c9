"""Staging the chunks of a snapshot in ``sync.db`` until all of them are there.

A snapshot arrives as ``count`` signed chunks sharing a ``snapshot_id``. Each chunk's cards
are written to ``snapshot_cards`` in the same transaction that records the chunk, so a chunk
delivered twice (QoS 1) is staged once and a crash between chunks loses nothing already
staged. Only one snapshot is staged at a time: a newer one discards the rest, and one that
stops arriving is discarded after ``STALE_AFTER_S``."""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from edge.auth_store import CARD_COLUMNS, card_values
from edge.ports import Clock
from sync.wire.auth_messages import SnapshotChunk

log = logging.getLogger(__name__)

# A snapshot of 100,000 cards is 50 chunks that arrive within seconds; a quarter of an hour
# without the rest means central gave up on it (or the device was offline) and a new one
# will be sent after the next catch-up request.
STALE_AFTER_S = 15 * 60.0

@dataclass(frozen=True)
class StagedSnapshot:
    """A snapshot whose chunks are (or are being) staged."""

    snapshot_id: str
    site: str
    upto_seq: int
    count: int
    issued_at: float
    received: int


class SnapshotStaging:
    """The staging tables of ``sync.db``; used from the agent's worker thread only."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    def _snapshot(self, snapshot_id: str) -> StagedSnapshot | None:
        row = self._conn.execute(
            "SELECT site, upto_seq, count, issued_at, "
            "(SELECT count(*) FROM snapshot_chunks c WHERE c.snapshot_id = s.snapshot_id) "
            "FROM snapshots s WHERE snapshot_id = ?", (snapshot_id,)).fetchone()
        if row is None:
            return None
        site, upto, count, issued, received = row
        return StagedSnapshot(snapshot_id, str(site), int(upto), int(count), float(issued),
                              int(received))

    def staged(self) -> list[StagedSnapshot]:
        """Every snapshot with chunks staged (normally none or one)."""
        ids = [r[0] for r in self._conn.execute("SELECT snapshot_id FROM snapshots")]
        return [s for s in map(self._snapshot, ids) if s is not None]

    def complete(self) -> StagedSnapshot | None:
        """The newest staged snapshot that has all its chunks, if any."""
        done = [s for s in self.staged() if s.received >= s.count]
        return max(done, key=lambda s: s.upto_seq) if done else None

    def add(self, chunk: SnapshotChunk) -> StagedSnapshot | None:
        """Stage one chunk; return the snapshot once all its chunks are staged.

        A chunk of a snapshot older than the one being staged is dropped; a chunk that
        disagrees with its own snapshot's count or sequence number discards that snapshot.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("SELECT snapshot_id, upto_seq, count FROM snapshots"
                                   ).fetchall()
            for snapshot_id, upto, count in current:
                if snapshot_id == chunk.snapshot_id:
                    if (upto, count) != (chunk.upto_seq, chunk.count):
                        log.warning("snapshot %s: chunk %d says upto_seq %d of %d chunks, "
                                    "earlier chunks said %d of %d; discarding the snapshot",
                                    snapshot_id, chunk.index, chunk.upto_seq, chunk.count,
                                    upto, count)
                        self._delete(snapshot_id)
                        conn.commit()
                        return None
                elif upto > chunk.upto_seq:
                    log.info("snapshot %s (upto %d) is older than the one being staged; "
                             "dropping its chunk", chunk.snapshot_id, chunk.upto_seq)
                    conn.commit()
                    return None
                else:
                    log.info("snapshot %s supersedes staged snapshot %s",
                             chunk.snapshot_id, snapshot_id)
                    self._delete(snapshot_id)
            conn.execute(
                "INSERT INTO snapshots (snapshot_id, site, upto_seq, count, issued_at, "
                "updated_wall) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (snapshot_id) "
                "DO UPDATE SET updated_wall = excluded.updated_wall",
                (chunk.snapshot_id, chunk.site, chunk.upto_seq, chunk.count, chunk.issued_at,
                 self._clock.wall()))
            new = conn.execute("INSERT OR IGNORE INTO snapshot_chunks (snapshot_id, idx) "
                               "VALUES (?, ?)", (chunk.snapshot_id, chunk.index)).rowcount
            if new:
                conn.executemany(
                    f"INSERT OR REPLACE INTO snapshot_cards (snapshot_id, "
                    f"{', '.join(CARD_COLUMNS)}) VALUES (?{', ?' * len(CARD_COLUMNS)})",
                    [(chunk.snapshot_id, *card_values(card)) for card in chunk.cards])
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        staged = self._snapshot(chunk.snapshot_id)
        if staged is not None and staged.received >= staged.count:
            return staged
        return None

    def _delete(self, snapshot_id: str) -> None:
        for table in ("snapshot_cards", "snapshot_chunks", "snapshots"):
            self._conn.execute(f"DELETE FROM {table} WHERE snapshot_id = ?", (snapshot_id,))

    def discard(self, snapshot_id: str) -> None:
        """Remove a staged snapshot (applied, or no longer wanted)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._delete(snapshot_id)
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
        stale = [s.snapshot_id for s in self.staged()
                 if s.snapshot_id in old and s.received < s.count]
        for snapshot_id in stale:
            log.info("discarding stale incomplete snapshot %s", snapshot_id)
            self.discard(snapshot_id)
        return stale
