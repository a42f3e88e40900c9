"""The central store in the company's PostgreSQL database (sync/hub/store_database.py): each
site in a schema of its own, the gates' events in month partitions, and two desk workers
storing batches of one journal at once, each event once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from edge.card_record import CardRecordError, CardRow
from edge.cards import CardStatus
from sync.hub.store import CentralStore
from sync.hub.store_database import libpq_url, schema_name
from sync.wire.device_messages import DeviceStatus

DEVICE = "main-gate"
JOURNAL = "ab" * 16


def ev(seq: int, wall: float, boot: str = "boot-1") -> dict[str, Any]:
    return {"seq": seq, "boot_id": boot, "wall": wall, "mono": float(seq), "kind": "tap",
            "alarm": False, "clock_trusted": True, "uid": "04A1B2C3", "granted": True,
            "reason": "granted", "data": {}}


def at(year: int, month: int, day: int = 15) -> float:
    return datetime(year, month, day, tzinfo=UTC).timestamp()


def partitions(url: str, site: str) -> dict[str, int]:
    """Each events partition of the site's schema and how many rows it holds."""
    with psycopg.connect(libpq_url(url)) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'events' AND n.nspname = %s", (schema_name(site),))]
        return {name: int(conn.execute(
            f'SELECT count(*) FROM "{schema_name(site)}".{name}').fetchone()[0])  # type: ignore[index]
            for name in names}


def test_events_go_to_their_months_partition_and_a_wild_clock_to_the_far_ones(url: str) -> None:
    store = CentralStore(url, "sunrise-garden")
    events = [ev(1, at(2026, 11)), ev(2, at(2026, 12)), ev(3, at(2026, 12, 31)),
              ev(4, 0.0), ev(5, at(2150, 1))]  # a clock never set; one far ahead
    assert store.store_events(DEVICE, events, journal_id=JOURNAL) == 5
    assert partitions(url, "sunrise-garden") == {
        "events_2026_11": 1, "events_2026_12": 2, "events_before_2000": 1, "events_from_2100": 1}
    # Read back whatever month they are in, as the API reads them.
    assert [e["seq"] for e in store.events_for(DEVICE)] == [4, 1, 2, 3, 5]
    assert [e["seq"] for e in store.events_for(DEVICE, since=at(2026, 12, 1),
                                               until=at(2027, 1, 1))] == [2, 3]
    store.close()


def test_a_batch_delivered_again_is_stored_once_and_a_changed_event_is_a_conflict(
        url: str) -> None:
    store = CentralStore(url, "sunrise-garden")
    batch = [ev(s, at(2026, 12) + s) for s in (1, 2, 3)]
    assert store.store_events(DEVICE, batch, journal_id=JOURNAL) == 3
    assert store.store_events(DEVICE, batch, journal_id=JOURNAL) == 3
    assert store.count_events() == 3
    # The same seq with another wall clock lands in another month: still not stored twice.
    assert store.store_events(DEVICE, [ev(2, at(2027, 3), "impostor")],
                              journal_id=JOURNAL) == 2
    assert store.count_events() == 3
    assert [e["boot_id"] for e in store.event_conflicts(DEVICE)] == ["impostor"]
    store.close()


def test_sites_keep_their_stores_apart_in_one_database(url: str) -> None:
    north, south = CentralStore(url, "north"), CentralStore(url, "south")
    north.store_events(DEVICE, [ev(1, at(2026, 12))], journal_id=JOURNAL)
    assert (north.count_events(), south.count_events()) == (1, 0)
    north.close()
    south.close()


def test_two_workers_storing_one_journal_at_once_store_each_event_once(url: str) -> None:
    """Two desk workers (two stores, two connections) get interleaved and repeated batches
    of one journal, as MQTT shared subscriptions and redelivery hand them out: every event
    is stored once and the journal is acknowledged to its end."""
    workers = [CentralStore(url, "sunrise-garden") for _ in range(2)]
    batches = [[ev(s, at(2026, 12) + s) for s in range(lo, lo + 20)]
               for lo in range(1, 401, 20)]
    errors: list[BaseException] = []

    def work(store: CentralStore, mine: list[list[dict[str, Any]]]) -> None:
        try:
            for batch in mine:
                store.store_events(DEVICE, batch, journal_id=JOURNAL)
        except BaseException as exc:
            errors.append(exc)

    # Each worker gets every other batch, and the first few batches again.
    threads = [threading.Thread(target=work, args=(w, batches[i::2] + batches[:4]))
               for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert workers[0].count_events() == 400
    (journal,) = workers[0].journals()
    assert (journal["events_upto"], journal["max_seq"]) == (400, 400)
    for w in workers:
        w.close()


def test_a_lost_server_connection_is_replaced_by_the_next_call(url: str) -> None:
    """A restarted server or a dropped network ends the store's connection: the call that
    finds it fails (its batch is not acknowledged, so it comes again); the next one works."""
    store = CentralStore(url, "sunrise-garden")
    assert store.store_events(DEVICE, [ev(1, at(2026, 12))], journal_id=JOURNAL) == 1
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(psycopg.OperationalError):
        store.store_events(DEVICE, [ev(2, at(2026, 12))], journal_id=JOURNAL)
    assert store.store_events(DEVICE, [ev(2, at(2026, 12))], journal_id=JOURNAL) == 2
    assert store.count_events() == 2
    store.close()


def test_many_sites_gates_are_read_together_as_each_reads_its_own(url: str) -> None:
    """CentralStore.device_states_of (a company's every site at a glance): one statement
    for the stores of one database, the same devices as each store's own device_states
    (the raw status left out), a site with no device empty."""
    stores = [CentralStore(url, site) for site in ("site-a", "site-b", "site-c")]
    a, b, _c = stores
    a.record_cards([CardRow("04A1B2C3", CardStatus.ACTIVE, None, None, ("b1",), None,
                            "owner", None)])
    a.update_status(DeviceStatus("gate-1", True, 0, 4, True, 1.0), retained=False)
    a.update_status(DeviceStatus("gate-2", False, 1, 0, False, 2.0), retained=False)
    b.update_status(DeviceStatus("gate-1", True, 7, 0, True, 3.0), retained=False)
    together = CentralStore.device_states_of(stores)
    assert set(together) == {"site-a", "site-b", "site-c"} and together["site-c"] == []
    for store in (a, b):
        own = [{**d, "status": None} for d in store.device_states()]
        assert together[store.site] == own
    assert [d["behind"] for d in together["site-a"]] == [1, 0]
    for store in stores:
        store.close()


def store_connections(url: str, settled: int | None = None) -> int:
    """Server connections to the test's database other than the one asking; with
    ``settled``, waited for (up to 5 s) to come down to it: a server process leaves
    pg_stat_activity a moment after its client closed."""
    deadline = time.monotonic() + 5
    while True:
        with psycopg.connect(libpq_url(url)) as admin:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()").fetchone()
        n = int(row[0]) if row else 0
        if settled is None or n <= settled or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def test_a_thread_serving_many_sites_keeps_one_server_connection(url: str) -> None:
    """A desk worker's thread that serves every site (an ingest lane, the relay, a request)
    keeps one connection whatever the number of sites, not one a site (PostgreSQL spends a
    server process on each: a hundred compounds on two workers held more than a thousand);
    each site's rows stay in its own schema, however the thread moves between them."""
    stores = [CentralStore(url, f"site-{n}") for n in range(8)]
    for seq in (1, 2, 3):
        for n, store in enumerate(stores):
            # Each site's events carry its own number, to tell where each row went.
            assert store.store_events(DEVICE, [{**ev(seq, at(2026, 12) + seq), "uid": f"{n:08X}"}],
                                      journal_id=JOURNAL) == seq
    assert store_connections(url) == 1
    for n, store in enumerate(stores):
        assert [(e["seq"], e["uid"]) for e in store.events_for(DEVICE)] == [
            (seq, f"{n:08X}") for seq in (1, 2, 3)]
    # A second thread has a connection of its own, for every site too.
    counts: list[int] = []
    worker = threading.Thread(target=lambda: counts.extend(s.count_events() for s in stores))
    worker.start()
    worker.join(30)
    assert counts == [3] * 8
    assert store_connections(url) == 2
    # Closing one site's store leaves the thread's connection to the others.
    stores[0].close()
    assert stores[1].count_events() == 3
    for store in stores[1:]:
        store.close()
    assert store_connections(url, settled=0) == 0


def test_a_rolled_back_write_leaves_the_thread_on_the_right_sites(url: str) -> None:
    """A transaction that moved the thread's connection to its site and was rolled back
    (a card a gate would refuse) takes the move back with it: the next statements of
    either site still read that site's tables."""
    north, south = CentralStore(url, "north"), CentralStore(url, "south")
    south.record_cards([CardRow("04A1B2C3", CardStatus.ACTIVE, None, None, ("b1",), None,
                                "owner", None)])
    bad = CardRow("not-a-uid", CardStatus.ACTIVE, None, None, ("b1",), None, "owner", None)
    with pytest.raises(CardRecordError):
        north.record_cards([bad])
    assert (north.head_seq(), south.head_seq()) == (0, 1)
    assert (north.count_events(), south.count_events()) == (0, 0)
    north.close()
    south.close()


def test_another_sites_statement_inside_a_sites_transaction_is_refused(url: str) -> None:
    """One thread's connection serves every site, so a statement of another site inside a
    site's open transaction would run on the wrong tables, or the rest of that transaction
    would: it is refused, and the transaction is rolled back as any failure is."""
    north, south = CentralStore(url, "north"), CentralStore(url, "south")
    south.count_events()
    with pytest.raises(RuntimeError, match="transaction"), north._write():
        south.count_events()
    assert (north.head_seq(), south.head_seq()) == (0, 0)
    north.close()
    south.close()


def test_the_connections_of_threads_that_ended_are_closed(url: str) -> None:
    """A site's publishers start new threads each time its lease comes back to the worker:
    the connection of a thread that ended is closed when the next thread makes one, not
    kept until the store closes."""
    store = CentralStore(url, "sunrise-garden")
    for _ in range(5):
        done = threading.Thread(target=store.count_events)
        done.start()
        done.join(30)
    assert store_connections(url, settled=2) <= 2  # this thread's, and the last one's
    store.close()
    assert store_connections(url, settled=0) == 0
