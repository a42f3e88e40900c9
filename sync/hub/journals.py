"""How the central store tells a device's journals apart.

A gate's journal (``events.db``) numbers its events 1, 2, 3… and carries a random id made
with the file. A new file — a lost, damaged or replaced SD card — is a new journal that
numbers from 1 again, so central keys every event on (device, journal id, seq) and keeps, per
journal, how far it holds every event (``event_journals.events_upto``, what may be
acknowledged). ``devices.journal_id`` is the device's current journal: the newest one seen.

A journal central has not seen before is one of:

- the device's first (no journal known for it): nothing to report;
- the *legacy* journal renamed: rows stored before journals had ids are kept under the
  journal id ``""``; when the device's agent is upgraded, its journal gets an id and is the
  same journal. It is recognised by its batch saying a central store already acknowledged
  some of it (``acked_seq > 0``) or by its first event matching the stored one, and the
  legacy rows take its id;
- a replacement: the device lost the journal central knew. Central records a
  ``journal_replaced`` hub alarm, once, in the same transaction that opens the new journal.

These functions run inside the caller's write transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edge.journal import OVERFLOW_KIND
from sync.hub.store_database import StoreConnection
from sync.wire.device_messages import LEGACY_JOURNAL
from sync.wire.payload import dump


def journal_upto(conn: StoreConnection, device: str, journal_id: str) -> int | None:
    """How far every event of this journal is stored; None for a journal not seen yet."""
    row = conn.execute("SELECT events_upto FROM event_journals WHERE device = ? AND "
                       "journal_id = ?", (device, journal_id)).fetchone()
    return None if row is None else int(row[0])


def journal_state(conn: StoreConnection, device: str,
                  journal_id: str) -> tuple[int | None, list[tuple[int, int]]]:
    """``journal_upto`` and the journal's known gaps (``record_gaps``), in one look-up: a
    busy desk worker's time goes on its round trips to the database."""
    rows = conn.execute(
        "SELECT j.events_upto, g.first_seq, g.last_seq FROM event_journals j "
        "LEFT JOIN event_gaps g ON g.device = j.device AND g.journal_id = j.journal_id "
        "WHERE j.device = ? AND j.journal_id = ? ORDER BY g.first_seq",
        (device, journal_id)).fetchall()
    if not rows:
        return None, []
    return int(rows[0][0]), [(int(lo), int(hi)) for _u, lo, hi in rows if lo is not None]


def open_journal(conn: StoreConnection, device: str, journal_id: str, *, acked_seq: int,
                 first: Mapping[str, Any], now: float) -> tuple[int, dict[str, object] | None]:
    """Record a journal not seen before as ``device``'s current one; where its
    acknowledgements start, and the detail of a ``journal_replaced`` alarm (None when it
    replaces nothing)."""
    row = conn.execute("SELECT journal_id FROM devices WHERE device = ?", (device,)).fetchone()
    current: str | None = None if row is None else row[0]
    current_upto = None if current is None else journal_upto(conn, device, current)
    replaced: dict[str, object] | None = None
    if current is not None and current_upto is not None and current == LEGACY_JOURNAL \
            and _same_journal(conn, device, acked_seq, first):
        for table in ("events", "event_gaps", "event_conflicts", "event_journals"):
            conn.execute(f"UPDATE {table} SET journal_id = ? WHERE device = ? "
                         "AND journal_id = ?", (journal_id, device, LEGACY_JOURNAL))
        upto = current_upto
    else:
        # Start where the device says a central store last acknowledged this journal (0 for
        # a new one), never at the first batch that happens to arrive: a batch published
        # before this store subscribed is lost at the broker, and starting after it would
        # acknowledge events nobody stored.
        upto = acked_seq
        conn.execute("INSERT INTO event_journals (device, journal_id, events_upto, first_seen) "
                     "VALUES (?, ?, ?, ?)", (device, journal_id, upto, now))
        if current is not None and current_upto is not None:
            replaced = {"old": current, "new": journal_id, "old_upto": current_upto}
    conn.execute("INSERT INTO devices (device, journal_id, events_upto) VALUES (?, ?, ?) "
                 "ON CONFLICT (device) DO UPDATE SET journal_id = excluded.journal_id, "
                 "events_upto = excluded.events_upto", (device, journal_id, upto))
    return upto, replaced


def _same_journal(conn: StoreConnection, device: str, acked_seq: int,
                  first: Mapping[str, Any]) -> bool:
    """Whether a newly named journal is the device's legacy one: a fresh journal starts
    with nothing acknowledged, and its first event is not the stored one."""
    if acked_seq > 0:
        return True
    stored = conn.execute("SELECT boot_id, mono, kind FROM events WHERE device = ? AND "
                          "journal_id = ? AND seq = ?",
                          (device, LEGACY_JOURNAL, first["seq"])).fetchone()
    return stored is not None and tuple(stored) == (first["boot_id"], float(first["mono"]),
                                                    first["kind"])


def record_gaps(conn: StoreConnection, device: str, journal_id: str,
                batch: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """Seqs the journal dropped for good (its overflow alarm names them): they will never
    come, so acknowledgements may move past them. Returns the gaps the batch names."""
    named = []
    for event in batch:
        data = event.get("data") or {}
        if event["kind"] == OVERFLOW_KIND and isinstance(data.get("first_seq"), int) \
                and isinstance(data.get("last_seq"), int):
            conn.execute("INSERT INTO event_gaps (device, journal_id, first_seq, last_seq) "
                         "VALUES (?, ?, ?, ?) ON CONFLICT (device, journal_id, first_seq) "
                         "DO NOTHING", (device, journal_id, data["first_seq"], data["last_seq"]))
            named.append((data["first_seq"], data["last_seq"]))
    return named


def keep_conflicts(conn: StoreConnection, device: str, journal_id: str,
                   batch: Sequence[Mapping[str, Any]], now: float) -> None:
    """Keep each event of ``batch`` whose seq is stored in this journal with other content:
    the same journal id never carries two events under one seq, so this is worth a look."""
    seqs = [int(e["seq"]) for e in batch]
    stored = {r[0]: r[1:] for r in conn.execute(
        "SELECT seq, boot_id, mono, kind FROM events WHERE device = ? AND journal_id = ? "
        "AND seq BETWEEN ? AND ?", (device, journal_id, seqs[0], seqs[-1]))}
    for event in batch:
        if stored.get(event["seq"]) != (event["boot_id"], float(event["mono"]), event["kind"]):
            conn.execute("INSERT INTO event_conflicts (device, journal_id, seq, event, "
                         "received_at) VALUES (?, ?, ?, ?, ?)",
                         (device, journal_id, event["seq"], dump(dict(event)), now))


_NEXT_LIMIT = 1000
_NEXT_SEQS = ("SELECT seq FROM events WHERE device = ? AND journal_id = ? AND seq > ? "
              f"ORDER BY seq LIMIT {_NEXT_LIMIT}")


def advance(conn: StoreConnection, device: str, journal_id: str, upto: int,
            gaps: Sequence[tuple[int, int]] | None = None) -> int:
    """Move ``upto`` over every stored event and known gap of the journal that directly
    follows it. ``gaps``: the journal's gaps when the caller has them (else read here)."""
    if gaps is None:
        gaps = conn.execute("SELECT first_seq, last_seq FROM event_gaps WHERE device = ? "
                            "AND journal_id = ? ORDER BY first_seq",
                            (device, journal_id)).fetchall()

    def over_gaps(at: int) -> int:
        for lo, hi in gaps:
            if lo <= at + 1 <= hi:
                at = hi
        return at

    while True:
        upto = over_gaps(upto)
        # The next stored seqs, counted by the database: seqs are distinct, so the n after
        # upto are upto+1..upto+n exactly when the newest of them is upto+n — the common
        # case, a batch stored right after the one before, settled without a row coming
        # into Python.
        newest, n = conn.execute(
            f"SELECT max(seq), count(*) FROM ({_NEXT_SEQS}) AS next_seqs",
            (device, journal_id, upto),
        ).fetchone()
        seen_all = n < _NEXT_LIMIT  # every stored seq after upto was looked at
        if n and newest == upto + n:
            upto = newest
        elif n:
            for (seq,) in conn.execute(_NEXT_SEQS, (device, journal_id, upto)):
                if seq != upto + 1:
                    seen_all = True  # the rest lie beyond a hole only a gap could close
                    break
                upto = seq
        # Another look only when a gap closes the hole or there were more seqs than read.
        if (seen_all or not n) and over_gaps(upto) == upto:
            return upto
