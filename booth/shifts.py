"""Shifts at a booth (rule P6): a guard takes over the post with the cash float in hand;
the temporary-parking charges of the shift go into its float; at handover the float, the
invoices issued and the open issues pass to the next guard.

This module holds the ``shifts`` table and the shift that is open now. Handover, the float
over the limit and the report are built on it (see docs/booth.md)."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from booth.refusals import BoothRefusal
from booth.store import BoothStore, Recording

MIGRATIONS = [
    """
    CREATE TABLE shifts (
        id TEXT PRIMARY KEY,
        guard TEXT NOT NULL,
        guard_name TEXT NOT NULL,
        started_at REAL NOT NULL,
        opening_float_fen INTEGER NOT NULL CHECK (opening_float_fen >= 0),
        ended_at REAL,
        handed_to TEXT
    );
    CREATE UNIQUE INDEX shifts_one_open ON shifts ((1)) WHERE ended_at IS NULL
    """,
]


# A part that takes cash: shift id -> (charges, cash in fen).
CashSource = Callable[[str], tuple[int, int]]


@dataclass(frozen=True)
class Shift:
    """One shift at the booth."""

    shift_id: str
    guard: str
    guard_name: str
    started_at: float
    opening_float_fen: int
    ended_at: float | None


def _shift(row: sqlite3.Row) -> Shift:
    return Shift(row["id"], row["guard"], row["guard_name"], row["started_at"],
                 row["opening_float_fen"], row["ended_at"])


class Shifts:
    """The booth's shifts; at most one is open at a time (the index says so too)."""

    def __init__(self, store: BoothStore) -> None:
        self.store = store
        self.cash_sources: list[CashSource] = []
        store.migrate("shifts", MIGRATIONS)

    def add_cash_source(self, source: CashSource) -> None:
        """Count ``source`` (a part that takes cash, e.g. parking) in every shift's cash:
        it answers a shift id with (how many charges, their cash in fen)."""
        self.cash_sources.append(source)

    def cash_taken(self, shift_id: str) -> tuple[int, int]:
        """How many charges the shift took and their cash in fen, over every source."""
        counts = [source(shift_id) for source in self.cash_sources]
        return sum(c for c, _ in counts), sum(f for _, f in counts)

    def current(self) -> Shift | None:
        """The shift open now, or None between shifts."""
        row = self.store.one("SELECT * FROM shifts WHERE ended_at IS NULL")
        return None if row is None else _shift(row)

    def require_current(self) -> Shift:
        """The shift open now; refused when none is (cash is only taken within a shift)."""
        shift = self.current()
        if shift is None:
            raise BoothRefusal("当前没有当班记录，请先接班",
                               "no shift is open: start a shift first")
        return shift

    def open_in(self, rec: Recording, guard: str, guard_name: str, opening_float_fen: int) -> str:
        """Open a shift inside ``rec`` (journalled as ``shift_start``); its id."""
        if opening_float_fen < 0:
            raise BoothRefusal("备用金不能为负数", "the float cannot be negative",
                               "opening_float")
        if rec.execute("SELECT 1 FROM shifts WHERE ended_at IS NULL").fetchone():
            raise BoothRefusal("已有人当班，请办理交接班", "a shift is already open: hand over",
                               "guard")
        shift_id = uuid.uuid4().hex
        now = self.store.clock.wall()
        rec.execute("INSERT INTO shifts (id, guard, guard_name, started_at, opening_float_fen) "
                    "VALUES (?, ?, ?, ?, ?)", (shift_id, guard, guard_name, now,
                                               opening_float_fen))
        rec.append("shift_start", {"shift_id": shift_id, "guard": guard,
                                   "opening_float_fen": opening_float_fen, "at": now})
        return shift_id

    def start(self, guard: str, guard_name: str, opening_float_fen: int) -> str:
        """Start a shift (nobody on shift now); its id."""
        with self.store.record() as rec:
            return self.open_in(rec, guard, guard_name, opening_float_fen)
