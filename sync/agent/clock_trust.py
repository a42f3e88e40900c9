"""The sync agent's side of time trust.

The agent judges the wall clock with the gate's own rule (``edge.time_trust.judge``) on the
same evidence, so both processes agree without a channel between them: the gate's mark
(``clock.json``), the ``issued_at`` of the newest list applied, and what the agent itself
verified, which it writes to ``clock-evidence.json`` for the gate to read (the newest
accepted command's ``issued_at``; central's clock from a signed ``time`` answer).

Used from the worker and the command relay threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edge.clock_state import (
    AgentEvidence,
    CentralTime,
    current_boot_id,
    evidence_path,
    load_agent_evidence,
    load_mark,
    save_agent_evidence,
)
from edge.ports import Clock, ClockSync
from edge.time_trust import Evidence, Judgement, judge

# trusted() is asked for every journal append and status; the files need not be read
# more often than this.
CACHE_S = 1.0


@dataclass(frozen=True)
class TimeEstimate:
    """The agent's best knowledge of the time now."""

    now: float  # central's clock if known, else the wall clock if trusted, else the floor
    exact: bool  # the time is known (trusted clock or central's), not just a lower bound


class ClockTrust:
    """Answers "can the wall clock be believed right now?" and records the agent's evidence."""

    def __init__(self, clock_state: Path, clock: Clock, sync: ClockSync, *,
                 skew: float, list_issued_at: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = clock_state
        self.evidence_path = evidence_path(clock_state)
        self.clock = clock
        self.sync = sync
        self.skew = skew
        self._list_issued_at = list_issued_at
        self._monotonic = monotonic
        self._boot_id = current_boot_id()
        self._lock = threading.Lock()
        self._cached: tuple[float, Judgement, float | None] | None = None

    def _evidence(self) -> tuple[Evidence, float | None]:
        agent = load_agent_evidence(self.evidence_path)
        central = (None if agent.central_time is None else
                   agent.central_time.projected(self.clock.monotonic(), self._boot_id))
        return Evidence(load_mark(self.path), self._list_issued_at, agent.command_issued_at,
                        central, self.sync.synchronised()), central

    def judgement(self) -> tuple[Judgement, float | None]:
        """The current judgement and central's time now (None when not known)."""
        now = self._monotonic()
        with self._lock:
            cached = self._cached
            if cached is not None and 0 <= now - cached[0] < CACHE_S:
                return cached[1], cached[2]
            evidence, central = self._evidence()
            result = judge(self.clock.wall(), evidence, self.skew)
            self._cached = (now, result, central)
            return result, central

    def trusted(self) -> bool:
        """Whether the wall clock can be believed (the gate's rule, the same evidence)."""
        return self.judgement()[0].trusted

    def estimate(self) -> TimeEstimate:
        """The time to judge a command's expiry by (see sync.agent.command_relay)."""
        result, central = self.judgement()
        if central is not None:
            return TimeEstimate(central, True)
        wall = self.clock.wall()
        if result.trusted:
            return TimeEstimate(wall, True)
        # Untrusted: the clock is known to be wrong, but never earlier than the floor.
        return TimeEstimate(wall if result.floor is None else max(wall, result.floor), False)

    # ------------------------------------------------------------ evidence the agent adds

    def saw_list(self, issued_at: float) -> None:
        """A signed list was applied (``auth.db`` now holds its ``issued_at``)."""
        with self._lock:
            self._list_issued_at = issued_at
            self._cached = None

    def saw_command(self, issued_at: float) -> None:
        """A genuine, fresh command was accepted: its issue time is floor evidence."""
        self._update(lambda e: replace(e, command_issued_at=max(
            issued_at, e.command_issued_at or 0.0)))

    def saw_central_time(self, now: float, rtt: float) -> None:
        """Central's signed clock, received just now after a round trip of ``rtt``."""
        central = CentralTime(now, self.clock.monotonic(), self._boot_id, rtt)
        self._update(lambda e: replace(e, central_time=central))

    def _update(self, change: Callable[[AgentEvidence], AgentEvidence]) -> None:
        with self._lock:
            save_agent_evidence(self.evidence_path,
                                change(load_agent_evidence(self.evidence_path)))
            self._cached = None
