"""A company's desk workers share its sites: each publishes about its share, a worker that
joins is handed sites, a worker that dies has its sites taken (sync/hub/site_lease.py), on
the run's real PostgreSQL cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from hardware_sim.local_postgres import LocalPostgres
from sync.hub.site_lease import (
    REST_LOOKS,
    UNTAKEN_LOOKS,
    LeaseBalance,
    LeaseConnection,
    PostgresSiteLease,
    lease_holders,
)
from sync.hub.store_database import libpq_url

SITES = [f"site-{n}" for n in range(6)]


class Worker:
    """One desk worker's leases, looked at as its lease watchers do (once a second each)."""

    def __init__(self, url: str, name: str) -> None:
        self.balance = LeaseBalance(len(SITES), clock=lambda: self.now)
        self.now = 0.0
        self.connection = LeaseConnection(url, name)  # as central/desk_sync.py makes it
        self.leases = [PostgresSiteLease(url, site, name, self.balance, self.connection)
                       for site in SITES]

    def look(self) -> set[str]:
        self.now += 1.0
        return {lease.site for lease in self.leases if lease.held()}

    def die(self) -> None:
        for lease in self.leases:
            lease.release()


@pytest.fixture
def url(postgres: LocalPostgres) -> Iterator[str]:
    yield postgres.url("postgres")


def settle(workers: list[Worker], looks: int) -> list[set[str]]:
    """Every worker looks ``looks`` times; what each publishes after the last. A site a
    worker stops publishing is nobody's in that same round: its publishers stop before
    another worker's start."""
    held: list[set[str]] = [set() for _ in workers]
    for _ in range(looks):
        before = held
        held = [w.look() for w in workers]
        stopped = set().union(*(b - h for b, h in zip(before, held, strict=True)))
        started = set().union(*(h - b for b, h in zip(before, held, strict=True)))
        assert not stopped & started, f"handed over within one look: {stopped & started}"
    return held


def test_the_sites_are_spread_over_the_workers_and_follow_them(url: str) -> None:
    first = Worker(url, "w1")
    assert first.look() == set(SITES)  # alone: every site is its share
    second = Worker(url, "w2")
    held = settle([first, second], REST_LOOKS + 3)
    # Each publishes its share, every site exactly once.
    assert sorted(len(h) for h in held) == [3, 3]
    assert held[0] | held[1] == set(SITES) and not held[0] & held[1]
    third = Worker(url, "w3")
    held = settle([first, second, third], REST_LOOKS + 3)
    assert sorted(len(h) for h in held) == [2, 2, 2]
    assert set().union(*held) == set(SITES)
    # One dies: its sites are taken within a few looks, nobody over its new share of 3.
    second.die()
    held = settle([first, third], UNTAKEN_LOOKS + 2)
    assert sorted(len(h) for h in held) == [3, 3]
    assert held[0] | held[1] == set(SITES)
    first.die()
    third.die()


class SlowCounted:
    """A real connection whose statements take 20 ms more (a database busy with a hundred
    sites' traffic), counted."""

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]]) -> None:
        self.conn = conn
        self.statements = 0

    def execute(self, sql: str, args: tuple[object, ...]) -> psycopg.Cursor[tuple[object, ...]]:
        self.statements += 1
        time.sleep(0.02)
        return self.conn.execute(sql, args)


def test_a_workers_sites_looking_at_once_count_the_workers_once(url: str) -> None:
    lease = PostgresSiteLease(url, "site-0", "w1")
    assert lease.held()  # one worker alive, as pg_stat_activity shows it
    balance = LeaseBalance(100)
    start = threading.Barrier(50)
    shares: list[int] = []
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        counted = SlowCounted(conn)

        def watcher() -> None:
            start.wait()
            shares.append(balance.share(counted))

        threads = [threading.Thread(target=watcher) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lease.release()
    assert shares == [100] * 50
    assert counted.statements == 1


def lease_connections(url: str, expected: dict[str, int]) -> dict[str, int]:
    """The lease connections open, by worker, waited for (up to 5 s) to be ``expected``: a
    server process leaves pg_stat_activity a moment after its client closed."""
    deadline = time.monotonic() + 5
    while True:
        with psycopg.connect(libpq_url(url)) as conn:
            rows = conn.execute("SELECT split_part(application_name, ' ', 3), count(*) "
                                "FROM pg_stat_activity WHERE application_name LIKE "
                                "'menwei-lease %' GROUP BY 1").fetchall()
        found = {str(worker): int(n) for worker, n in rows}
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_a_worker_holds_all_its_leases_on_one_connection(url: str) -> None:
    """One connection a worker, not one a site: PostgreSQL spends a server process on each,
    and a hundred compounds' leases held two hundred of them on two workers."""
    first, second = Worker(url, "w1"), Worker(url, "w2")
    held = settle([first, second], REST_LOOKS + 3)
    assert sorted(len(h) for h in held) == [3, 3]
    assert lease_connections(url, {"w1": 1, "w2": 1}) == {"w1": 1, "w2": 1}
    with psycopg.connect(libpq_url(url)) as conn:
        holders = lease_holders(conn, SITES)
    assert holders == {**dict.fromkeys(held[0], "w1"), **dict.fromkeys(held[1], "w2")}
    first.die()
    second.die()
    assert lease_connections(url, {}) == {}


def test_a_lost_lease_connection_loses_every_lease_on_it_and_they_are_taken(url: str) -> None:
    """The worker's lease connection ends (a server restart, an administrator): each of its
    leases says so at its next look (its lock went with the connection, so another worker
    may already publish the site); the sites are taken by the other worker, and shared
    again once the first has a new connection."""
    first, second = Worker(url, "w1"), Worker(url, "w2")
    held = settle([first, second], REST_LOOKS + 3)
    assert sorted(len(h) for h in held) == [3, 3]
    with psycopg.connect(libpq_url(url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name LIKE 'menwei-lease % w1'")
    assert first.look() == set()
    held = settle([first, second], UNTAKEN_LOOKS + REST_LOOKS + 6)
    assert sorted(len(h) for h in held) == [3, 3]
    assert held[0] | held[1] == set(SITES)
    assert lease_connections(url, {"w1": 1, "w2": 1}) == {"w1": 1, "w2": 1}
    first.die()
    second.die()


def test_a_lease_released_at_a_stop_is_taken_again_at_the_next_start(url: str) -> None:
    """A desk's link to a site stopped and started again (CentralSync.stop/start) gives the
    lease up and looks again: alone, it holds the site once more."""
    worker = Worker(url, "w1")
    assert worker.look() == set(SITES)
    worker.leases[0].release()
    assert lease_connections(url, {"w1": 1}) == {"w1": 1}  # the other sites' leases keep it
    with psycopg.connect(libpq_url(url)) as conn:
        assert SITES[0] not in lease_holders(conn, SITES)
    assert worker.look() == set(SITES)
    worker.die()
