"""Which desk worker publishes a site: exactly one at a time.

A company runs several ``menwei-desk serve`` workers against one PostgreSQL database and one
broker. Any of them stores the gates' events and answers their catch-ups (MQTT shared
subscriptions hand each message to one), but a site's outbox, booth lists, site rules and
the relay of the desk's log into its signed log are one stream in one order: one worker
publishes it. It holds the site's lease — a PostgreSQL session advisory lock on a connection
of its own — for as long as that connection lives. A worker that dies (killed, its machine
off, its network gone) loses its connection and with it the lock; another worker's next
look (every second) takes it and resumes from what the store says was published.

A SQLite store belongs to one desk process: its lease is always held.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

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


class PostgresSiteLease:
    """The site's advisory lock, held on a connection of this lease's own."""

    def __init__(self, url: str, site: str, worker: str = "") -> None:
        self.url = re.sub(r"^postgresql\+[a-z0-9_]+://", "postgresql://", url)
        self.site = site
        # What pg_stat_activity shows for the lease's connection: who publishes the site.
        self.application_name = f"menwei-lease {site} {worker}".strip()
        self._conn: Any = None
        self._held = False

    def held(self) -> bool:
        """Take the lock if free; while held, check the connection still lives (a lock on
        a dead connection is already someone else's)."""
        import psycopg  # noqa: PLC0415 - the desk extra's driver: a gate never has it

        try:
            if self._conn is None:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5,
                                             application_name=self.application_name[:63])
                self._held = False
            if self._held:
                self._conn.execute("SELECT 1")
            else:
                self._held = bool(self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                    (_LEASE_NAMESPACE, self.site)).fetchone()[0])
                if self._held:
                    log.info("site %s: this worker publishes it now", self.site)
        except psycopg.Error as exc:
            if self._held:
                log.warning("site %s: lease lost with its connection: %s", self.site, exc)
            self._close()
        return self._held

    def release(self) -> None:
        """Unlock by closing the lease's connection."""
        self._close()

    def _close(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
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
