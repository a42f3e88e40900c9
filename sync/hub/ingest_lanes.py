"""The threads a desk worker stores the gates' events on, shared by all its sites.

A company's worker links to a hundred sites. With a storing thread per site, a hundred busy
threads took turns at the interpreter, and each of the worker's other threads (the relay,
the outbox, a clerk's page) waited behind all of them at every step: a revocation or a page
took seconds. A few lanes serve every site instead. Each site keeps to one lane (its own
database connection stays one per site), and a lane serves its sites in turn, one round of
at most ``GROUP_MESSAGES`` messages each, so a site with a backlog never holds back another
site's acknowledgements until its gates send everything again."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Served(Protocol):
    """What a lane serves: a site's ingest (sync/hub/ingest.py)."""

    def run_round(self) -> None:
        """Handle some of what waits; put itself back in line if more does."""
        ...


class IngestLanes:
    """``count`` threads, each serving the sites given to it in turn."""

    def __init__(self, count: int, name: str = "central-ingest") -> None:
        if count < 1:
            raise ValueError("an ingest needs at least one lane")
        self.count, self.name = count, name
        # The lines outlive the threads: a site lined up before ``start``, or between a
        # ``stop`` and the next ``start``, is still served (it lines up only once).
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
        while (served := line.get()) is not None:
            try:
                served.run_round()
            except Exception:  # a dead lane would leave its sites unacknowledged for ever
                log.exception("an ingest round failed")
