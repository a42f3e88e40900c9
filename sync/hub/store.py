"""``central.db``: the central side of sync — the authorisation log, the outbox, the gates'
events and the devices' last status — of one site, in a SQLite file of its own or in the
site's schema of the company's PostgreSQL database (sync/hub/store_database.py: the SQL
here is written once for both).

Each thread gets its own connection (WAL lets readers run beside the one writer); every
write is one explicit transaction, committed with ``synchronous=FULL`` because an EventAck
promises the device that its events survive a power cut here; not the two writes whose loss
only repeats something (``update_status``, ``mark_outbox``)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.card_record import CardRow, WireCard, decode, encode
from sync.hub.journals import (
    advance,
    journal_state,
    journal_upto,
    keep_conflicts,
    open_journal,
    record_gaps,
)
from sync.hub.store_database import PostgresStoreDatabase, StoreConnection, store_database
from sync.wire import topics
from sync.wire.device_messages import LEGACY_JOURNAL, DeviceStatus, EventBatch
from sync.wire.payload import ProtocolError, dump

# A fan-out message carries at most this many log entries (fewer when their cards would not
# fit in MAX_MESSAGE_BYTES: sync/hub/auth_payloads.py cuts by bytes); a bulk load is cut into
# outbox rows of this size.
CHANGES_PER_MESSAGE = 500
_BULK_CHUNK = 10_000

_EVENT_COLUMNS = ("device, journal_id, seq, boot_id, wall, mono, kind, alarm, clock_trusted, "
                  "uid, granted, reason, data, received_at")


@dataclass(frozen=True)
class OutboxRow:
    """One pending outbox row: a range of the auth log, or a signed command."""

    id: int
    kind: str
    topic: str
    payload: bytes | None
    from_seq: int | None
    to_seq: int | None
    expires_at: float | None


@dataclass(frozen=True)
class PublishedBoothList:
    """A booth's list as last published (sync/hub/booth_lists.py)."""

    booth: str
    version: int
    digest: str
    payload: bytes
    published_at: float


@dataclass(frozen=True)
class PublishedSiteRules:
    """The site's rules as last published (sync/hub/site_rules_publisher.py)."""

    site: str
    version: int
    digest: str
    payload: bytes
    published_at: float


def _optional(event: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = event.get(key)
    if value is not None and (not isinstance(value, kind)
                              or (isinstance(value, bool) and kind is not bool)):
        raise ProtocolError(f"{where}.{key}: expected {kind.__name__} or null")
    return value


def event_row(device: str, journal_id: str, event: Mapping[str, Any],
              received_at: float) -> tuple[Any, ...]:
    """An event of a validated EventBatch as an ``events`` row; checks the optional fields
    that EventBatch.parse leaves alone."""
    where = f"events[seq={event['seq']}]"
    granted = _optional(event, "granted", bool, where)
    return (device, journal_id, event["seq"], event["boot_id"], float(event["wall"]),
            float(event["mono"]),
            event["kind"], int(event["alarm"]), int(event["clock_trusted"]),
            _optional(event, "uid", str, where), None if granted is None else int(granted),
            _optional(event, "reason", str, where), dump(event.get("data") or {}), received_at)


def _event_dict(r: Sequence[Any]) -> dict[str, Any]:
    """An ``events`` row (``_EVENT_COLUMNS``) as the dict the desk reads."""
    return {"device": r[0], "journal_id": r[1], "seq": r[2], "boot_id": r[3],
            "wall": r[4], "mono": r[5], "kind": r[6], "alarm": bool(r[7]),
            "clock_trusted": bool(r[8]), "uid": r[9],
            "granted": None if r[10] is None else bool(r[10]), "reason": r[11],
            "data": json.loads(r[12]), "received_at": r[13]}


_DEVICE_STATE = ("device, status, online, applied_seq, backlog, clock_trusted, last_seen, "
                 "events_upto, journal_id")
# As read for many sites at once: the raw status (JSON) left out.
_DEVICE_STATE_BRIEF = _DEVICE_STATE.replace("status,", "NULL,", 1)


def _device_state(r: Sequence[Any], head: int) -> dict[str, Any]:
    """A ``devices`` row (its ``_DEVICE_STATE`` columns) as ``device_states`` gives it."""
    applied = r[3]
    return {"device": r[0], "status": json.loads(r[1]) if r[1] else None,
            "online": None if r[2] is None else bool(r[2]), "applied_seq": applied,
            "behind": None if applied is None else max(0, head - applied),
            "backlog": r[4], "clock_trusted": None if r[5] is None else bool(r[5]),
            "last_seen": r[6], "events_upto": r[7], "journal_id": r[8]}


class CentralStore:
    """The central sync database of one site: ``where`` is a SQLite file's path, or the
    company's PostgreSQL database URL (the site's schema in it)."""

    def __init__(self, where: Path | str, site: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.site, self.clock = site, clock
        self.db = store_database(where, site)
        self._local = threading.local()
        # Each thread's connection, with the thread.
        self._conns: list[tuple[threading.Thread, StoreConnection]] = []
        self._conns_lock = threading.Lock()
        self._conn()  # the schema made or upgraded now, not at the first event

    def _conn(self) -> StoreConnection:
        conn: StoreConnection | None = getattr(self._local, "conn", None)
        if conn is not None and not self.db.usable(conn):
            # A lost server connection fails the call that found it (a batch not
            # acknowledged comes again); the thread's next call has a new one.
            with self._conns_lock:
                self._conns = [(t, c) for t, c in self._conns if c is not conn]
            conn.close()
            conn = None
        if conn is None:
            self.close_ended_threads()
            conn = self._local.conn = self.db.connect()
            with self._conns_lock:
                self._conns.append((threading.current_thread(), conn))
        return conn

    def close_ended_threads(self) -> None:
        """Close the connections of threads that ended: a site's publishers start new
        threads each time its lease comes back to this worker, and stop them when it goes."""
        with self._conns_lock:
            ended = [c for t, c in self._conns if not t.is_alive()]
            self._conns = [(t, c) for t, c in self._conns if t.is_alive()]
        for conn in ended:
            conn.close()

    def close(self) -> None:
        """Close every thread's connection."""
        with self._conns_lock:
            for _thread, conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[StoreConnection]:
        """One transaction; ``durable=False`` commits without waiting for the disk (on
        SQLite WAL with synchronous=NORMAL: atomic, and on disk with the next durable
        commit), for what a power cut may lose because the gates say it again."""
        conn = self._conn()
        try:
            self.db.begin(conn, durable=durable)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            self.db.end(conn, durable=durable)

    # ------------------------------------------------------------ authorisation log

    def record_cards(self, cards: Iterable[CardRow | WireCard],
                     desk_seqs: Sequence[int] | None = None, *,
                     relayed_upto: int | None = None) -> range:
        """Append each card's full record to the log, with its outbox rows, in one
        transaction (all or, on any card a gate would refuse, none: CardRecordError). A
        record already in its wire form is logged as it is. ``desk_seqs``, when given, names
        the desk's auth_log entry each card relays, in the same order (``change_sync`` is
        asked by those numbers). ``relayed_upto``: the desk's per-site number this relays
        up to (``relayed_upto()``), kept in the same transaction. Returns the sequence
        numbers given."""
        now, schedules = self.clock(), dict[str, str]()
        origins = iter(desk_seqs) if desk_seqs is not None else None
        insert = ("INSERT INTO auth_log (seq, site, uid, card, created_at, desk_seq) "
                  "VALUES (?, ?, ?, ?, ?, ?)")
        with self._write() as conn:
            self.db.lock_log(conn)
            if relayed_upto is not None:
                conn.execute("INSERT INTO relay (id, desk_site_seq) VALUES (1, ?) "
                             "ON CONFLICT (id) DO UPDATE SET desk_site_seq = "
                             "excluded.desk_site_seq", (relayed_upto,))
            first = seq = self._head(conn)
            batch: list[tuple[object, ...]] = []
            for card in cards:
                seq += 1
                wire = card if isinstance(card, WireCard) else encode(card, schedules)
                origin = next(origins) if origins is not None else None
                batch.append((seq, self.site, wire.uid, wire.text, now, origin))
                if len(batch) >= _BULK_CHUNK:
                    conn.executemany(insert, batch)
                    batch = []
            conn.executemany(insert, batch)
            if origins is not None and next(origins, None) is not None:
                raise ValueError("desk_seqs names more entries than there are cards")
            topic = topics.auth_changes(self.site)
            conn.executemany(
                "INSERT INTO outbox (topic, kind, from_seq, to_seq, created_at) "
                "VALUES (?, 'auth', ?, ?, ?)",
                [(topic, lo, min(lo + CHANGES_PER_MESSAGE - 1, seq), now)
                 for lo in range(first + 1, seq + 1, CHANGES_PER_MESSAGE)])
        return range(first + 1, seq + 1)

    def relayed_upto(self) -> int | None:
        """How far the desk's log of this site is relayed here (its per-site number); None
        when nothing was ever relayed with a number."""
        row = self._conn().execute("SELECT desk_site_seq FROM relay WHERE id = 1").fetchone()
        return None if row is None else int(row[0])

    def relayed_desk_seq(self) -> int | None:
        """The newest desk entry (the desk's desk-wide number) logged here, or None."""
        row = self._conn().execute("SELECT max(desk_seq) FROM auth_log").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def record_card(self, card: CardRow | WireCard) -> int:
        """Append one card's full record (and its outbox row); its sequence number."""
        return self.record_cards([card])[0]

    @staticmethod
    def _head(conn: StoreConnection) -> int:
        return int(conn.execute("SELECT coalesce(max(seq), 0) FROM auth_log").fetchone()[0])

    def head_seq(self) -> int:
        """The newest sequence number of the log (0 when empty)."""
        return self._head(self._conn())

    def entries(self, from_seq: int, to_seq: int) -> list[tuple[int, str]]:
        """``(seq, card JSON)`` of log entries ``from_seq..to_seq``, ascending."""
        return self._conn().execute(
            "SELECT seq, card FROM auth_log WHERE seq BETWEEN ? AND ? ORDER BY seq",
            (from_seq, to_seq)).fetchall()

    def count_current(self, upto_seq: int) -> int:
        """How many distinct cards the log holds as of ``upto_seq``."""
        return int(self._conn().execute(
            "SELECT count(DISTINCT uid) FROM auth_log WHERE seq <= ?", (upto_seq,)).fetchone()[0])

    def current_page(self, upto_seq: int, after_uid: str, limit: int) -> list[tuple[str, int, str]]:
        """``(uid, seq, card JSON)`` of the latest entry per card as of ``upto_seq``, for cards
        after ``after_uid`` in UID order. Reading "as of" lets a snapshot be paged while the
        desk keeps writing."""
        return self._conn().execute(
            "SELECT a.uid, a.seq, a.card FROM auth_log a WHERE a.uid > ? AND a.seq <= ? "
            "AND a.seq = (SELECT max(b.seq) FROM auth_log b WHERE b.uid = a.uid AND b.seq <= ?) "
            "ORDER BY a.uid LIMIT ?", (after_uid, upto_seq, upto_seq, limit)).fetchall()

    def current_cards(self) -> list[CardRow]:
        """Every card's latest record (``auth_seq`` = its entry), in UID order."""
        upto, after, cards = self.head_seq(), "", []
        while page := self.current_page(upto, after, 10_000):
            cards += [decode(text, seq, f"auth_log[{seq}]") for _uid, seq, text in page]
            after = page[-1][0]
        return cards

    # ------------------------------------------------------------ outbox

    def add_command(self, topic: str, payload: bytes, expires_at: float) -> int:
        """Queue a signed command for publishing; the outbox row id."""
        with self._write() as conn:
            return int(conn.execute(
                "INSERT INTO outbox (topic, kind, payload, expires_at, created_at) "
                "VALUES (?, 'command', ?, ?, ?) RETURNING id",
                (topic, payload, expires_at, self.clock())).fetchone()[0])

    def pending_outbox(self, after_id: int, limit: int) -> list[OutboxRow]:
        """Unpublished rows after ``after_id``, oldest first."""
        rows = self._conn().execute(
            "SELECT id, kind, topic, payload, from_seq, to_seq, expires_at FROM outbox "
            "WHERE published_at IS NULL AND id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return [OutboxRow(*r) for r in rows]

    def mark_outbox(self, ids: Iterable[int], outcome: str) -> None:
        """Settle outbox rows: ``published`` (the broker acknowledged), ``expired``, ``refused``.
        Not waited onto the disk (it would wait beside the gates' own commits of the change
        just sent): a mark lost to a power cut only sends the rows again, which a gate
        ignores (delivery is at least once)."""
        with self._write(durable=False) as conn:
            conn.executemany("UPDATE outbox SET published_at = ?, outcome = ? WHERE id = ?",
                             [(self.clock(), outcome, i) for i in ids])

    def outbox_counts(self) -> dict[str, int]:
        """Rows per outcome; ``pending`` for those not yet settled."""
        rows = self._conn().execute(
            "SELECT coalesce(outcome, 'pending'), count(*) FROM outbox GROUP BY outcome")
        return {str(k): int(n) for k, n in rows}

    # ------------------------------------------------------------ booth lists

    def published_booth_list(self, booth: str) -> PublishedBoothList | None:
        """The booth's last list the broker acknowledged, or None."""
        row = self._conn().execute(
            "SELECT booth, version, digest, payload, published_at FROM booth_lists "
            "WHERE booth = ?", (booth,)).fetchone()
        return None if row is None else PublishedBoothList(*row)

    def record_booth_list(self, booth: str, version: int, digest: str, payload: bytes) -> None:
        """Keep the booth's list the broker just acknowledged; only ever a newer version."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO booth_lists (booth, version, digest, payload, published_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (booth) DO UPDATE SET "
                "version = excluded.version, digest = excluded.digest, "
                "payload = excluded.payload, published_at = excluded.published_at "
                "WHERE excluded.version > booth_lists.version",
                (booth, version, digest, payload, self.clock()))

    # ------------------------------------------------------------ site rules

    def published_site_rules(self) -> PublishedSiteRules | None:
        """The site's last rules the broker acknowledged, or None."""
        row = self._conn().execute(
            "SELECT site, version, digest, payload, published_at FROM site_rules "
            "WHERE site = ?", (self.site,)).fetchone()
        return None if row is None else PublishedSiteRules(*row)

    def record_site_rules(self, version: int, digest: str, payload: bytes) -> None:
        """Keep the site's rules the broker just acknowledged; only ever a newer version."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO site_rules (site, version, digest, payload, published_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (site) DO UPDATE SET "
                "version = excluded.version, digest = excluded.digest, "
                "payload = excluded.payload, published_at = excluded.published_at "
                "WHERE excluded.version > site_rules.version",
                (self.site, version, digest, payload, self.clock()))

    # ------------------------------------------------------------ events

    def store_events(self, device: str, events: Iterable[Mapping[str, Any]],
                     acked_seq: int = 0, *, journal_id: str = LEGACY_JOURNAL) -> int:
        """Store a validated batch of one journal idempotently on (device, journal id, seq),
        in one transaction; the sequence number up to which every event of that journal is
        now stored (what may be acknowledged, to that journal only). A journal not seen
        before that replaces the device's current one raises a ``journal_replaced`` alarm
        (sync/hub/journals.py). A stored seq of the same journal arriving with a
        different event is kept in ``event_conflicts`` rather than dropped."""
        batch = EventBatch(device, tuple(dict(e) for e in events), acked_seq, journal_id)
        (upto,) = self.store_event_batches([(device, batch)])
        return upto

    def store_event_batches(self, batches: Sequence[tuple[str, EventBatch]]) -> list[int]:
        """Store each (device, batch) as ``store_events`` does, all in one transaction (one
        fsync'd commit for what the ingest found waiting); for each, what may be
        acknowledged. A parsed batch's ``values`` are stored as ``EventBatch.parse``
        validated them, not gone over again."""
        now = self.clock()
        self.db.prepare_walls(self._conn(), {float(e["wall"]) for _d, b in batches
                                             for e in b.events})
        with self._write() as conn:
            return [self._store_batch(conn, device, batch, now) for device, batch in batches]

    def _store_batch(self, conn: StoreConnection, device: str, batch: EventBatch,
                     now: float) -> int:
        journal_id, events = batch.journal_id, batch.events
        rows = ([(device, journal_id, *v, now) for v in batch.values] if batch.values
                else [event_row(device, journal_id, e, now) for e in events])
        self.db.lock_journal(conn, device, journal_id)
        upto, stored_gaps = journal_state(conn, device, journal_id)
        gaps: list[tuple[int, int]] | None = stored_gaps
        if upto is None:
            upto, replaced = open_journal(conn, device, journal_id, acked_seq=batch.acked_seq,
                                          first=events[0], now=now)
            if replaced is not None:
                self._insert_alarm(conn, device, "journal_replaced", replaced)
            # A legacy journal renamed brings its gaps with it.
            gaps = None
        if self.db.insert_events(conn, rows) < len(rows):
            keep_conflicts(conn, device, journal_id, events, now)
        named = record_gaps(conn, device, journal_id, events)
        upto = advance(conn, device, journal_id, upto,
                       None if gaps is None else sorted({*gaps, *named}))
        conn.execute("UPDATE event_journals SET events_upto = ? WHERE device = ? AND "
                     "journal_id = ?", (upto, device, journal_id))
        conn.execute("UPDATE devices SET events_upto = ? WHERE device = ? AND "
                     "journal_id = ?", (upto, device, journal_id))
        return min(upto, int(events[-1]["seq"]))

    def import_events(self, device: str, journal_id: str,
                      events: Iterable[Mapping[str, Any]]) -> int:
        """Store a journal the device no longer reports from — a site's history brought in
        from elsewhere (the demo site's past month, the log of the system a site replaces) —
        in one transaction, idempotently like ``store_events``. Unlike a batch the device
        sends, it does not become the device's current journal: the device's own first
        batch then opens its journal as a first one, not as a ``journal_replaced`` alarm.
        Returns how many events were new."""
        now = self.clock()
        rows = [event_row(device, journal_id, e, now) for e in events]
        if not rows:
            return 0
        self.db.prepare_walls(self._conn(), {float(r[4]) for r in rows})
        with self._write() as conn:
            self.db.lock_journal(conn, device, journal_id)
            added = self.db.insert_events(conn, rows)
            upto = journal_upto(conn, device, journal_id)
            if upto is None:
                conn.execute("INSERT INTO event_journals (device, journal_id, events_upto, "
                             "first_seen) VALUES (?, ?, 0, ?)", (device, journal_id, now))
                upto = 0
            conn.execute("UPDATE event_journals SET events_upto = ? WHERE device = ? AND "
                         "journal_id = ?", (advance(conn, device, journal_id, upto), device,
                                            journal_id))
        return added

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, kinds: Collection[str] | None = None,
                   newest_first: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
        """Stored events matching every given filter (``since`` <= wall < ``until``, kind
        one of ``kinds``), oldest first by the device's wall clock (newest first with
        ``newest_first``)."""
        where, args = [], []
        for clause, value in (("device = ?", device), ("uid = ?", uid), ("wall >= ?", since),
                              ("wall < ?", until),
                              ("granted = ?", None if granted is None else int(granted))):
            if value is not None:
                where.append(clause)
                args.append(value)
        if kinds is not None:
            wanted = sorted(set(kinds))
            where.append(f"kind IN ({', '.join('?' * len(wanted))})" if wanted else "1 = 0")
            args += wanted
        order = "DESC" if newest_first else "ASC"
        sql = (f"SELECT {_EVENT_COLUMNS} FROM events"
               + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY wall {order}, device {order}, journal_id {order}, seq {order} "
               "LIMIT ?")
        return [_event_dict(r) for r in self._conn().execute(sql, (*args, limit))]

    def granted_card_events(self, devices: Collection[str], since: float, until: float,
                            kinds: Collection[str]) -> Iterator[tuple[str, str, str, float, int]]:
        """The granted events of ``kinds`` that name a card, at ``devices``, with ``since``
        <= wall < ``until``, as ``(device, uid, kind, wall, clock_trusted 0/1)``: device by
        device (in name order), each in wall-clock order (ties in journal and seq order).
        One range look-up per device (index ``events_device_wall``) and only these
        columns, for a reader of a month of car-park lanes (the parking report, rule P4).
        Read it through before the next call on this thread."""
        wanted = sorted(set(kinds))
        if not wanted:
            return
        sql = ("SELECT device, uid, kind, wall, clock_trusted FROM events WHERE device = ? "
               "AND wall >= ? AND wall < ? AND granted = 1 AND uid IS NOT NULL AND kind IN "
               f"({', '.join('?' * len(wanted))}) ORDER BY wall, journal_id, seq")
        conn = self._conn()
        for device in sorted(set(devices)):
            yield from conn.execute(sql, (device, since, until, *wanted))

    def journals(self) -> list[dict[str, Any]]:
        """Every journal stored: device, journal_id, ``events_upto`` (every event up to it
        is here), ``max_seq`` (the newest stored; above ``events_upto`` while some have not
        arrived) and ``gaps``: the seqs it dropped for good (``[first_seq, last_seq]``)."""
        conn = self._conn()
        gaps: dict[tuple[str, str], list[list[int]]] = {}
        for device, journal, lo, hi in conn.execute(
                "SELECT device, journal_id, first_seq, last_seq FROM event_gaps "
                "ORDER BY device, journal_id, first_seq"):
            gaps.setdefault((device, journal), []).append([int(lo), int(hi)])
        rows = conn.execute(
            "SELECT j.device, j.journal_id, j.events_upto, (SELECT max(seq) FROM events e "
            "WHERE e.device = j.device AND e.journal_id = j.journal_id) FROM event_journals j "
            "ORDER BY j.device, j.first_seen, j.journal_id").fetchall()
        return [{"device": r[0], "journal_id": r[1], "events_upto": int(r[2]),
                 "max_seq": None if r[3] is None else int(r[3]),
                 "gaps": gaps.get((r[0], r[1]), [])} for r in rows]

    def journal_events(self, device: str, journal_id: str, after_seq: int, upto_seq: int, *,
                       kinds: Collection[str] | None = None,
                       limit: int = 500) -> list[dict[str, Any]]:
        """The events of one journal with ``after_seq`` < seq <= ``upto_seq`` (of
        ``kinds`` only, when given), in seq order: for a reader that follows a journal with
        a cursor."""
        where, args = "", list[object]()
        if kinds is not None:
            wanted = sorted(set(kinds))
            where = f" AND kind IN ({', '.join('?' * len(wanted))})" if wanted else " AND 1 = 0"
            args += wanted
        rows = self._conn().execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE device = ? AND journal_id = ? AND "
            f"seq > ? AND seq <= ?{where} ORDER BY seq LIMIT ?",
            (device, journal_id, after_seq, upto_seq, *args, limit))
        return [_event_dict(r) for r in rows]

    def event_seqs(self, device: str) -> list[int]:
        """Every stored seq of ``device``'s events, of all its journals, repeats included
        (there should be none): what a test or a benchmark counts as arrived once."""
        return [int(r[0]) for r in self._conn().execute(
            "SELECT seq FROM events WHERE device = ? ORDER BY journal_id, seq", (device,))]

    def count_events(self, device: str | None = None) -> int:
        """How many events are stored (for one device, or all)."""
        if device is None:
            return int(self._conn().execute("SELECT count(*) FROM events").fetchone()[0])
        return int(self._conn().execute("SELECT count(*) FROM events WHERE device = ?",
                                        (device,)).fetchone()[0])

    def event_conflicts(self, device: str) -> list[dict[str, Any]]:
        """Events that arrived with a seq stored in the same journal but different content,
        oldest first."""
        rows = self._conn().execute("SELECT event FROM event_conflicts WHERE device = ? "
                                    "ORDER BY id", (device,))
        return [json.loads(r[0]) for r in rows]

    # ------------------------------------------------------------ alarms

    def raise_alarm(self, device: str, kind: str, **detail: object) -> int:
        """Record an alarm the hub raises about ``device`` (``kind`` is a word a page can
        translate, ``detail`` what a guard or an engineer needs to act); its id."""
        with self._write() as conn:
            return self._insert_alarm(conn, device, kind, detail)

    def _insert_alarm(self, conn: StoreConnection, device: str, kind: str,
                      detail: Mapping[str, object]) -> int:
        return int(conn.execute("INSERT INTO alarms (device, kind, detail, raised_at) "
                                "VALUES (?, ?, ?, ?) RETURNING id",
                                (device, kind, dump(detail), self.clock())).fetchone()[0])

    def alarms(self, device: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest hub alarms (of one device, or all), newest first."""
        sql = "SELECT id, device, kind, detail, raised_at FROM alarms"
        args: tuple[object, ...] = ()
        if device is not None:
            sql, args = sql + " WHERE device = ?", (device,)
        rows = self._conn().execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [{"id": r[0], "device": r[1], "kind": r[2], "detail": json.loads(r[3]),
                 "raised_at": r[4]} for r in rows]

    # ------------------------------------------------------------ devices

    def update_status(self, status: DeviceStatus, retained: bool) -> None:
        """Record a device's status. A last will carries no counters: keep the known ones.
        A retained copy re-delivered at subscribe says nothing about when the device spoke.
        Not waited onto the disk: every gate reports after each change it applies (fifty
        fsyncs per revocation at fifty gates, in the way of the next one), and a status lost
        to a power cut is said again within ``status_interval`` and kept by the broker."""
        now = self.clock()
        with self._write(durable=False) as conn:
            conn.execute(
                "INSERT INTO devices (device, status, online, applied_seq, backlog, "
                "clock_trusted, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (device) DO UPDATE SET status = excluded.status, "
                "online = excluded.online, "
                "applied_seq = coalesce(excluded.applied_seq, devices.applied_seq), "
                "backlog = coalesce(excluded.backlog, devices.backlog), "
                "clock_trusted = coalesce(excluded.clock_trusted, devices.clock_trusted), "
                "last_seen = CASE WHEN ? = 1 THEN coalesce(devices.last_seen, excluded.last_seen) "
                "ELSE excluded.last_seen END",
                (status.device, status.dump(), int(status.online), status.applied_seq,
                 status.backlog, None if status.clock_trusted is None
                 else int(status.clock_trusted), now, int(retained)))
            if status.applied_seq is not None:
                self._progress(conn, status.device, status.applied_seq, now)

    @staticmethod
    def _progress(conn: StoreConnection, device: str, applied: int, now: float) -> None:
        """Note when ``device`` first reported ``applied``. A device whose applied_seq went
        back (a fresh auth.db) no longer holds what it had applied past it: that history
        goes, so "applied at" is asked again of what it applies next."""
        conn.execute("DELETE FROM device_progress WHERE device = ? AND applied_seq > ?",
                     (device, applied))
        conn.execute("INSERT INTO device_progress (device, applied_seq, at) VALUES (?, ?, ?) "
                     "ON CONFLICT (device, applied_seq) DO NOTHING", (device, applied, now))

    def device_status(self) -> list[dict[str, Any]]:
        """Every known device: online, applied_seq, ``behind`` (head - applied_seq), backlog,
        clock_trusted, last_seen, its current journal and how far it is stored (journal_id,
        events_upto), the raw status and the hub's newest alarms about it."""
        return [{**d, "alarms": self.alarms(d["device"], limit=20)}
                for d in self.device_states()]

    def device_states(self) -> list[dict[str, Any]]:
        """Every known device as ``device_status`` gives it but for the hub's alarms: two
        statements whatever the number of gates."""
        head = self.head_seq()
        return [_device_state(r, head) for r in self._conn().execute(
            f"SELECT {_DEVICE_STATE} FROM devices ORDER BY device")]

    @staticmethod
    def device_states_of(stores: Iterable[CentralStore]) -> dict[str, list[dict[str, Any]]]:
        """Each store's ``device_states``, by site. The stores of one PostgreSQL database (a
        company's, a schema a site) are read in one statement on one connection, whatever
        their number, without the raw ``status`` (None): the company's view of a hundred
        sites every few seconds would else open a connection for each site on every thread
        that asks (a store keeps a connection per thread)."""
        out: dict[str, list[dict[str, Any]]] = {}
        together: dict[str, list[tuple[CentralStore, PostgresStoreDatabase]]] = {}
        for store in stores:
            if isinstance(store.db, PostgresStoreDatabase):
                together.setdefault(store.db.url, []).append((store, store.db))
            else:
                out[store.site] = store.device_states()
        for group in together.values():
            parts = [f'SELECT CAST(? AS text), {_DEVICE_STATE_BRIEF}, '
                     f'(SELECT coalesce(max(seq), 0) FROM "{db.schema}".auth_log) '
                     f'FROM "{db.schema}".devices' for _store, db in group]
            rows = group[0][0]._conn().execute(" UNION ALL ".join(parts) + " ORDER BY 1, 2",
                                               tuple(store.site for store, _db in group))
            out |= {store.site: [] for store, _db in group}
            for r in rows:
                out[r[0]].append(_device_state(r[1:-1], int(r[-1])))
        return out

    def journal_alarms(self, device: str, recent_since: float,
                       clears: Mapping[str, Collection[str]]) -> list[dict[str, Any]]:
        """The alarms of ``device``'s current journal: for each alarm kind, its newest event
        (as ``events_for`` gives it), ``recent`` (how many of that kind arrived here at or
        after ``recent_since``) and ``cleared_by``: the first later event, not itself an
        alarm, of a kind ``clears`` names for it (a door closing after it was forced), as
        ``{"kind", "seq", "wall"}``, or None."""
        conn = self._conn()
        row = conn.execute("SELECT journal_id FROM devices WHERE device = ?",
                           (device,)).fetchone()
        if row is None or row[0] is None:
            return []
        journal = row[0]
        newest = conn.execute(
            "SELECT kind, max(seq), sum(CASE WHEN received_at >= ? THEN 1 ELSE 0 END) "
            "FROM events WHERE device = ? AND "
            "journal_id = ? AND alarm = 1 GROUP BY kind ORDER BY kind",
            (recent_since, device, journal)).fetchall()
        out = []
        for kind, seq, recent in newest:
            (event,) = [_event_dict(r) for r in conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE device = ? AND journal_id = ? "
                "AND seq = ?", (device, journal, seq))]
            cleared = None
            ends = sorted(clears.get(kind, ()))
            if ends:
                # The primary key walks the journal forward from the alarm: an alarm that
                # ends does so within a few events.
                hit = conn.execute(
                    "SELECT kind, seq, wall FROM events WHERE device = ? AND journal_id = ? "
                    f"AND seq > ? AND alarm = 0 AND kind IN ({', '.join('?' * len(ends))}) "
                    "ORDER BY seq LIMIT 1", (device, journal, seq, *ends)).fetchone()
                if hit is not None:
                    cleared = {"kind": hit[0], "seq": hit[1], "wall": hit[2]}
            out.append({**event, "recent": int(recent or 0), "cleared_by": cleared})
        return out

    # ------------------------------------------------------------ card changes at the gates

    def change_sync(self, desk_seqs: Collection[int]) -> dict[int, dict[str, Any]]:
        """Where each of the desk's auth_log entries ``desk_seqs`` stands at the gates: its
        sequence number here (``seq``; None while not yet relayed) and, for every known
        device, whether it has applied it (its applied_seq reached ``seq``) and when it
        first reported so (``applied_at``, this store's clock; None when not applied or
        applied before that was recorded)."""
        conn = self._conn()
        wanted = sorted(set(desk_seqs))
        found: dict[int, int] = {}
        for lo in range(0, len(wanted), 500):
            part = wanted[lo:lo + 500]
            found.update(conn.execute(
                "SELECT desk_seq, max(seq) FROM auth_log WHERE desk_seq IN "
                f"({', '.join('?' * len(part))}) GROUP BY desk_seq", part).fetchall())
        devices = conn.execute("SELECT device, applied_seq FROM devices ORDER BY device"
                               ).fetchall()
        out: dict[int, dict[str, Any]] = {}
        for desk_seq in wanted:
            seq = found.get(desk_seq)
            gates = []
            for device, applied in devices:
                done = seq is not None and applied is not None and applied >= seq
                at = None
                if done:
                    at = conn.execute(
                        "SELECT min(at) FROM device_progress WHERE device = ? AND "
                        "applied_seq >= ?", (device, seq)).fetchone()[0]
                gates.append({"device": device, "applied": done, "applied_at": at})
            out[desk_seq] = {"seq": seq, "gates": gates}
        return out
