"""The threads a desk worker stores the gates' events on, shared by all its sites.

A company's worker links to a hundred sites. With a storing thread per site, a hundred busy
threads took turns at the interpreter, and each of the worker's other threads (the relay,
the outbox, a clerk's page) waited behind all of them at every step: a revocation or a page
took seconds. A few lanes serve every site instead. Each site keeps to one lane (its own
database connection stays one per site), and a lane serves its sites in turn, one round of
at most ``GROUP_MESSAGES`` messages each, so a site with a backlog never holds back another
site's acknowledgements until its gates send everything again.

On a company's PostgreSQL database a lane stores the rounds of the sites waiting in its line
together, in one transaction on a connection of its own (``SITES_PER_COMMIT`` at most): a
hundred sites' gates each sending one event a second are a hundred batches of one event,
and a commit each was a disk flush each, so the flushes, not the work, set how many events a
second a worker could store."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from contextlib import AbstractContextManager, ExitStack
from typing import Protocol

from sync.hub.store import CentralStore, store_sites_batches
from sync.hub.store_database import PostgresStoreDatabase, StoreConnection
from sync.wire.device_messages import EventBatch

log = logging.getLogger(__name__)


# A lane's round stores what this many of its sites have waiting, at most, in one
# transaction: with each site's round at most GROUP_MESSAGES (4) batches, a transaction of
# 16 sites' rounds is one flush for up to 64 batches, and still holds back no site's
# acknowledgements for long.
SITES_PER_COMMIT = 16


class Taken(Protocol):
    """A site's round taken and checked, to store (sync/hub/ingest.py ``TakenRound``)."""

    @property
    def store(self) -> CentralStore:
        """The site's store."""
        ...

    def device_batches(self) -> list[tuple[str, EventBatch]]:
        """(device, batch) of each batch of the round."""
        ...

    def store_alone(self) -> None:
        """Store and acknowledge them in a transaction of the site's own."""
        ...

    def acknowledge(self, uptos: list[int]) -> None:
        """Acknowledge them, committed elsewhere."""
        ...


class Served(Protocol):
    """What a lane serves: a site's ingest (sync/hub/ingest.py)."""

    def run_round(self) -> None:
        """Handle some of what waits; put itself back in line if more does."""
        ...

    def round_taken(self) -> AbstractContextManager[Taken | None]:
        """Some of what waits, taken to store before the round ends; back in line after it
        if more waits."""
        ...


class IngestLanes:
    """``count`` threads, each serving the sites given to it in turn."""

    def __init__(self, count: int, name: str = "central-ingest") -> None:
        if count < 1:
            raise ValueError("an ingest needs at least one lane")
        self.count, self.name = count, name
        # The lines outlive the threads: a site lined up before ``start`` or across a
        # ``stop`` and a new ``start`` is still served.
        self._lines: list[queue.Queue[Served | None]] = [queue.Queue() for _ in range(count)]
        self._threads: list[threading.Thread] = []
        self._next = itertools.cycle(range(count))
        self._lock = threading.Lock()

    def assign(self) -> int:
        """The lane a new site keeps to (the lanes in turn)."""
        with self._lock:
            return next(self._next)

    def start(self) -> None:
        """Start the lanes' threads (once; again after ``stop``)."""
        with self._lock:
            if self._threads:
                return
            self._threads = [threading.Thread(target=self._serve, args=(line,),
                                              name=f"{self.name}-{n}", daemon=True)
                             for n, line in enumerate(self._lines)]
            for thread in self._threads:
                thread.start()

    def line_up(self, lane: int, served: Served) -> None:
        """Put ``served`` at the back of its lane's line."""
        self._lines[lane].put(served)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the threads once the rounds in hand are done."""
        with self._lock:
            threads, self._threads = self._threads, []
        for line in self._lines if threads else ():
            line.put(None)
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                log.error("%s did not stop within %.0f s", thread.name, timeout)

    @staticmethod
    def _serve(line: queue.Queue[Served | None]) -> None:
        shared: dict[str, StoreConnection] = {}  # this lane's, per company database
        stopping = False
        try:
            while not stopping and (served := line.get()) is not None:
                group = [served]
                while len(group) < SITES_PER_COMMIT:
                    try:
                        more = line.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stopping = True
                        break
                    group.append(more)
                try:
                    if len(group) == 1:
                        served.run_round()
                    else:
                        _together(group, shared)
                except Exception:  # a dead lane would leave its sites unacknowledged
                    log.exception("an ingest round failed")
        finally:
            for conn in shared.values():
                conn.close()


def _together(group: list[Served], shared: dict[str, StoreConnection]) -> None:
    """One round of each site of ``group``; the rounds of sites of one company database
    stored in one transaction on the lane's ``shared`` connection to it, the others (a
    SQLite site's file is its own) each alone."""
    with ExitStack() as rounds:
        taken = [t for s in group if (t := rounds.enter_context(s.round_taken())) is not None]
        by_company: dict[str, tuple[PostgresStoreDatabase, list[Taken]]] = {}
        for one in taken:
            company = one.store.company
            if company is None:
                one.store_alone()
            else:
                by_company.setdefault(company.url, (company, []))[1].append(one)
        for url, (company, together) in by_company.items():
            if len(together) == 1:
                together[0].store_alone()
                continue
            try:
                conn = shared.get(url)
                if conn is None or not company.usable(conn):
                    if conn is not None:
                        conn.close()
                    conn = shared[url] = company.connect_shared()
                uptos = store_sites_batches(conn, [(t.store, t.device_batches())
                                                   for t in together])
            except Exception:
                # What breaks the transaction (a lost connection, a batch the store cannot
                # take) is found site by site, where a broken batch loses only itself.
                log.warning("storing %d sites' batches together failed; each alone",
                            len(together), exc_info=True)
                for one in together:
                    one.store_alone()
                continue
            for one, upto in zip(together, uptos, strict=True):
                one.acknowledge(upto)
