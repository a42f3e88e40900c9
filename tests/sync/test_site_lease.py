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
from sync.hub.site_lease import REST_LOOKS, UNTAKEN_LOOKS, LeaseBalance, PostgresSiteLease
from sync.hub.store_database import libpq_url

SITES = [f"site-{n}" for n in range(6)]


class Worker:
    """One desk worker's leases, looked at as its lease watchers do (once a second each)."""

    def __init__(self, url: str, name: str) -> None:
        self.balance = LeaseBalance(len(SITES), clock=lambda: self.now)
        self.now = 0.0
        self.leases = [PostgresSiteLease(url, site, name, self.balance) for site in SITES]

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
