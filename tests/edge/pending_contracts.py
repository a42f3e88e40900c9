"""TEMPORARY stand-ins for the issue 12 contracts other helpers implement at the same time
(H1a: decide(rules=) and its Decision fields, plate_match, lane_messages, timed_modes; H3:
lot_counts), so that the lane's tests run before their work is merged.

Each stand-in is installed only while the real part is still a stub (it raises
NotImplementedError, or decide() takes no ``rules``); once the real parts are merged this
module installs nothing and can be deleted with its imports (tests/edge/test_lane*.py,
tests/edge/test_paid_until_clock.py). The stand-ins are minimal: they implement only what
the lane tests exercise, after LANE.md's rules.

Use: the ``pending_contracts`` fixture in a test module, ``-p tests.edge.pending_contracts``
on the pytest command line for other gate tests, or ``install()`` in a gate process."""

from __future__ import annotations

import dataclasses
import inspect
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import edge.decision
import edge.gate
import edge.lane
import edge.lane_messages
import edge.lot_counts
import edge.plate_match
import edge.timed_modes
from edge.cards import CardRecord, ParkingRight
from edge.decision import Decision, Flag, GateRules, Reason
from edge.lot_counts import Occupancy
from edge.plates import PlateTolerance, normalize_plate, plate_key
from edge.ports import LaneMessage
from edge.site_rules import DEFAULT, ExpiredPolicy, Lot, SiteRules, SpaceClass, TimedModeKind
from firmware_config.schema import Role

REAL_DECIDE = edge.decision.decide


@dataclass(frozen=True)
class StandInDecision(Decision):
    """Decision with the fields H1a adds."""

    space_class: SpaceClass | None = None
    days_left: int | None = None
    parking: Any = None  # ParkingVerdict-like: has ``remind``


@dataclass(frozen=True)
class StandInVerdict:
    remind: bool


def _right_for(card: CardRecord, groups: frozenset[str]) -> ParkingRight | None:
    rights = [r for r in card.parking if r.group in groups]
    return max(rights, key=lambda r: r.paid_until) if rights else None


def decide(card: CardRecord | None, gate: GateRules, local_now: datetime, *,
           already_inside: bool, clock_trusted: bool, floor: datetime | None = None,
           rules: SiteRules = DEFAULT) -> Decision:
    """decide() with rule 1 of LANE.md on top of the foundation's decide()."""
    base = REAL_DECIDE(card, gate, local_now, already_inside=already_inside,
                       clock_trusted=clock_trusted, floor=floor)
    if card is None or gate.role is Role.DOOR:
        return StandInDecision(base.granted, base.reason, base.flags)
    right = _right_for(card, gate.access_groups)
    if right is None or base.reason is not Reason.NOT_PERMITTED_HERE:
        return StandInDecision(base.granted, base.reason, base.flags,
                               SpaceClass.MONTHLY if base.granted else None)
    # Only the parking right opens this lane: judged by paid-until, site-local.
    at_least = local_now if floor is None or floor <= local_now else floor
    day = at_least.date()
    policy = rules.policy(right.space_kind)
    space = SpaceClass.FIXED if right.space_kind == "fixed" else SpaceClass.MONTHLY
    days_left = (right.paid_until - day).days
    if day < right.starts_on:
        return StandInDecision(False, Reason.PARKING_NOT_STARTED)
    if days_left >= 0:
        paid = dataclasses.replace(card, access_groups=card.access_groups | {right.group})
        again = REAL_DECIDE(paid, gate, local_now, already_inside=already_inside,
                            clock_trusted=clock_trusted, floor=floor)
        return StandInDecision(again.granted, again.reason, again.flags, space, days_left,
                               StandInVerdict(days_left <= policy.remind_days))
    if -days_left <= policy.grace_days:
        return StandInDecision(True, Reason.GRANTED, (Flag.PARKING_GRACE,), space, days_left)
    if gate.role is Role.BARRIER_EXIT:
        return StandInDecision(False, Reason.PAY_AT_BOOTH, (), space, days_left)
    if policy.expired is ExpiredPolicy.TEMPORARY:
        return StandInDecision(True, Reason.GRANTED, (Flag.AS_TEMPORARY,),
                               SpaceClass.TEMPORARY, days_left)
    if policy.expired is ExpiredPolicy.GUARD:
        return StandInDecision(False, Reason.GUARD_CONFIRM, (), space, days_left)
    return StandInDecision(False, Reason.PARKING_EXPIRED, (), space, days_left)


def match_plate(lookup: Any, plate: str, tolerance: PlateTolerance) -> Any:
    """Exact and look-alike matches only."""
    from edge.plate_match import MatchKind, PlateMatch

    written = normalize_plate(plate)
    cards = lookup.cards_by_plate_key(plate_key(written))
    if not cards:
        return PlateMatch(None, MatchKind.NONE, 0)
    exact = [c for c in cards if c.plate and normalize_plate(c.plate) == written]
    if len(exact) == 1:
        return PlateMatch(exact[0], MatchKind.EXACT, len(cards))
    if len(cards) == 1 and tolerance is not PlateTolerance.EXACT:
        return PlateMatch(cards[0], MatchKind.CONFUSION, 1)
    return PlateMatch(None, MatchKind.AMBIGUOUS, len(cards))


def same_car(card_plate: str | None, read: str, tolerance: PlateTolerance) -> bool:
    """Same look-alike key."""
    if not card_plate:
        return False
    return plate_key(normalize_plate(card_plate)) == plate_key(normalize_plate(read))


def message_for(outcome: Any) -> LaneMessage:
    """The reason as the only line (enough to check what was shown)."""
    lines = [outcome.reason.value]
    if outcome.plate:
        lines.append(outcome.plate)
    if outcome.days_left is not None:
        lines.append(f"月卡剩余{outcome.days_left}天")
    return LaneMessage(tuple(lines), outcome.reason.value, 8.0)


def idle_message(idle_text: str, free_temporary: int | None) -> LaneMessage:
    """The idle text and the free count."""
    lines = (idle_text,) if free_temporary is None else (idle_text, f"余位 {free_temporary}")
    return LaneMessage(lines, None, 8.0)


def modes_in_force(rules: SiteRules, gate: str, local_now: datetime, *,
                   clock_trusted: bool) -> frozenset[TimedModeKind]:
    """The windows of ``gate`` containing ``local_now`` (holidays followed)."""
    days = rules.day_numbers(local_now.date())
    found = {m.mode for m in rules.modes_of(gate)
             if m.schedule.allows_on(days, local_now.time().replace(tzinfo=None))}
    if not clock_trusted:
        found.discard(TimedModeKind.HOLD_OPEN)
    return frozenset(found)


def seconds_to_next_change(rules: SiteRules, gate: str, local_now: datetime) -> float:
    """Up to 60 s, stopping at the next whole minute (windows are in minutes)."""
    return 60.0 - local_now.second - local_now.microsecond / 1e6


@dataclass
class _LotState:
    counts: dict[tuple[bool, SpaceClass], int] = field(default_factory=dict)


class LotCounts:
    """The lot counted in memory per file path (shared by every instance on a path), from
    this lane's passages only."""

    _files: dict[Path, _LotState] = {}  # noqa: RUF012 - shared on purpose

    def __init__(self, path: Path, device: str) -> None:
        self._state = self._files.setdefault(Path(path), _LotState())

    def record_passage(self, entering: bool, space_class: SpaceClass, wall: float) -> None:
        key = (entering, space_class)
        self._state.counts[key] = self._state.counts.get(key, 0) + 1

    def occupancy(self, lot: Lot) -> Occupancy:
        occupied = {c: max(0, self._state.counts.get((True, c), 0)
                           - self._state.counts.get((False, c), 0)) for c in SpaceClass}
        return Occupancy(lot.id, occupied, dict(lot.spaces))

    def close(self) -> None:
        pass


def _stubbed(call: Callable[[], object]) -> bool:
    try:
        call()
    except NotImplementedError:
        return True
    except Exception:
        return False
    return False


def stand_ins() -> Mapping[tuple[Any, str], Any]:
    """(module, name) → stand-in, for every contract still a stub."""
    found: dict[tuple[Any, str], Any] = {}
    if "rules" not in inspect.signature(edge.decision.decide).parameters:
        found[(edge.gate, "decide")] = decide

    class _NoCards:
        def cards_by_plate_key(self, key: str) -> list[CardRecord]:
            return []

        def cards_by_plate_tail(self, tail: str) -> list[CardRecord]:
            return []

    if _stubbed(lambda: edge.plate_match.match_plate(_NoCards(), "粤B12345",
                                                     PlateTolerance.EXACT)):
        found[(edge.lane, "match_plate")] = match_plate
    if _stubbed(lambda: edge.plate_match.same_car("粤B12345", "粤B12345",
                                                  PlateTolerance.EXACT)):
        found[(edge.lane, "same_car")] = same_car
    outcome = edge.lane_messages.LaneOutcome(True, Reason.GRANTED, True)
    if _stubbed(lambda: edge.lane_messages.message_for(outcome)):
        found[(edge.lane, "message_for")] = message_for
        found[(edge.lane_messages, "message_for")] = message_for
    if _stubbed(lambda: edge.lane_messages.idle_message("欢迎光临", None)):
        found[(edge.lane, "idle_message")] = idle_message
        found[(edge.lane_messages, "idle_message")] = idle_message
    noon = datetime(2026, 7, 8, 12, 0)
    if _stubbed(lambda: edge.timed_modes.modes_in_force(DEFAULT, "x", noon,
                                                        clock_trusted=True)):
        found[(edge.gate, "modes_in_force")] = modes_in_force
    if _stubbed(lambda: edge.timed_modes.seconds_to_next_change(DEFAULT, "x", noon)):
        found[(edge.gate, "seconds_to_next_change")] = seconds_to_next_change
    with tempfile.TemporaryDirectory() as folder:
        if _stubbed(lambda: edge.lot_counts.LotCounts(Path(folder) / "lot.db", "x")):
            found[(edge.lane, "LotCounts")] = LotCounts
            found[(edge.lot_counts, "LotCounts")] = LotCounts
    return found


def install() -> None:
    """Put the stand-ins in place for good (a gate process started for a test)."""
    for (module, name), value in stand_ins().items():
        setattr(module, name, value)


@pytest.fixture
def pending_contracts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stand-ins for this test, for the contracts still stubs."""
    for (module, name), value in stand_ins().items():
        monkeypatch.setattr(module, name, value)
    LotCounts._files.clear()
    yield


@pytest.fixture(autouse=True)
def _pending_contracts_everywhere(pending_contracts: None) -> None:
    """Autouse when loaded as a plugin (``-p tests.edge.pending_contracts``)."""


__all__ = ["install", "pending_contracts", "stand_ins"]

