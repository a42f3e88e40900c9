"""The car-park lane around a barrier (issue 12): which credentials open it, the lot's
spaces, the vehicles granted and not yet passed, and its display. Runs on the control
thread, created by the gate for barrier roles.

The gate decides a card (edge.decision) and owns the order "journal before the relay"; this
module turns what the gate decided, and what the plate camera read, into one ``LaneStep``
the gate concludes, and follows the barrier's loops afterwards:

* **Credentials** (``[lane] credentials``): a plate read below ``min_confidence`` opens
  nothing; the same plate again within ``plate_window`` is counted, not decided again; a
  plate finds its card with ``match_plate``; an unknown plate is a temporary car at an
  entry lane that admits them, else refused; ``card_and_plate`` waits ``pair_window`` for
  the other half, and the plate must be the card's (``same_car``). A lane taking cards only
  journals what its camera reads but opens nothing on it.
* **Lot** (rule 4): temporary cars are refused at the entry lane when the lot's temporary
  spaces are all taken, or while a timed monthly-only window is in force.
* **Passage** (rule 5): every vehicle let through leaves a ``Credential`` in a FIFO that
  follows the barrier's credits; presence (anti-passback) and the lot count move when the
  loops say the vehicle has passed, not at the grant, so a driver who taps and backs out is
  not locked out.
* **Display** (rule 6): the message for every decision, then the idle text.

The pieces (``PlateWindow``, ``Pairing``, ``CreditQueue``, ``lot_refusal``, ``verdict_of``)
take plain inputs and are tested without a gate.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from edge.cards import CardRecord
from edge.decision import Decision, Flag, Reason
from edge.gate_storage import GateStorage
from edge.journal_guard import GuardedJournal
from edge.lane_messages import LaneOutcome, idle_message, message_for
from edge.lot_counts import LotCounts, Occupancy
from edge.plate_match import MatchKind, PlateMatch, match_plate, same_car
from edge.ports import Clock, LaneDisplay, LaneMessage, PlateRead, Scheduler, TimerHandle
from edge.shared_store import StoreUnavailable
from edge.site_rules import Lot, SiteRules, SpaceClass
from edge.storage_check import describe, is_storage_error
from firmware_config.lane_tables import LaneConfig, LaneCredentials
from firmware_config.schema import EdgeConfig, Role

log = logging.getLogger(__name__)

DEFAULT_IDLE_TEXT = "欢迎光临"


# ------------------------------------------------------------------ plain pieces


@dataclass(frozen=True)
class LaneVerdict:
    """A decision as the lane carries it: the card's (or the plate's) outcome with its space
    class (None when refused before one was known) and the paid days left."""

    granted: bool
    reason: Reason
    flags: tuple[Flag, ...] = ()
    space_class: SpaceClass | None = None
    days_left: int | None = None
    reminded: bool = False  # the display shows "月卡剩余N天"

    def refused(self, reason: Reason) -> LaneVerdict:
        """The same vehicle, refused for ``reason``."""
        return replace(self, granted=False, reason=reason)


def verdict_of(decision: Decision) -> LaneVerdict:
    """The lane's view of a card decision (edge.decision with the parking fields). A card
    opening the lane through its own groups (no parking right judged) parks as MONTHLY."""
    space_class = decision.space_class
    if space_class is None and decision.granted:
        space_class = SpaceClass.MONTHLY
    parking = decision.parking
    return LaneVerdict(decision.granted, decision.reason, decision.flags, space_class,
                       decision.days_left, parking is not None and parking.remind)


TEMPORARY_CAR = LaneVerdict(True, Reason.GRANTED, (Flag.AS_TEMPORARY,), SpaceClass.TEMPORARY)


def lot_refusal(verdict: LaneVerdict, *, entering: bool, occupancy: Occupancy | None,
                monthly_only: bool) -> LaneVerdict:
    """Rule 4: a temporary car granted at an entry lane is refused while a monthly-only
    window is in force, or when the lot counts temporary spaces and none is free. Fixed and
    monthly cars always go in; an uncounted lot refuses nobody."""
    if not verdict.granted or not entering or verdict.space_class is not SpaceClass.TEMPORARY:
        return verdict
    if monthly_only:
        return verdict.refused(Reason.MONTHLY_ONLY)
    if occupancy is not None and occupancy.free(SpaceClass.TEMPORARY) == 0:
        return verdict.refused(Reason.LOT_FULL)
    return verdict


class PlateWindow:
    """A camera pushes the same car several times while it waits: the same plate within
    ``window`` seconds of its first read counts once. Later reads are counted (``repeats``)
    and do not extend the window, so a car still waiting after it is decided again."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._first: dict[str, float] = {}
        self.repeats = 0

    def first_read(self, plate: str, mono: float) -> bool:
        """True when ``plate`` at ``mono`` is to be decided; False (counted) for a repeat."""
        for seen, at in list(self._first.items()):
            if mono - at >= self.window:
                del self._first[seen]
        if plate in self._first:
            self.repeats += 1
            return False
        self._first[plate] = mono
        return True


@dataclass(frozen=True)
class PendingCard:
    """The card half of a ``card_and_plate`` pair, waiting for its plate."""

    uid: str
    plates: tuple[str, ...]  # the card's plate and its parking rights' plates
    verdict: LaneVerdict
    mono: float


@dataclass(frozen=True)
class PendingPlate:
    """The plate half of a ``card_and_plate`` pair, waiting for its card."""

    read: PlateRead
    mono: float


class Pairing:
    """``card_and_plate``: one half waits at most ``window`` seconds for the other; a newer
    half of the same kind replaces an older one (the next car)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._card: PendingCard | None = None
        self._plate: PendingPlate | None = None

    def take_plate(self, mono: float) -> PendingPlate | None:
        """The plate waiting for a card now, if any and still within the window (taken)."""
        pending, self._plate = self._plate, None
        return pending if pending is not None and mono - pending.mono <= self.window else None

    def take_card(self, mono: float) -> PendingCard | None:
        """The card waiting for a plate now, if any and still within the window (taken)."""
        pending, self._card = self._card, None
        return pending if pending is not None and mono - pending.mono <= self.window else None

    def wait_for_plate(self, card: PendingCard) -> None:
        """Keep the card until its plate is read."""
        self._card = card

    def wait_for_card(self, plate: PendingPlate) -> None:
        """Keep the plate until a card is presented."""
        self._plate = plate

    def status(self) -> dict[str, object]:
        """What is waiting (for the status block)."""
        return {"card": self._card.uid if self._card else None,
                "plate": self._plate.read.plate if self._plate else None}


def card_plates(card: CardRecord) -> tuple[str, ...]:
    """The plates a card stands for: its own and its parking rights'."""
    plates = [card.plate] if card.plate else []
    plates += [right.plate for right in card.parking if right.plate]
    return tuple(dict.fromkeys(plates))


@dataclass(frozen=True)
class Credential:
    """A vehicle let through and not yet passed: a card (uid), or a temporary car's plate."""

    uid: str | None
    plate: str | None
    space_class: SpaceClass

    def wire(self) -> dict[str, object]:
        """As the journal and the status show it (never the holder's name)."""
        data: dict[str, object] = {"space_class": self.space_class.value}
        if self.uid is not None:
            data["uid"] = self.uid
        if self.plate is not None:
            data["plate"] = self.plate
        return data


class CreditQueue:
    """The credentials of the barrier's credits, oldest first: each grant adds a credit and a
    credential; a vehicle passing (credited) or backing out spends the oldest; credits that
    lapse (the arm lowered with credits left, a stuck arm) take their credentials with
    them."""

    def __init__(self) -> None:
        self._queue: collections.deque[Credential] = collections.deque()

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, credential: Credential) -> None:
        """A grant (or a guard's open) added one credit."""
        self._queue.append(credential)

    def spend(self) -> Credential | None:
        """A credited vehicle passed or backed out: the oldest credential."""
        return self._queue.popleft() if self._queue else None

    def keep(self, credits: int) -> list[Credential]:
        """The barrier holds ``credits`` now: drop (and return) the oldest beyond that."""
        dropped = []
        while len(self._queue) > max(0, credits):
            dropped.append(self._queue.popleft())
        return dropped

    def pending(self) -> list[dict[str, object]]:
        """The credentials waiting, oldest first."""
        return [c.wire() for c in self._queue]


# ------------------------------------------------------------------ the lane


@dataclass(frozen=True)
class LaneStep:
    """What the gate journals and does for one card tap or plate read at a lane."""

    kind: str  # "tap" or "plate"
    uid: str | None
    verdict: LaneVerdict
    data: Mapping[str, object]
    credential: Credential | None  # pushed when the barrier takes the grant
    plate: str | None  # shown on the display
    opens: bool = True  # False: only journalled (a plate read at a card-only lane)
    # The lot as read for a temporary car's "车位已满" check; the display shows the same
    # count (nothing is counted before the car passes), so it is not read twice.
    occupancy: Occupancy | None = None


CardDecider = Callable[[CardRecord], Decision]


class Lane:
    """A barrier lane's credentials, lot, credits and display. Call on the control thread."""

    def __init__(self, config: EdgeConfig, *, storage: GateStorage, journal: GuardedJournal,
                 clock: Clock, scheduler: Scheduler, rules: Callable[[], SiteRules],
                 credits: Callable[[], int], display: LaneDisplay | None = None) -> None:
        assert config.lane is not None
        self.config: LaneConfig = config.lane
        self.device = config.device.id
        self.entering = config.device.role is Role.BARRIER_ENTRY
        self.idle_text = config.display.idle_text if config.display else DEFAULT_IDLE_TEXT
        self._storage = storage
        self._journal = journal
        self._clock = clock
        self._scheduler = scheduler
        self._rules = rules
        self._credits_left = credits
        self.display = display
        self.plates = PlateWindow(self.config.plate_window)
        self._low_reads = PlateWindow(self.config.plate_window)
        self.pairing = Pairing(self.config.pair_window)
        self.credits = CreditQueue()
        self._lots: LotCounts | None = None
        self._lot_error: str | None = None
        self._display_error: str | None = None
        self._idle_timer: TimerHandle | None = None

    # ------------------------------------------------------------------ the lot

    def lot(self) -> Lot | None:
        """This lane's car park, if the site's rules name one."""
        return self._rules().lot_of(self.device)

    def lot_counts(self) -> LotCounts | None:
        """This lane's lot.db, opened once and kept (None while it cannot be opened: the
        fault is alarmed). Used on the control thread only."""
        if self._lots is None:
            try:
                self._lots = LotCounts(self.config.lot_db, self.device, clock=self._clock)
            except Exception as exc:
                self._lot_fault(exc, "open")
        return self._lots

    def _lot_fault(self, exc: Exception, action: str) -> None:
        # A lot file that fails never stops a car: the lane then counts nothing and refuses
        # no temporary car for lack of space. Alarmed once per distinct error.
        if not is_storage_error(exc) and not isinstance(exc, StoreUnavailable):
            raise exc
        text = f"{action}: {describe(exc)}"
        if text != self._lot_error:
            self._lot_error = text
            self._journal.record("lot_counts_fault", {"error": text,
                                                      "path": str(self.config.lot_db)},
                                 alarm=True)

    def occupancy(self) -> Occupancy | None:
        """The lot's occupancy now; None when no lot is counted here (or its file fails)."""
        lot = self.lot()
        if lot is None:
            return None
        counts = self.lot_counts()
        if counts is None:
            return None
        try:
            occupancy = counts.occupancy(lot)
        except Exception as exc:
            self._lot_fault(exc, "read")
            return None
        self._lot_error = None
        return occupancy

    def free_temporary(self, occupancy: Occupancy | None) -> int | None:
        """Temporary spaces left, when counted."""
        return None if occupancy is None else occupancy.free(SpaceClass.TEMPORARY)

    # ------------------------------------------------------------ credentials in

    def card_tapped(self, uid: str, card: CardRecord | None, decision: Decision,
                    data: dict[str, object], *, monthly_only: bool) -> LaneStep:
        """The lane's step for a card the gate has decided (``data`` is the tap's event)."""
        verdict = verdict_of(decision)
        plate = card_plates(card)[0] if card is not None and card_plates(card) else None
        if (self.config.credentials is LaneCredentials.CARD_AND_PLATE and verdict.granted
                and card is not None):
            mono = self._scheduler.now()
            waiting = self.pairing.take_plate(mono)
            if waiting is None:
                self.pairing.wait_for_plate(PendingCard(uid, card_plates(card), verdict, mono))
                verdict = verdict.refused(Reason.PAIR_INCOMPLETE)
            else:
                read = waiting.read
                data["pair"] = {"plate": read.plate, "camera": read.camera}
                plate = read.plate
                if not self._same_car(card_plates(card), read.plate):
                    verdict = verdict.refused(Reason.PLATE_MISMATCH)
        return self._finish("tap", uid, verdict, data, plate, monthly_only=monthly_only,
                            credential_plate=None)

    def plate_read(self, read: PlateRead, decide_card: CardDecider, *,
                   monthly_only: bool) -> LaneStep | None:
        """The lane's step for one plate read; None for a repeat within ``plate_window``
        (counted only)."""
        mono = self._scheduler.now()
        cfg = self.config
        data: dict[str, object] = {"plate": read.plate, "confidence": read.confidence,
                                   "camera": read.camera}
        if read.confidence < cfg.min_confidence:
            if not self._low_reads.first_read(read.plate, mono):
                return None
            data["match"] = MatchKind.NONE.value
            return self._finish("plate", None, LaneVerdict(False, Reason.PLATE_LOW_CONFIDENCE),
                                data, read.plate, monthly_only=monthly_only,
                                opens=cfg.credentials is not LaneCredentials.CARD)
        if not self.plates.first_read(read.plate, mono):
            return None
        match = self._storage.auth.use(
            lambda store: match_plate(store, read.plate, cfg.plate_tolerance), None)
        if match is None:
            data["error"] = f"{self._storage.auth.path.name}: " \
                            f"{self._storage.auth.last_error or 'not open'}"
            data["match"] = MatchKind.NONE.value
            return self._finish("plate", None, LaneVerdict(False, Reason.WHITELIST_UNAVAILABLE),
                                data, read.plate, monthly_only=monthly_only,
                                opens=cfg.credentials is not LaneCredentials.CARD)
        data["match"] = match.kind.value
        if match.candidates > 1:
            data["candidates"] = match.candidates
        card = match.card
        uid = card.uid if card is not None else None
        verdict = self._plate_verdict(match, decide_card)
        if cfg.credentials is LaneCredentials.CARD:
            # The camera only watches here: journalled, opens nothing.
            return self._finish("plate", uid, verdict, data, read.plate,
                                monthly_only=monthly_only, opens=False)
        if cfg.credentials is LaneCredentials.CARD_AND_PLATE and not (
                card is None and verdict.granted):  # a temporary car has no card to pair
            # The card decides; the read only has to be its car (an ambiguous or unknown
            # read may still be the tapped card's plate).
            waiting = self.pairing.take_card(mono)
            if waiting is None:
                self.pairing.wait_for_card(PendingPlate(read, mono))
                verdict = LaneVerdict(False, Reason.PAIR_INCOMPLETE)
            else:
                uid = waiting.uid
                data["pair"] = {"uid": waiting.uid}
                verdict = waiting.verdict
                if not self._same_car(waiting.plates, read.plate):
                    verdict = verdict.refused(Reason.PLATE_MISMATCH)
        return self._finish("plate", uid, verdict, data, read.plate, monthly_only=monthly_only,
                            credential_plate=read.plate if uid is None else None)

    def _plate_verdict(self, match: PlateMatch, decide_card: CardDecider) -> LaneVerdict:
        if match.kind is MatchKind.AMBIGUOUS:
            return LaneVerdict(False, Reason.PLATE_AMBIGUOUS)
        if match.card is None:
            if not self.entering:
                # The car is inside already, on no card: the booth charges it first.
                return LaneVerdict(False, Reason.PAY_AT_BOOTH, (), SpaceClass.TEMPORARY)
            if self.config.admit_temporary:
                return TEMPORARY_CAR
            return LaneVerdict(False, Reason.PLATE_UNKNOWN)
        verdict = verdict_of(decide_card(match.card))
        if match.kind is not MatchKind.EXACT:
            verdict = replace(verdict, flags=(*verdict.flags, Flag.PLATE_TOLERANT_MATCH))
        return verdict

    def _same_car(self, plates: tuple[str, ...], read: str) -> bool:
        tolerance = self.config.plate_tolerance
        if not plates:
            return same_car(None, read, tolerance)
        return any(same_car(plate, read, tolerance) for plate in plates)

    def _finish(self, kind: str, uid: str | None, verdict: LaneVerdict,
                data: dict[str, object], plate: str | None, *, monthly_only: bool,
                opens: bool = True, credential_plate: str | None = None) -> LaneStep:
        occupancy = self.occupancy() if verdict.space_class is SpaceClass.TEMPORARY else None
        verdict = lot_refusal(verdict, entering=self.entering, occupancy=occupancy,
                              monthly_only=monthly_only)
        if verdict.flags:
            data["flags"] = [f.value for f in verdict.flags]
        if verdict.space_class is not None:
            data["space_class"] = verdict.space_class.value
        if verdict.days_left is not None:
            data["days_left"] = verdict.days_left
        if not opens:
            data["opens"] = False
        credential = None
        if verdict.granted and opens and verdict.space_class is not None:
            credential = Credential(uid, credential_plate, verdict.space_class)
        return LaneStep(kind, uid, verdict, data, credential, plate, opens, occupancy)

    # -------------------------------------------------------- after the decision

    def let_through(self, credential: Credential) -> None:
        """The barrier took the grant: its credit is this credential's."""
        self.credits.push(credential)

    def guard_opened(self) -> None:
        """A guard (or the desk) opened by hand: a temporary car, as far as the lot knows."""
        self.credits.push(Credential(None, None, SpaceClass.TEMPORARY))

    def show_outcome(self, step: LaneStep, granted: bool, reason: Reason) -> None:
        """Rule 6: the display after a decision (the gate's final word on it)."""
        if self.display is None or not step.opens:
            return
        verdict = step.verdict
        occupancy = step.occupancy if step.occupancy is not None else self.occupancy()
        outcome = LaneOutcome(
            granted=granted, reason=reason, entering=self.entering, plate=step.plate,
            days_left=verdict.days_left if verdict.reminded and granted else None,
            flags=verdict.flags, free_temporary=self.free_temporary(occupancy))
        self._show(lambda: message_for(outcome))

    def show_idle(self) -> None:
        """The idle text (and the free temporary spaces, when counted)."""
        self._idle_timer = None
        if self.display is None:
            return
        free = self.free_temporary(self.occupancy())
        self._show(lambda: idle_message(self.idle_text, free), idle=True)

    def _show(self, make: Callable[[], LaneMessage], *, idle: bool = False) -> None:
        assert self.display is not None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            message = make()
            self.display.show(message)
        except Exception as exc:
            # The display is a courtesy: the barrier has already done its work, and a gate
            # that ended on a display fault would stop opening. Alarmed once per error.
            text = f"{type(exc).__name__}: {exc}"
            if text != self._display_error:
                self._display_error = text
                log.error("lane display: %s", text, exc_info=exc)
                self._journal.record("display_fault", {"error": text}, alarm=True)
            return
        self._display_error = None
        if not idle:
            self._idle_timer = self._scheduler.call_later(message.hold_s, self.show_idle)

    # ---------------------------------------------------------------- passage

    def barrier_event(self, kind: str, data: Mapping[str, object]) -> None:
        """Follow the barrier (edge.barrier): a passage spends a credential and is counted,
        a car backing out spends one and counts nothing, lapsed credits drop theirs."""
        if kind == "vehicle_passed":
            credential = self.credits.spend() if data.get("credited") else None
            self._passed(credential)
        elif kind == "vehicle_backed_out":
            left = data.get("credits")
            if isinstance(left, int) and len(self.credits) > left:
                credential = self.credits.spend()
                assert credential is not None
                self._journal.record("vehicle_backed_out_credential", credential.wire())
        for credential in self.credits.keep(self._credits_left()):
            self._journal.record("credit_lapsed", credential.wire())

    def _passed(self, credential: Credential | None) -> None:
        wall = self._clock.wall()
        # An uncredited passage (a tailgater, a car under a held-open arm) is a temporary car.
        space_class = credential.space_class if credential else SpaceClass.TEMPORARY
        if credential is not None and credential.uid is not None:
            self._storage.record_presence(credential.uid, self.entering, wall)
        lot = self.lot()
        counted = False
        if lot is not None:
            counts = self.lot_counts()
            if counts is not None:
                try:
                    counts.record_passage(self.entering, space_class, wall)
                    counted = True
                except Exception as exc:
                    self._lot_fault(exc, "count")
        data: dict[str, object] = credential.wire() if credential else {
            "space_class": space_class.value}
        data.update({"entering": self.entering, "credited": credential is not None,
                     "lot": lot.id if lot else None, "counted": counted})
        self._journal.record("vehicle_counted", data)
        if counted and self.display is not None and self._idle_timer is None:
            self.show_idle()  # the free spaces changed

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, object]:
        """The lane block of the gate's status."""
        occupancy = self.occupancy()
        lot: dict[str, Any] | None = None
        if occupancy is not None:
            lot = {"id": occupancy.lot,
                   "occupied": {k.value: v for k, v in occupancy.occupied.items()},
                   "spaces": {k.value: v for k, v in occupancy.spaces.items()},
                   "free": {k.value: occupancy.free(k) for k in occupancy.spaces},
                   "stale_lanes": list(occupancy.stale_lanes)}
        return {
            "credentials": self.config.credentials.value,
            "lot": lot,
            "lot_error": self._lot_error,
            "credits_pending": self.credits.pending(),
            "plate_repeats": self.plates.repeats,
            "pairing": self.pairing.status(),
            "display": self.display is not None,
        }

    def close(self) -> None:
        """Stop the idle timer, close the lot file and the display."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._lots is not None:
            try:
                self._lots.close()
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
            self._lots = None
        if self.display is not None:
            self.display.close()
