"""auth.db, the commissioning CSV, events.db bounds and presence, on real files
(time trust: test_clock_floor.py)."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from edge.antipassback import Presence
from edge.auth_store import AuthStore
from edge.card_csv import CardCsvError, load_cards_csv, parse_cards_csv
from edge.card_record import CardRow
from edge.cards import CardStatus
from edge.journal import OVERFLOW_KIND, Journal
from edge.uid import normalize_uid


class FakeClock:
    """Only the wall clock needs faking: a Pi's clock jumping cannot be made for real."""

    def __init__(self, wall: float = 1_780_000_000.0) -> None:
        self.wall_s = wall
        self.mono_s = 100.0

    def wall(self) -> float:
        return self.wall_s

    def monotonic(self) -> float:
        self.mono_s += 0.001
        return self.mono_s


CSV = """uid,status,valid_from,valid_until,access_groups,schedule,holder_kind,plate
04:a1:b2:c3,active,2026-01-01,2028-01-01,b1|parking,,owner,沪A12345
04A1B2C3D4E5F6,lost,,,b1,,family,
DEADBEEF,active,,2026-10-01,b1;b2,Mon-Sat 08:00-12:00 14:00-18:00,renovation_worker,
"""


def test_uid_normalisation() -> None:
    assert normalize_uid("04:a1 b2-c3") == "04A1B2C3"
    for bad in ("", "0G", "ABC", "00" * 11):
        with pytest.raises(ValueError):
            normalize_uid(bad)


def test_csv_load_and_lookup(tmp_path: Path) -> None:
    store = AuthStore(tmp_path / "auth.db")
    (tmp_path / "cards.csv").write_text(CSV, encoding="utf-8")
    assert load_cards_csv(store, tmp_path / "cards.csv") == 3
    c = store.lookup("04A1B2C3")
    assert c is not None
    assert c.status is CardStatus.ACTIVE
    assert c.access_groups == {"b1", "parking"}
    assert c.valid_until == date(2028, 1, 1)
    assert c.plate == "沪A12345"
    lost = store.lookup("04A1B2C3D4E5F6")
    assert lost is not None and lost.status is CardStatus.LOST
    worker = store.lookup("DEADBEEF")
    assert worker is not None and worker.schedule is not None
    assert worker.access_groups == {"b1", "b2"}
    assert store.lookup("00000000") is None


def test_csv_with_errors_loads_nothing_and_names_every_line(tmp_path: Path) -> None:
    bad = ("uid,status,valid_until,colour\n"
           "04A1B2C3,active,2026-13-01,red\n"
           "nothex,active,,\n"
           "04a1b2c3,active,,\n"
           "11223344,stolen,,\n")
    with pytest.raises(CardCsvError) as info:
        parse_cards_csv(bad)
    text = "\n".join(info.value.errors)
    assert "unknown column(s) colour" in text
    assert "line 2, valid_until" in text
    assert "line 3, uid" in text
    assert "line 4, uid: 04A1B2C3 already given on line 2" in text
    assert "line 5, status" in text
    store = AuthStore(tmp_path / "auth.db")
    (tmp_path / "bad.csv").write_text(bad)
    with pytest.raises(CardCsvError):
        load_cards_csv(store, tmp_path / "bad.csv")
    assert store.count() == 0


def test_upsert_replaces_and_records_applied_seq(tmp_path: Path) -> None:
    store = AuthStore(tmp_path / "auth.db")
    row = CardRow("AABBCCDD", CardStatus.ACTIVE, None, None, ("b1",), None, "owner", None)
    store.upsert([row], applied_seq=5)
    store.upsert([CardRow("AABBCCDD", CardStatus.REVOKED, None, None, (), None, "owner",
                          None)], applied_seq=6)
    c = store.lookup("AABBCCDD")
    assert c is not None and c.status is CardStatus.REVOKED and store.applied_seq == 6
    assert store.count() == 1


def test_store_files_use_wal_and_full_sync(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "events.db", FakeClock(), max_events=1000)
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def accounted_seqs(j: Journal) -> set[int]:
    """Sequence numbers still held, plus those pruned after acknowledgement, plus those an
    overflow marker declares lost: together they must be every number ever given."""
    events = j.read(0, 100_000)
    seqs = {e.seq for e in events} | set(range(1, j.acked_seq + 1))
    for e in events:
        if e.kind == OVERFLOW_KIND:
            seqs |= set(range(int(str(e.data["first_seq"])), int(str(e.data["last_seq"])) + 1))
    return seqs


def test_journal_sequence_has_no_gaps_across_reopen_and_prune(tmp_path: Path) -> None:
    clock = FakeClock()
    j = Journal(tmp_path / "events.db", clock, max_events=1000)
    seqs = [j.append("tap", {"n": i}) for i in range(50)]
    assert seqs == list(range(1, 51))
    j.mark_acked(50)
    j.close()
    j = Journal(tmp_path / "events.db", clock, max_events=1000)
    more = [j.append("tap", {"n": i}) for i in range(2000)]
    assert more == sorted(more) and more[0] == 51
    assert j.count() <= 1000 + j._slack
    assert accounted_seqs(j) == set(range(1, j.last_seq() + 1))


def test_journal_overflow_drops_oldest_unsynced_but_never_alarms(tmp_path: Path) -> None:
    j = Journal(tmp_path / "events.db", FakeClock(), max_events=1000)
    j.append("door_forced_open", {}, alarm=True)  # seq 1, an alarm
    for i in range(1200):
        j.append("tap", {"n": i})
    events = j.read(0, 5000)
    assert events[0].seq == 1 and events[0].kind == "door_forced_open"
    markers = [e for e in events if e.kind == OVERFLOW_KIND]
    assert markers and all(m.alarm for m in markers)
    lost = sum(int(str(m.data["lost"])) for m in markers)
    # What is still there plus what the markers say was lost accounts for every tap.
    taps = [e for e in events if e.kind == "tap"]
    assert len(taps) + lost == 1200
    assert markers[0].data["first_seq"] == 2
    assert accounted_seqs(j) == set(range(1, j.last_seq() + 1))
    # The newest taps are the ones kept.
    assert taps[-1].data == {"n": 1199}


def test_journal_prunes_acknowledged_events_before_losing_any(tmp_path: Path) -> None:
    j = Journal(tmp_path / "events.db", FakeClock(), max_events=1000)
    for i in range(600):
        j.append("tap", {"n": i})
    j.mark_acked(600)
    for i in range(600):
        j.append("tap", {"n": i})
    assert all(e.kind != OVERFLOW_KIND for e in j.read(0, 5000))
    assert j.read(600, 5000)[0].seq == 601  # nothing unacknowledged went


def test_presence_and_reset_window(tmp_path: Path) -> None:
    p = Presence(tmp_path / "presence.db", reset_after=3600)
    assert not p.is_inside("AA", 1000.0)
    p.record("AA", True, 1000.0)
    assert p.is_inside("AA", 1000.0 + 3599)
    assert not p.is_inside("AA", 1000.0 + 3600)
    p.record("AA", False, 1100.0)
    assert not p.is_inside("AA", 1200.0)


def test_processes_opening_a_new_shared_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    # The two lanes of a pair (and the gate and its sync agent) open the same files at start;
    # a migration that read the version outside the write lock failed with "table exists",
    # and switching a new file to WAL failed with "database is locked".
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(8) as pool:
        # Each round is a new file: the race is in the first opens of a file, as at install.
        for round_ in range(12):
            path = tmp_path / f"presence-{round_}.db"
            results = pool.map(_open_presence, [str(path)] * 16, chunksize=1)
            assert results == [True] * 16
            version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
            assert version == 1


def _open_presence(path: str) -> bool:
    Presence(Path(path), reset_after=60).close()
    return True
