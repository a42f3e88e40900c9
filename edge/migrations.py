"""Schema migrations for the edge's SQLite files, tracked in ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

# How long a process waits for the file when another holds it, opening or migrating.
_BUSY_SECONDS = 10.0


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
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=_BUSY_SECONDS
    )
    try:
        _enter_wal(conn)
        conn.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        conn.close()
        raise
    return conn


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, waiting out the other processes opening it at the same moment.

    SQLite answers "database is locked" to this pragma at once, without its busy handler,
    while another connection holds the file for the switch or for the last close's
    checkpoint: the gate and its sync agent start together and open the same files (1 start
    in 30 of eight processes failed so).
    """
    deadline = time.monotonic() + _BUSY_SECONDS
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
