"""Schema migrations for the edge's SQLite files, tracked in ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


class SchemaTooNewError(RuntimeError):
    """A file written by newer software: a permanent fault (installing the newer release
    fixes it; retrying does not), so the services exit with a code systemd does not retry."""


def migrate(conn: sqlite3.Connection, steps: Sequence[str], what: str) -> int:
    """Apply the steps not yet applied, each in its own transaction; return the new version.

    Several processes open the same files (the gate and the sync agent share auth.db, the two
    lanes of a pair share presence.db), so the version is read again under the write lock
    before each step: whoever gets the lock second finds the step done and skips it.
    A file newer than this code (a downgrade) is refused rather than guessed at.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current > len(steps):
                raise SchemaTooNewError(
                    f"{what} is at schema version {current} but this software knows only "
                    f"{len(steps)}; install the newer release instead of downgrading"
                )
            if current == len(steps):
                conn.rollback()
                return current
            for statement in filter(None, (s.strip() for s in steps[current].split(";"))):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def connect(path: str, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open an edge database in WAL mode with the durability the edge relies on.

    Transactions are explicit (``isolation_level=None``) so a commit is exactly where the
    code says it is.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn
