"""``auth.db``: the locally synced whitelist. Written by the sync agent (and the commissioning
CSV loader, edge/card_csv.py), read by the gate on every tap with one prepared primary-key
query. The records it holds are edge/card_record.py's ``CardRow``."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from edge.card_record import CardRow, from_wire, parking_from_text, parking_text
from edge.cards import CardRecord, CardStatus, WeeklySchedule, parse_schedule
from edge.migrations import connect, migrate
from edge.plates import normalize_plate, plate_key, plate_tail

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
    # 2: monthly parking judged at the lane (the wire list as JSON text), and the two plate
    # keys a plate camera's read is looked up by (edge.plates); partial indexes, since most
    # cards carry no plate.
    """
    ALTER TABLE cards ADD COLUMN parking TEXT;
    ALTER TABLE cards ADD COLUMN plate_key TEXT;
    ALTER TABLE cards ADD COLUMN plate_tail TEXT;
    CREATE INDEX cards_plate_key ON cards (plate_key) WHERE plate_key IS NOT NULL;
    CREATE INDEX cards_plate_tail ON cards (plate_tail) WHERE plate_tail IS NOT NULL
    """,
    # 3: a snapshot is staged here, beside the list it replaces, and not in the agent's
    # sync.db: its cards go into cards_staged (made per snapshot from the cards table's own
    # definition) and come into force by renaming that table, so each card is written once
    # (sync/agent/snapshot_staging.py). Central sends a snapshot as it reads the list, so its
    # count of chunks is known only once its last chunk is in: NULL until then. A snapshot
    # staged in sync.db before is dropped there; the device asks for a new one.
    """
    CREATE TABLE snapshots (
        snapshot_id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        upto_seq INTEGER NOT NULL,
        count INTEGER,
        issued_at REAL NOT NULL,
        updated_wall REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE snapshot_chunks (
        snapshot_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        PRIMARY KEY (snapshot_id, idx)
    ) WITHOUT ROWID
    """,
]

_FIELDS = "status, valid_from, valid_until, access_groups, schedule, holder_kind, plate, parking"
_LOOKUP = f"SELECT {_FIELDS} FROM cards WHERE uid = ?"
_BY_PLATE_KEY = f"SELECT uid, {_FIELDS} FROM cards WHERE plate_key = ? LIMIT 20"
_BY_PLATE_TAIL = f"SELECT uid, {_FIELDS} FROM cards WHERE plate_tail = ? LIMIT 20"
GROUP_SEPARATOR = "|"
LIST_ISSUED_AT = "list_issued_at"  # meta key, written with applied_seq


CARD_COLUMNS = ("uid", "status", "valid_from", "valid_until", "access_groups", "schedule",
                "holder_kind", "plate", "auth_seq", "parking", "plate_key", "plate_tail")


def _plate_keys(plate: str | None) -> tuple[str | None, str | None]:
    if not plate:
        return None, None
    try:
        written = normalize_plate(plate)
    except ValueError:
        return None, None  # not a plate a camera could read: found by its card only
    return plate_key(written), plate_tail(written)


def card_values(card: CardRow) -> tuple[object, ...]:
    """A record's values in the order of CARD_COLUMNS, as the cards table stores them."""
    plate = card.plate or next((p.plate for p in card.parking if p.plate), None)
    key, tail = _plate_keys(plate)
    return (
        card.uid, card.status.value,
        card.valid_from.isoformat() if card.valid_from else None,
        card.valid_until.isoformat() if card.valid_until else None,
        GROUP_SEPARATOR.join(card.access_groups), card.schedule, card.holder_kind,
        card.plate, card.auth_seq, parking_text(card.parking), key, tail,
    )


# A UID already as normalize_uid writes it: the bulk path keeps it as it is.
_CANONICAL_UID = re.compile(r"(?:[0-9A-F]{2}){1,10}").fullmatch
_STATUSES = frozenset(s.value for s in CardStatus)


def wire_rows(cards: list[Any], seq: int, where: str) -> list[tuple[object, ...]]:
    """Cards in their wire form (JSON values), checked as ``from_wire`` checks them, as the
    rows ``card_values`` makes of them, each with ``auth_seq`` ``seq``.

    The bulk form of ``card_values(from_wire(card, seq))`` for a snapshot's thousands of
    cards: the common record (canonical UID, no parking) becomes its row directly, with each
    date and schedule of the batch checked once; any other record goes through
    ``from_wire`` itself, so a record is refused exactly when, and with the message that,
    ``from_wire`` refuses it. CardRecordError names the card at ``where[i]``."""
    rows: list[tuple[object, ...]] = []
    dates: dict[str, str] = {}
    schedules: dict[str, str] = {}
    for i, obj in enumerate(cards):
        row = _plain_row(obj, seq, dates, schedules) if type(obj) is dict else None
        if row is None:
            row = card_values(from_wire(obj, seq, f"{where}[{i}]"))
        rows.append(row)
    return rows


def _plain_row(obj: dict[str, Any], seq: int, dates: dict[str, str],
               schedules: dict[str, str]) -> tuple[object, ...] | None:
    """The row of a common record, or None for ``from_wire`` to judge (and refuse, or
    convert) it."""
    uid, status, groups = obj.get("uid"), obj.get("status"), obj.get("access_groups")
    if (type(uid) is not str or not _CANONICAL_UID(uid) or type(status) is not str
            or status not in _STATUSES
            or type(groups) is not list or not all(type(g) is str and g for g in groups)):
        return None
    parking, holder_kind, plate = obj.get("parking"), obj.get("holder_kind"), obj.get("plate")
    if parking is not None and (type(parking) is not list or parking):
        return None
    if holder_kind is None:
        holder_kind = ""
    if type(holder_kind) is not str or (plate is not None and type(plate) is not str):
        return None
    days: list[str | None] = []
    for name in ("valid_from", "valid_until"):
        value = obj.get(name)
        if value is not None:
            if type(value) is not str:
                return None
            value = dates.get(value) or _iso_date(value, dates)
            if value is None:
                return None
        days.append(value)
    written = obj.get("schedule")
    schedule: str | None = None
    if written is not None:
        if type(written) is not str:
            return None
        schedule = schedules.get(written) or _schedule_spec(written, schedules)
        if schedule is None:
            return None
    key, tail = _plate_keys(plate)
    return (uid, status, days[0], days[1], GROUP_SEPARATOR.join(groups), schedule,
            holder_kind, plate, seq, None, key, tail)


def _iso_date(text: str, seen: dict[str, str]) -> str | None:
    try:
        seen[text] = date.fromisoformat(text).isoformat()
    except ValueError:
        return None
    return seen[text]


def _schedule_spec(text: str, seen: dict[str, str]) -> str | None:
    try:
        seen[text] = parse_schedule(text).spec
    except ValueError:
        return None
    return seen[text]


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
        return self._record(uid, row)

    def _record(self, uid: str, row: tuple[object, ...]) -> CardRecord:
        status, valid_from, valid_until, groups, schedule, holder_kind, plate, parking = row
        return CardRecord(
            uid=uid,
            status=CardStatus(str(status)),
            valid_from=date.fromisoformat(str(valid_from)) if valid_from else None,
            valid_until=date.fromisoformat(str(valid_until)) if valid_until else None,
            access_groups=frozenset(str(groups).split(GROUP_SEPARATOR)) if groups
            else frozenset(),
            schedule=self._schedule(str(schedule)) if schedule else None,
            holder_kind=str(holder_kind),
            plate=None if plate is None else str(plate),
            parking=parking_from_text(None if parking is None else str(parking),
                                      f"card {uid}.parking"),
        )

    def cards_by_plate_key(self, key: str) -> list[CardRecord]:
        """The cards whose plate folds to ``key`` (edge.plates.plate_key), at most 20."""
        return [self._record(str(row[0]), row[1:])
                for row in self._conn.execute(_BY_PLATE_KEY, (key,))]

    def cards_by_plate_tail(self, tail: str) -> list[CardRecord]:
        """The cards whose plate, without its province, folds to ``tail``, at most 20."""
        return [self._record(str(row[0]), row[1:])
                for row in self._conn.execute(_BY_PLATE_TAIL, (tail,))]

    @property
    def applied_seq(self) -> int:
        """The last authorisation sequence number applied to this store."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'applied_seq'").fetchone()
        return int(row[0])

    @property
    def list_issued_at(self) -> float | None:
        """When central issued the newest signed list applied here (floor evidence for the
        clock, edge.clock_trust); None when no signed list was ever applied."""
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
                    f"INSERT OR REPLACE INTO cards ({', '.join(CARD_COLUMNS)}) "
                    f"VALUES (?{', ?' * (len(CARD_COLUMNS) - 1)})",
                    [card_values(r) for r in chunk],
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
