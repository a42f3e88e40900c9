"""``auth.db``: the locally synced whitelist. Written by the sync agent (and the commissioning
CSV loader), read by the gate on every tap with one prepared primary-key query."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from edge.cards import CardRecord, CardStatus, WeeklySchedule, parse_schedule
from edge.migrations import connect, migrate
from edge.uid import normalize_uid

MIGRATIONS = [
    # 1: cards keyed by UID (WITHOUT ROWID: the lookup reads one b-tree, not two).
    """
    CREATE TABLE cards (
        uid TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('active', 'lost', 'revoked')),
        valid_from TEXT,
        valid_until TEXT,
        access_groups TEXT NOT NULL DEFAULT '',
        schedule TEXT,
        holder_kind TEXT NOT NULL DEFAULT '',
        plate TEXT,
        auth_seq INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    CREATE TABLE schedules (spec TEXT PRIMARY KEY) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('applied_seq', '0')
    """,
]

_LOOKUP = (
    "SELECT status, valid_from, valid_until, access_groups, schedule, holder_kind, plate "
    "FROM cards WHERE uid = ?"
)
GROUP_SEPARATOR = "|"
LIST_ISSUED_AT = "list_issued_at"  # meta key, written with applied_seq


@dataclass(frozen=True)
class CardRow:
    """A card as written into the store (by the CSV loader or by sync)."""

    uid: str
    status: CardStatus
    valid_from: date | None
    valid_until: date | None
    access_groups: tuple[str, ...]
    schedule: str | None
    holder_kind: str
    plate: str | None
    auth_seq: int = 0

    def as_tuple(self) -> tuple[object, ...]:
        """Values in the column order of the cards table."""
        return (
            self.uid, self.status.value,
            self.valid_from.isoformat() if self.valid_from else None,
            self.valid_until.isoformat() if self.valid_until else None,
            GROUP_SEPARATOR.join(self.access_groups), self.schedule, self.holder_kind,
            self.plate, self.auth_seq,
        )


class AuthStore:
    """The whitelist file. The gate opens it read-only in spirit (``query_only``)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = connect(str(path))
        migrate(self._conn, MIGRATIONS, f"whitelist {path}")
        if readonly:
            self._conn.execute("PRAGMA query_only = 1")
        self._schedules: dict[str, WeeklySchedule] = {}
        self._data_version = -1

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def _schedule(self, spec: str) -> WeeklySchedule:
        cached = self._schedules.get(spec)
        if cached is None:
            # Specs were validated when written; parsing is cached because a schedule is
            # shared by many cards and the lookup is on the hot path.
            cached = self._schedules[spec] = parse_schedule(spec)
        return cached

    def lookup(self, uid: str) -> CardRecord | None:
        """The card's record, or None when the card is unknown. One prepared query."""
        row = self._conn.execute(_LOOKUP, (uid,)).fetchone()
        if row is None:
            return None
        status, valid_from, valid_until, groups, schedule, holder_kind, plate = row
        return CardRecord(
            uid=uid,
            status=CardStatus(status),
            valid_from=date.fromisoformat(valid_from) if valid_from else None,
            valid_until=date.fromisoformat(valid_until) if valid_until else None,
            access_groups=frozenset(groups.split(GROUP_SEPARATOR)) if groups else frozenset(),
            schedule=self._schedule(schedule) if schedule else None,
            holder_kind=holder_kind,
            plate=plate,
        )

    @property
    def applied_seq(self) -> int:
        """The last authorisation sequence number applied to this store."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'applied_seq'").fetchone()
        return int(row[0])

    @property
    def list_issued_at(self) -> float | None:
        """When central issued the newest signed list applied here (floor evidence for the
        clock, edge.time_trust); None when no signed list was ever applied."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?",
                                 (LIST_ISSUED_AT,)).fetchone()
        try:
            return float(row[0]) if row is not None else None
        except ValueError:
            return None

    def count(self) -> int:
        """How many cards the store holds."""
        return int(self._conn.execute("SELECT count(*) FROM cards").fetchone()[0])

    def upsert(self, rows: Iterable[CardRow], applied_seq: int | None = None,
               list_issued_at: float | None = None) -> int:
        """Write cards (replacing what the store had for each UID) in one transaction, with
        the signed list's sequence number and issue time when sync applies one."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            n = 0
            for chunk in _chunks(rows, 10_000):
                conn.executemany(
                    "INSERT OR REPLACE INTO cards (uid, status, valid_from, valid_until, "
                    "access_groups, schedule, holder_kind, plate, auth_seq) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [r.as_tuple() for r in chunk],
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO schedules (spec) VALUES (?)",
                    [(r.schedule,) for r in chunk if r.schedule],
                )
                n += len(chunk)
            if applied_seq is not None:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'applied_seq'",
                             (str(applied_seq),))
            if list_issued_at is not None:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (LIST_ISSUED_AT, repr(float(list_issued_at))))
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return n


def _chunks(rows: Iterable[CardRow], size: int) -> Iterator[list[CardRow]]:
    chunk: list[CardRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


CSV_COLUMNS = ("uid", "status", "valid_from", "valid_until", "access_groups", "schedule",
               "holder_kind", "plate")


class CardCsvError(ValueError):
    """A commissioning CSV with problems; ``errors`` names each by line and column."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def _optional_date(value: str, where: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{where}: {value!r} is not a date like 2026-07-08")
        return None


def parse_cards_csv(text: str) -> list[CardRow]:
    """Parse a commissioning CSV (header row with the CSV_COLUMNS; only ``uid`` required).

    ``access_groups`` are separated by ``|`` or ``;``; ``schedule`` is written as
    ``Mon-Sat 08:00-12:00 14:00-18:00``. Every problem is collected, then raised together.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    errors: list[str] = []
    header = [h.strip() for h in (reader.fieldnames or [])]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if "uid" not in header:
        raise CardCsvError(["line 1: the header must name a 'uid' column"])
    if unknown:
        errors.append(f"line 1: unknown column(s) {', '.join(unknown)}; "
                      f"known: {', '.join(CSV_COLUMNS)}")
    rows: list[CardRow] = []
    seen: dict[str, int] = {}
    for line_no, raw in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in raw.items()
               if isinstance(v, str) or v is None}
        where = f"line {line_no}"
        try:
            uid = normalize_uid(rec.get("uid", ""))
        except ValueError as exc:
            errors.append(f"{where}, uid: {exc}")
            continue
        if uid in seen:
            errors.append(f"{where}, uid: {uid} already given on line {seen[uid]}")
            continue
        seen[uid] = line_no
        try:
            status = CardStatus(rec.get("status") or "active")
        except ValueError:
            errors.append(f"{where}, status: {rec.get('status')!r} is not one of "
                          "active, lost, revoked")
            continue
        valid_from = _optional_date(rec.get("valid_from", ""), f"{where}, valid_from", errors)
        valid_until = _optional_date(rec.get("valid_until", ""), f"{where}, valid_until",
                                     errors)
        if valid_from and valid_until and valid_until < valid_from:
            errors.append(f"{where}, valid_until: ends before valid_from")
        groups = tuple(g.strip() for g in
                       rec.get("access_groups", "").replace(";", "|").split("|") if g.strip())
        schedule = rec.get("schedule") or None
        if schedule:
            try:
                schedule = parse_schedule(schedule).spec
            except ValueError as exc:
                errors.append(f"{where}, schedule: {exc}")
        rows.append(CardRow(uid, status, valid_from, valid_until, groups, schedule,
                            rec.get("holder_kind", ""), rec.get("plate") or None))
    if errors:
        raise CardCsvError(errors)
    return rows


def load_cards_csv(store: AuthStore, path: Path) -> int:
    """Load a commissioning CSV into the store atomically: all rows or, on any error, none."""
    rows = parse_cards_csv(path.read_text(encoding="utf-8"))
    return store.upsert(rows)

