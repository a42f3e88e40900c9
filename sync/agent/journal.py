"""What the sync agent writes into the gate's journal (``events.db``): refusals of signed
messages as ``security`` alarms, and remote commands that could not be delivered.

The gate and the agent both append to the same file; SQLite serialises the two writers and
``AUTOINCREMENT`` keeps the sequence numbers gap-free. Alarms are never pruned from the
journal, so a flood of refusals is rate-limited here: past ``burst`` per window the rest are
only counted, and one ``security_suppressed`` alarm says how many were left out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.clock_trust import AgentClockTrust
from edge.journal import Journal

log = logging.getLogger(__name__)

SECURITY_KIND = "security"
SUPPRESSED_KIND = "security_suppressed"
UNDELIVERED_KIND = "remote_command_undelivered"


class AgentJournal:
    """Thread-safe appends for the agent's threads (the worker and the command relay)."""

    def __init__(self, journal: Journal, trust: AgentClockTrust, *, burst: int = 100,
                 window: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._journal = journal
        self._trust = trust
        self._lock = threading.Lock()
        self._burst = burst
        self._window = window
        self._monotonic = monotonic
        self._window_start = monotonic()
        self._in_window = 0
        self._suppressed = 0

    def _append(self, kind: str, data: dict[str, object], alarm: bool) -> int:
        # Every event records whether the clock was trusted when it was written.
        self._journal.clock_trusted = self._trust.trusted()
        return self._journal.append(kind, data, alarm=alarm)

    def security(self, subject: str, reason: str, *, alarm: bool = True,
                 **details: object) -> int | None:
        """Journal a refusal (``kind="security"``) and log it; None when rate-limited.

        ``subject`` names what was refused (``auth_changes``, ``auth_snapshot``, ``command``),
        ``reason`` why, in a word a report can group by. ``alarm`` is False only for refusals
        that ordinary operation produces (a correctly signed list already applied), so that
        guards are not taught to ignore the alarms that matter.
        """
        log.warning("refused %s: %s %s", subject, reason, details or "")
        data: dict[str, object] = {"source": "sync", "subject": subject, "reason": reason,
                                   **details}
        with self._lock:
            now = self._monotonic()
            if now - self._window_start >= self._window:
                if self._suppressed:
                    self._append(SUPPRESSED_KIND, {"source": "sync",
                                                   "suppressed": self._suppressed}, True)
                self._window_start, self._in_window, self._suppressed = now, 0, 0
            if self._in_window >= self._burst:
                self._suppressed += 1
                return None
            self._in_window += 1
            return self._append(SECURITY_KIND, data, alarm)

    def event(self, kind: str, data: dict[str, object], *, alarm: bool = False) -> int:
        """Journal any other event of the agent's."""
        with self._lock:
            return self._append(kind, {"source": "sync", **data}, alarm)

    def close(self) -> None:
        """Close the journal connection."""
        with self._lock:
            self._journal.close()
