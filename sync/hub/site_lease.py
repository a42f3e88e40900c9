"""Which desk worker publishes a site: exactly one at a time.

A company runs several ``menwei-desk serve`` workers against one PostgreSQL database and one
broker. A site's outbox, booth lists, site rules and the relay of the desk's log into its
signed log are one stream in one order: one worker publishes it, and the same worker takes
the site's gates' messages in (sync/hub/bridge.py), so a journal's batches are stored in
order. It holds the site's lease — a PostgreSQL session advisory lock on a connection
of its own — for as long as that connection lives. A worker that dies (killed, its machine
off, its network gone) loses its connection and with it the lock; another worker's next
look (every second) takes it and resumes from what the store says was published.

The sites are spread over the workers (LeaseBalance): a worker takes a free lease only
while it holds fewer than its share (the sites over the workers alive, rounded up), and gives
one back when it holds more (a worker joined), resting a few seconds before it looks at that
site again so the worker short of its share takes it. A site nobody takes for a few looks
is taken anyway: a site without a publisher is worse than an uneven share.

A SQLite store belongs to one desk process: its lease is always held.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from sync.hub.store_database import libpq_url

log = logging.getLogger(__name__)

# The first key of the two-key advisory lock: Menwei's site leases, apart from any other
# advisory locks an installation takes ("menw" in ASCII).
_LEASE_NAMESPACE = 0x6D656E77


class SiteLease(Protocol):
    """Whether this process may publish a site now."""

    def held(self) -> bool:
        """Look (taking the lease when it is free): True while this process holds it."""
        ...

    def release(self) -> None:
        """Give the lease up (a worker stopping)."""
        ...


class SoleLease:
    """The one desk process of a SQLite store: always the site's publisher."""

    def held(self) -> bool:
        """Always."""
        return True

    def release(self) -> None:
        """Nothing to give up."""


# Looks (one a second) a worker over its share waits before it may take back a lease it gave
# up, and looks a free lease stays free before a worker at its share takes it anyway.
REST_LOOKS = 5
UNTAKEN_LOOKS = 5
_APP_PREFIX = "menwei-lease"


class LeaseBalance:
    """One worker's share of the company's sites, for all its leases (one per site)."""

    def __init__(self, sites: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.sites = sites
        self.clock = clock
        self.held: set[str] = set()
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._workers = (float("-inf"), 1)  # (when counted, how many)

    def _count_workers(self, conn: Any) -> int:
        """Workers alive: the distinct worker names on lease connections (every worker
        keeps one per site, held or not); counted at most once a second by one of the
        worker's lease watchers while the others wait for its answer: at a worker's start a
        hundred sites' watchers look at once, and each counting for itself queued about
        sixty scans of pg_stat_activity on a database already busy."""
        with self._count_lock:
            at, n = self._workers
            if self.clock() - at >= 1.0:
                n = int(conn.execute(
                    "SELECT count(DISTINCT split_part(application_name, ' ', 3)) "
                    "FROM pg_stat_activity WHERE application_name LIKE %s",
                    (f"{_APP_PREFIX} %",)).fetchone()[0]) or 1
                self._workers = (self.clock(), n)
            return n

    def share(self, conn: Any) -> int:
        """How many sites this worker should publish."""
        return math.ceil(self.sites / self._count_workers(conn))

    def may_take(self, conn: Any) -> bool:
        """Below its share."""
        share = self.share(conn)
        with self._lock:
            return len(self.held) < share

    def took(self, site: str) -> None:
        """This worker publishes ``site`` now."""
        with self._lock:
            self.held.add(site)

    def gave_up(self, site: str) -> None:
        """This worker no longer publishes ``site``."""
        with self._lock:
            self.held.discard(site)

    def over_share(self, site: str, conn: Any) -> bool:
        """Whether ``site`` should be given back (this worker holds more than its share);
        counted as given back at once, so its other leases do not all give theirs too."""
        share = self.share(conn)
        with self._lock:
            if len(self.held) > share and site in self.held:
                self.held.discard(site)
                return True
            return False


class PostgresSiteLease:
    """The site's advisory lock, held on a connection of this lease's own."""

    def __init__(self, url: str, site: str, worker: str = "",
                 balance: LeaseBalance | None = None) -> None:
        self.url = libpq_url(url)
        self.site = site
        # What pg_stat_activity shows for the lease's connection: who publishes the site.
        self.application_name = f"{_APP_PREFIX} {site} {worker}".strip()
        self.balance = balance
        self._conn: Any = None
        self._held = False
        self._rest = 0  # looks left before taking a lease given up to balance the share
        self._handing_over = False  # given up: publishers stopping, the lock freed next look
        self._untaken = 0  # looks in a row the lease was free while this worker held back

    def held(self) -> bool:
        """Take the lock if free; while held, check the connection still lives (a lock on
        a dead connection is already someone else's)."""
        import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

        try:
            if self._conn is None:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                             application_name=self.application_name[:63])
                self._held = False
            if self._held and self._handing_over:
                # The publishers stopped at the last look: now another worker may take it.
                self._unlock()
                self._handing_over = False
                self._rest = REST_LOOKS
                log.info("site %s: given back to a worker short of its share", self.site)
            elif self._held:
                self._conn.execute("SELECT 1")
                if self.balance is not None and self.balance.over_share(self.site, self._conn):
                    # Said "not held" first, with the lock still held, so this worker's
                    # publishers stop before another worker's start.
                    self._handing_over = True
            elif self._may_take():
                self._held = bool(self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                    (_LEASE_NAMESPACE, self.site)).fetchone()[0])
                if self._held:
                    log.info("site %s: this worker publishes it now", self.site)
                    if self.balance is not None:
                        self.balance.took(self.site)
        except psycopg.Error as exc:
            if self._held:
                log.warning("site %s: lease lost with its connection: %s", self.site, exc)
            self._close()
        return self._held and not self._handing_over

    def _may_take(self) -> bool:
        """Whether to try for the lock now: within this worker's share, or the site has gone
        untaken too long (every other worker at its share, or gone)."""
        if self.balance is None:
            return True
        if self._rest > 0:
            self._rest -= 1
            return False
        if self.balance.may_take(self._conn):
            self._untaken = 0
            return True
        free = bool(self._conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND "
            "classid = %s::bigint::oid AND objid = hashtext(%s)::oid "
            "AND objsubid = 2)", (_LEASE_NAMESPACE, self.site)).fetchone()[0])
        self._untaken = self._untaken + 1 if free else 0
        return self._untaken >= UNTAKEN_LOOKS

    def _unlock(self) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                           (_LEASE_NAMESPACE, self.site))
        self._held = False

    def release(self) -> None:
        """Unlock by closing the lease's connection."""
        self._close()

    def _close(self) -> None:
        if self._held and self.balance is not None:
            self.balance.gave_up(self.site)
        conn, self._conn, self._held = self._conn, None, False
        self._handing_over = False
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection; nothing to keep
                log.debug("closing the lease connection failed", exc_info=True)


def lease_for(where: object, site: str) -> SiteLease:
    """The lease of a site's hub store at ``where`` (a path: SQLite; a URL: PostgreSQL)."""
    if isinstance(where, str) and where.startswith("postgresql"):
        return PostgresSiteLease(where, site)
    return SoleLease()
