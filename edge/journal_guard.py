"""The gate's journal as the rest of the gate sees it: a ``Journal`` that may be unwritable.

Two ways to write, for two kinds of event:

- ``append`` is for an event that must be durable before anything happens (a grant before
  its relay): it returns the sequence number or raises ``JournalUnavailable``.
- ``record`` is for an event that reports what already happened (REX, an output change, a
  door opening): egress never waits for the journal, so it never raises and returns None
  when the event could not be written.

An event that could not be written is counted (by kind) in memory. When the journal works
again, the first thing written is one ``journal_unavailable`` alarm with those counts, the
first error and when it began; so the journal says how much it is missing.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping
from typing import Any

from edge.journal import Event, Journal
from edge.ports import Clock
from edge.shared_store import SharedStore, StoreUnavailable
from edge.storage_check import describe, is_storage_error

log = logging.getLogger(__name__)

UNAVAILABLE_KIND = "journal_unavailable"


class JournalUnavailable(StoreUnavailable):
    """The event was not written (and has been counted as missing)."""


class GuardedJournal:
    """A journal that counts what it could not write and says so once it can again."""

    def __init__(self, store: SharedStore[Journal], clock: Clock, boot_id: str) -> None:
        self._store = store
        self._clock = clock
        self.boot_id = boot_id
        self.clock_trusted = True
        self._missing: collections.Counter[str] = collections.Counter()
        self._first_error: str | None = None
        self._since: float | None = None

    # ------------------------------------------------------------------ writing

    def append(self, kind: str, data: Mapping[str, object] | None = None, *,
               alarm: bool = False, uid: str | None = None, granted: bool | None = None,
               reason: str | None = None) -> int:
        """Write one event durably and return its sequence number, or raise
        JournalUnavailable (nothing written; the event is counted as missing)."""
        try:
            journal = self._store.get()
            self._flush_missing(journal)
            journal.clock_trusted = self.clock_trusted
            seq = journal.append(kind, data, alarm=alarm, uid=uid, granted=granted,
                                 reason=reason)
            self._store.succeeded()
            return seq
        except StoreUnavailable as exc:
            self._count_missing(kind, describe(exc))
            raise JournalUnavailable(str(exc)) from exc
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self._store.failed(exc)
            self._count_missing(kind, describe(exc))
            raise JournalUnavailable(describe(exc)) from exc

    def record(self, kind: str, data: Mapping[str, object] | None = None, *,
               alarm: bool = False, **fields: Any) -> int | None:
        """Write an event if the journal can take it; None (counted as missing) if not."""
        try:
            return self.append(kind, data, alarm=alarm, **fields)
        except JournalUnavailable:
            return None

    def retry(self) -> bool:
        """Write the missing-events alarm if one is due (the periodic tick); True when the
        journal is writable and nothing is missing."""
        if not self._missing:
            return self._store.current is not None
        try:
            journal = self._store.get()
            self._flush_missing(journal)
            self._store.succeeded()
        except StoreUnavailable:
            return False
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self._store.failed(exc)
            return False
        return True

    def _count_missing(self, kind: str, error: str) -> None:
        if not self._missing:
            self._first_error, self._since = error, self._clock.wall()
            log.error("journal unavailable (%s): events are counted, not written", error)
        self._missing[kind] += 1

    def _flush_missing(self, journal: Journal) -> None:
        if not self._missing:
            return
        journal.clock_trusted = self.clock_trusted
        journal.append(UNAVAILABLE_KIND, {
            "unwritten": sum(self._missing.values()), "kinds": dict(self._missing),
            "error": self._first_error, "since": self._since, "until": self._clock.wall(),
        }, alarm=True)
        log.warning("journal writable again; %d events were not written",
                    sum(self._missing.values()))
        self._missing.clear()
        self._first_error = self._since = None

    # ------------------------------------------------------------------ reading

    @property
    def missing(self) -> int:
        """How many events could not be written and are not yet reported in the journal."""
        return sum(self._missing.values())

    def status(self) -> dict[str, object]:
        """Health for the status page."""
        return {**self._store.status(), "unwritten_events": self.missing,
                "failing_since": self._since}

    def read(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        """Events after ``after_seq`` (StoreUnavailable or a storage error if unreadable)."""
        return self._store.get().read(after_seq, limit)

    def tail(self, n: int) -> list[Event]:
        """The newest ``n`` events."""
        return self._store.get().tail(n)

    def last_seq(self) -> int:
        """The newest sequence number of the open journal."""
        return self._store.get().last_seq()

    @property
    def acked_seq(self) -> int:
        """The highest sequence number central acknowledged."""
        return self._store.get().acked_seq

    def count(self) -> int:
        """How many events the open journal holds."""
        return self._store.get().count()
