"""Who is inside the car park, for anti-passback across a pair of barrier lanes.

The entry and exit controllers of a pair share this small SQLite file (same Pi, or a shared
data folder). An entry older than ``reset_after`` no longer counts, so a missed exit read
does not lock a resident out for ever."""

from __future__ import annotations

from pathlib import Path

from edge.migrations import connect, migrate

MIGRATIONS = [
    """
    CREATE TABLE presence (
        uid TEXT PRIMARY KEY,
        inside INTEGER NOT NULL,
        wall REAL NOT NULL
    ) WITHOUT ROWID
    """,
]


class Presence:
    """Inside/outside state per card."""

    def __init__(self, path: Path, reset_after: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.reset_after = reset_after
        # NORMAL: losing the last presence update in a power cut only relaxes anti-passback
        # for one card; it never opens anything.
        self._conn = connect(str(path), synchronous="NORMAL")
        migrate(self._conn, MIGRATIONS, f"presence {path}")

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def is_inside(self, uid: str, wall: float) -> bool:
        """Whether ``uid`` entered and has not left, within the reset window."""
        row = self._conn.execute("SELECT inside, wall FROM presence WHERE uid = ?",
                                 (uid,)).fetchone()
        if row is None or not row[0]:
            return False
        return bool(wall - float(row[1]) < self.reset_after)

    def record(self, uid: str, inside: bool, wall: float) -> None:
        """Note an entry (``inside``) or an exit."""
        self._conn.execute(
            "INSERT INTO presence (uid, inside, wall) VALUES (?, ?, ?) "
            "ON CONFLICT (uid) DO UPDATE SET inside = excluded.inside, wall = excluded.wall",
            (uid, int(inside), wall),
        )

    def reset(self, uid: str | None = None) -> None:
        """Forget presence (one card, or everyone) — a guard's reset."""
        if uid is None:
            self._conn.execute("DELETE FROM presence")
        else:
            self._conn.execute("DELETE FROM presence WHERE uid = ?", (uid,))
