"""Clock trust: a Pi has no real-time clock, so the wall clock is a claim.

The gate keeps a **floor** of trusted time: the latest time it has reason to believe has
already passed. Its sources (the files are described in ``edge.clock_files``):

- the saved high-water mark (``clock.json``), moved forward while the clock is trusted;
- the ``issued_at`` of the newest signed list applied (``auth.db``) and of the newest signed
  command accepted, less ``skew`` (central's clock and ours may disagree that much);
- central's clock from a signed ``time`` answer, carried forward on the monotonic clock;
- the kernel reporting NTP synchronisation (the ClockSync port).

The wall clock is trusted when it reads at or past the floor (or, with no floor at all,
when NTP vouches for it). A mark that one bad boot pushed ahead is disproved by a trusted
source: central's time drops any evidence beyond it, and NTP synchronisation drops the
gate's own mark (never the signed evidence, which NTP, unauthenticated, cannot outvote).

``judge`` is the rule, a pure function, and ``read_evidence`` gathers what it judges from
every source. ``GateClockTrust`` applies it for the gate (keeps and saves the mark, reports
changes for the journal); ``AgentClockTrust`` applies the same rule to the same evidence for
the sync agent, and records what the agent verified (``clock-evidence.json``), so the two
processes agree without a channel between them."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edge.clock_files import (
    AgentEvidence,
    CentralTime,
    current_boot_id,
    evidence_path,
    load_agent_evidence,
    load_mark,
    save_agent_evidence,
    save_mark,
)
from edge.ports import Clock, ClockSync

log = logging.getLogger(__name__)

# A clock a little behind the mark is ordinary jitter of a synced clock; this much is not.
BACKWARDS_TOLERANCE_S = 2.0
# How far central's clock and ours may disagree when no [sync] table says otherwise.
DEFAULT_SKEW_S = 300.0

MARK_RESET_BY_CENTRAL = "mark reset by central time"
MARK_RESET_BY_NTP = "mark reset by ntp synchronisation"
NO_FLOOR = "no floor"
NTP_SYNCHRONISED = "ntp synchronised"
# The agent asks for trust on every journal append and status; the files need not be read
# more often than this.
AGENT_CACHE_S = 1.0


@dataclass(frozen=True)
class Evidence:
    """Everything known about the time at one moment, from every source."""

    mark: float | None = None
    list_issued_at: float | None = None
    command_issued_at: float | None = None
    central_now: float | None = None  # central's clock now (projected); None if not known
    ntp_synchronised: bool = False


@dataclass(frozen=True)
class Judgement:
    """What the evidence says about the wall clock."""

    trusted: bool
    floor: float | None  # the latest time known to have passed; None: no floor yet
    mark: float | None  # what the gate keeps as its high-water mark from now on
    cause: str  # why trusted or not, in words a journal reader understands
    reset: str | None = None  # set when the old mark was disproved and dropped


def judge(wall: float, evidence: Evidence, skew: float = DEFAULT_SKEW_S) -> Judgement:
    """Judge the wall clock ``wall`` against ``evidence`` (pure)."""
    mark, reset = evidence.mark, None
    signed = {"signed list": evidence.list_issued_at,
              "signed command": evidence.command_issued_at}
    central = evidence.central_now
    if central is not None:
        # Central's own clock, fresh and signed, outranks everything earlier: whatever
        # claims a time beyond it was wrong when it was written.
        cap = central + skew
        if mark is not None and mark > cap:
            mark, reset = None, MARK_RESET_BY_CENTRAL
        signed = {k: v for k, v in signed.items() if v is not None and v <= cap}
    bounds: dict[str, float] = {k: v - skew for k, v in signed.items() if v is not None}
    if (central is None and evidence.ntp_synchronised and mark is not None
            and mark > max([wall + BACKWARDS_TOLERANCE_S, *bounds.values()])):
        # A synchronised clock disproves the gate's own mark, not what central signed.
        mark, reset = None, MARK_RESET_BY_NTP
    if mark is not None:
        bounds["saved mark"] = mark
    if central is not None:
        bounds["central time"] = central - skew
    floor = max(bounds.values()) if bounds else None
    source = max(bounds, key=lambda k: bounds[k]) if bounds else ""
    if central is not None:
        trusted = central - skew <= wall <= central + skew
        cause = ("clock agrees with central time" if trusted else
                 "clock behind central time" if wall < central else "clock ahead of central time")
    elif floor is None:
        trusted = evidence.ntp_synchronised
        cause = NTP_SYNCHRONISED if trusted else NO_FLOOR
    elif wall + BACKWARDS_TOLERANCE_S >= floor:
        trusted = True
        cause = (NTP_SYNCHRONISED if evidence.ntp_synchronised
                 else f"clock at or past the floor ({source})")
    else:
        trusted = False
        cause = f"clock behind {source}"
    keep = [v for v in (floor, wall if trusted else None) if v is not None]
    return Judgement(trusted, floor, max(keep) if keep else None, cause, reset)


def read_evidence(mark: float | None, list_issued_at: float | None, evidence_file: Path, *,
                  clock: Clock, sync: ClockSync, boot_id: str) -> Evidence:
    """Every source now: the gate's ``mark`` and the newest list's issue time as the caller
    holds them, the agent's evidence from ``evidence_file`` (central's clock carried forward
    on this boot's monotonic clock), and NTP."""
    agent = load_agent_evidence(evidence_file)
    central = (None if agent.central_time is None else
               agent.central_time.projected(clock.monotonic(), boot_id))
    return Evidence(mark, list_issued_at, agent.command_issued_at, central,
                    sync.synchronised())


@dataclass(frozen=True)
class TrustChange:
    """The clock's trust changed, or its mark was reset; journalled as ``clock_trust``."""

    trusted: bool
    wall: float
    high_water_mark: float | None
    cause: str
    floor: float | None = None
    previous_mark: float | None = None  # the mark a trusted source disproved

    @property
    def alarm(self) -> bool:
        """Guards must hear of an untrusted clock and of a mark that had to be reset."""
        return not self.trusted or self.previous_mark is not None


class GateClockTrust:
    """The gate's time trust: judges the clock at boot and on every tick, keeps the mark in
    ``path`` (the gate is its only writer) and reads the agent's evidence beside it."""

    def __init__(self, path: Path, clock: Clock, sync: ClockSync, *,
                 list_issued_at: Callable[[], float | None], skew: float = DEFAULT_SKEW_S,
                 save_every: float = 60.0) -> None:
        self.path = path
        self.clock = clock
        self.sync = sync
        self.skew = skew
        self.save_every = save_every
        self._list_issued_at = list_issued_at
        self._evidence_path = evidence_path(path)
        self._boot_id = current_boot_id()
        self.high_water_mark = load_mark(path)
        self.trusted = False
        self.floor: float | None = None
        self.cause = NO_FLOOR
        self._judged_wall = -math.inf
        self._saved = self.high_water_mark
        self._saved_at = -math.inf

    def evidence(self) -> Evidence:
        """Read every source now."""
        return read_evidence(self.high_water_mark, self._list_issued_at(),
                             self._evidence_path, clock=self.clock, sync=self.sync,
                             boot_id=self._boot_id)

    def _reassess(self, *, boot: bool) -> TrustChange | None:
        wall = self.clock.wall()
        old_mark, was_trusted = self.high_water_mark, self.trusted
        j = judge(wall, self.evidence(), self.skew)
        self.trusted, self.floor, self.cause = j.trusted, j.floor, j.cause
        self.high_water_mark = j.mark
        self._judged_wall = wall
        now = self.clock.monotonic()
        if j.mark is not None and j.mark != self._saved and (
                boot or j.reset is not None or now - self._saved_at >= self.save_every):
            try:
                save_mark(self.path, j.mark)
                self._saved, self._saved_at = j.mark, now
            except OSError as exc:
                # A full disk must not stop the gate (egress): the mark stays in memory and
                # the next tick saves it again.
                log.warning("cannot save the clock's high-water mark to %s: %s", self.path,
                            exc)
        if j.reset is not None:
            return TrustChange(j.trusted, wall, j.mark, j.reset, j.floor, old_mark)
        if boot and not j.trusted:
            return TrustChange(False, wall, j.mark, j.cause, j.floor)
        if not boot and j.trusted != was_trusted:
            cause = j.cause
            if not j.trusted and cause == "clock behind saved mark":
                cause = "clock jumped backwards"
            elif j.trusted and cause.startswith("clock at or past the floor"):
                cause = cause.replace("at or past", "caught up with", 1)
            return TrustChange(j.trusted, wall, j.mark, cause, j.floor)
        return None

    def at_boot(self) -> TrustChange | None:
        """Judge the clock at start; a change to journal when it is untrusted or reset."""
        return self._reassess(boot=True)

    def tick(self) -> TrustChange | None:
        """Called every few seconds: reads new evidence, saves the mark now and then, and
        notices the clock jumping, recovering, or a mark being reset."""
        return self._reassess(boot=False)

    def view(self, wall: float) -> tuple[bool, float | None]:
        """``(trusted, floor)`` for a decision at ``wall``: a clock that moved backwards since
        the last judgement is not believed, even before the next tick notices."""
        trusted = self.trusted and wall + BACKWARDS_TOLERANCE_S >= self._judged_wall
        return trusted, self.floor


@dataclass(frozen=True)
class TimeEstimate:
    """The agent's best knowledge of the time now."""

    now: float  # central's clock if known, else the wall clock if trusted, else the floor
    exact: bool  # the time is known (trusted clock or central's), not just a lower bound


class AgentClockTrust:
    """The sync agent's view: answers "can the wall clock be believed right now?" (the gate's
    rule on the same evidence, read at most every AGENT_CACHE_S) and records what the agent
    verified. Used from the worker and the command relay threads."""

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

    def judgement(self) -> tuple[Judgement, float | None]:
        """The current judgement and central's time now (None when not known)."""
        now = self._monotonic()
        with self._lock:
            cached = self._cached
            if cached is not None and 0 <= now - cached[0] < AGENT_CACHE_S:
                return cached[1], cached[2]
            evidence = read_evidence(load_mark(self.path), self._list_issued_at,
                                     self.evidence_path, clock=self.clock, sync=self.sync,
                                     boot_id=self._boot_id)
            result = judge(self.clock.wall(), evidence, self.skew)
            self._cached = (now, result, evidence.central_now)
            return result, evidence.central_now

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
