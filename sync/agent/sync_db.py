"""``sync.db``: the sync agent's own state, kept apart from ``auth.db``.

It holds the nonces of remote commands already seen (until long after they expired), so that
a replayed command is refused even after the agent restarts. (Snapshots are staged in
``auth.db`` itself: see sync/agent/snapshot_staging.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge.migrations import connect, migrate

MIGRATIONS = [
    # 1: snapshot staging and seen command nonces.
    """
    CREATE TABLE snapshots (
        snapshot_id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        upto_seq INTEGER NOT NULL,
        count INTEGER NOT NULL,
        issued_at REAL NOT NULL,
        updated_wall REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE snapshot_chunks (
        snapshot_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        PRIMARY KEY (snapshot_id, idx)
    ) WITHOUT ROWID;
    CREATE TABLE snapshot_cards (
        snapshot_id TEXT NOT NULL,
        uid TEXT NOT NULL,
        status TEXT NOT NULL,
        valid_from TEXT,
        valid_until TEXT,
        access_groups TEXT NOT NULL,
        schedule TEXT,
        holder_kind TEXT NOT NULL,
        plate TEXT,
        auth_seq INTEGER NOT NULL,
        PRIMARY KEY (snapshot_id, uid)
    ) WITHOUT ROWID;
    CREATE TABLE seen_nonces (
        nonce TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
    # 2: the cards table of auth.db grew monthly parking and the plate keys (edge.auth_store
    # migration 2); a staged snapshot carries them too.
    """
    ALTER TABLE snapshot_cards ADD COLUMN parking TEXT;
    ALTER TABLE snapshot_cards ADD COLUMN plate_key TEXT;
    ALTER TABLE snapshot_cards ADD COLUMN plate_tail TEXT
    """,
    # 3: snapshots are staged in auth.db now (edge.auth_store migration 3), where their
    # cards are written once; one staged here is dropped (the device asks for a new one).
    """
    DROP TABLE snapshot_cards;
    DROP TABLE snapshot_chunks;
    DROP TABLE snapshots
    """,
]


def open_sync_db(path: Path) -> sqlite3.Connection:
    """Open (creating or migrating) the agent's state file.

    ``synchronous=FULL``: a nonce must be on disk before its command is delivered, or a crash
    right after delivery would let the same command be replayed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(str(path))
    migrate(conn, MIGRATIONS, f"sync state {path}")
    return conn
