"""Which desk worker publishes a site: exactly one at a time.

A company runs several ``menwei-desk serve`` workers against one PostgreSQL database and one
broker. A site's outbox, booth lists, site rules and the relay of the desk's log into its
signed log are one stream in one order: one worker publishes it, and the same worker takes
the site's gates' messages in (sync/hub/bridge.py), so a journal's batches are stored in
order. It holds the site's lease — a PostgreSQL session advisory lock, on the one connection
the worker holds all its leases on — for as long as that connection lives. A worker that
dies (killed, its machine off, its network gone) loses its connection and with it the lock;
another worker's next look (every second) takes it and resumes from what the store says was
published.

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
        keeps one, whatever it holds); counted at most once a second by one of the
        worker's lease watchers while the others wait for its answer: at a worker's start a
        hundred sites' watchers look at once, and each counting for itself queued about
        sixty scans of pg_stat_activity on a database already busy."""
        with self._count_lock:
            at, n = self._workers
            if self.clock() - at >= 1.0:
                n = int(conn.execute(
                    "SELECT count(DISTINCT split_part(application_name, ' ', 3)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE %s",
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


class LeaseConnection:
    """The connection a worker holds its sites' leases on: one for all of them (a session
    holds any number of advisory locks), not one a site, which cost a hundred compounds'
    PostgreSQL a hundred server processes a worker. When it fails every lease on it is lost
    at once, as they would be with the worker; ``generation`` tells a lease taken on a
    connection since replaced."""

    def __init__(self, url: str, worker: str = "") -> None:
        self.url = libpq_url(url)
        # What pg_stat_activity shows for it: whose leases; the part between is the place a
        # site's name held when each lease had its own connection, kept so that the
        # worker stays the third word for every reader of it (LeaseBalance, holder_of).
        self.application_name = f"{_APP_PREFIX} * {worker}".strip()
        self._conn: Any = None
        self.generation = 0
        self._lock = threading.Lock()
        self._users = 0
        self._checked = float("-inf")
        self._checking = False

    def get(self) -> tuple[Any, int]:
        """The connection, made when there is none, and its generation."""
        import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

        with self._lock:
            if self._conn is None:
                # Keepalives both ways and a timeout on unacknowledged data: a network gone
                # silent fails here within seconds, not hours, and the server frees the
                # locks of a worker it no longer hears from as soon, not after its default
                # two hours, so another worker takes the sites.
                self._conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=5, keepalives=1,
                    keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                    tcp_user_timeout=15000, options=_SERVER_KEEPALIVES,
                    application_name=self.application_name[:63])
                self.generation += 1
                self._checked = time.monotonic()
            return self._conn, self.generation

    def stands(self, generation: int) -> bool:
        """Whether the connection of ``generation`` is still the one (not dropped, closed or
        replaced): a lock taken on it is still held."""
        with self._lock:
            return generation == self.generation and self._conn is not None

    def check(self, generation: int) -> None:
        """Raise if the connection of ``generation`` no longer stands: a statement, at
        most once a second for all the leases on it (a lock on a dead connection is already
        someone else's)."""
        with self._lock:
            if generation != self.generation or self._conn is None:
                raise ConnectionError("the lease connection was replaced")
            conn = self._conn
            # One watcher checks for all, and not under the lock: the others' looks (and
            # their "lost" when another lease dropped the connection) do not wait on it.
            if time.monotonic() - self._checked < 1.0 or self._checking:
                return
            self._checking = True
        try:
            conn.execute("SELECT 1")
        finally:
            with self._lock:
                self._checking = False
                self._checked = time.monotonic()

    def drop(self, generation: int) -> None:
        """The connection of ``generation`` is lost: close it (its locks went with it);
        every lease on it sees so at its next look, and the next ``get`` makes another."""
        with self._lock:
            if generation != self.generation or self._conn is None:
                return
            conn, self._conn = self._conn, None
            self.generation += 1
        _close_quietly(conn)

    def join(self) -> None:
        """One more lease uses this connection."""
        with self._lock:
            self._users += 1

    def leave(self) -> None:
        """A lease is done with it: closed when it was the last."""
        with self._lock:
            self._users -= 1
            if self._users > 0 or self._conn is None:
                return
            conn, self._conn = self._conn, None
            self.generation += 1
        _close_quietly(conn)


# The server's side of the lease connection's keepalives (settable by any user).
_SERVER_KEEPALIVES = ("-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
                      "-c tcp_keepalives_count=3")


def _close_quietly(conn: Any) -> None:
    try:
        with conn.lock:  # after a statement another watcher has under way
            conn.close()
    except Exception:  # closing a broken connection; nothing to keep
        log.debug("closing the lease connection failed", exc_info=True)


def lease_holders(conn: Any, sites: list[str]) -> dict[str, str]:
    """The worker (as it named itself) holding each of ``sites``' leases now, those held;
    for the operator's and the tests' looks at PostgreSQL (``conn``: any psycopg
    connection)."""
    rows = conn.execute(
        "SELECT s.site, split_part(a.application_name, ' ', 3) FROM unnest(%s::text[]) "
        "AS s (site) JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.database "
        "= (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = %s::bigint::oid AND l.objid = hashtext(s.site)::oid "
        "AND l.objsubid = 2 JOIN pg_stat_activity a ON a.pid = l.pid",
        (sites, _LEASE_NAMESPACE)).fetchall()
    return {str(site): str(worker) for site, worker in rows}


class PostgresSiteLease:
    """The site's advisory lock, held on the worker's ``LeaseConnection`` (one of its own
    when none is given)."""

    def __init__(self, url: str, site: str, worker: str = "",
                 balance: LeaseBalance | None = None,
                 connection: LeaseConnection | None = None) -> None:
        self.site = site
        self.balance = balance
        self.connection = connection or LeaseConnection(url, worker)
        self._joined = False  # counted among the connection's users (until release)
        # A look and a release take turns (a stop that gave up waiting on the watcher must
        # not release under a look that then takes the lock).
        self._looking = threading.Lock()
        self._conn: Any = None
        self._generation = 0  # of the connection the lock was taken on
        self._held = False
        self._rest = 0  # looks left before taking a lease given up to balance the share
        self._handing_over = False  # given up: publishers stopping, the lock freed next look
        self._untaken = 0  # looks in a row the lease was free while this worker held back

    def held(self) -> bool:
        """Take the lock if free; while held, check the connection still lives (a lock on
        a dead connection is already someone else's)."""
        with self._looking:
            if not self._joined:
                self.connection.join()
                self._joined = True
            return self._look()

    def _look(self) -> bool:
        import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

        if self._held and not self.connection.stands(self._generation):
            # Lost with the connection (another lease found it dead): said at once, before
            # anything waits for a new connection, so the publishers stop.
            log.warning("site %s: lease lost with its connection", self.site)
            self._lost()
            return False
        conn, generation = None, 0
        try:
            conn, generation = self.connection.get()
            self._conn = conn
            if self._held and generation != self._generation:
                raise ConnectionError("the lease connection was replaced")
            if self._held and self._handing_over:
                # The publishers stopped at the last look: now another worker may take it.
                self._unlock()
                self._handing_over = False
                self._rest = REST_LOOKS
                log.info("site %s: given back to a worker short of its share", self.site)
            elif self._held:
                self.connection.check(self._generation)
                if self.balance is not None and self.balance.over_share(self.site, conn):
                    # Said "not held" first, with the lock still held, so this worker's
                    # publishers stop before another worker's start.
                    self._handing_over = True
            elif self._may_take():
                self._held = bool(conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                    (_LEASE_NAMESPACE, self.site)).fetchone()[0])
                if self._held and not self.connection.stands(generation):
                    # Dropped by another lease meanwhile: the lock went with it.
                    self._held = False
                if self._held:
                    self._generation = generation
                    log.info("site %s: this worker publishes it now", self.site)
                    if self.balance is not None:
                        self.balance.took(self.site)
        except ConnectionError as exc:  # replaced while this look went on
            if self._held:
                log.warning("site %s: lease lost with its connection: %s", self.site, exc)
            self._lost()
        except psycopg.Error as exc:
            if conn is None or conn.closed or conn.broken:
                # The connection is gone, and every lock on it: every lease on it is lost.
                if self._held:
                    log.warning("site %s: lease lost with its connection: %s", self.site, exc)
                if conn is not None:
                    self.connection.drop(generation)
                self._lost()
            else:
                # A statement refused (cancelled, timed out) on a connection that stands:
                # its locks stand too; look again next time.
                log.warning("site %s: looking at the lease failed: %s", self.site, exc)
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
        free = self.site not in lease_holders(self._conn, [self.site])
        self._untaken = self._untaken + 1 if free else 0
        return self._untaken >= UNTAKEN_LOOKS

    def _unlock(self) -> None:
        self._conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                           (_LEASE_NAMESPACE, self.site))
        self._held = False

    def release(self) -> None:
        """Unlock, and leave the worker's lease connection (closed with its last lease); the
        next ``held`` looks again."""
        with self._looking:
            self._release()

    def _release(self) -> None:
        if not self._joined:
            return
        held = self._held
        self._lost()
        if held:
            import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

            try:
                if self.connection.stands(self._generation):
                    self._unlock()
            except psycopg.Error:
                log.debug("unlocking site %s failed; its connection goes", self.site,
                          exc_info=True)
                self.connection.drop(self._generation)
        self._joined = False
        self.connection.leave()

    def _lost(self) -> None:
        if self._held and self.balance is not None:
            self.balance.gave_up(self.site)
        self._held = False
        self._handing_over = False


def lease_for(where: object, site: str) -> SiteLease:
    """The lease of a site's hub store at ``where`` (a path: SQLite; a URL: PostgreSQL)."""
    if isinstance(where, str) and where.startswith("postgresql"):
        return PostgresSiteLease(where, site)
    return SoleLease()
