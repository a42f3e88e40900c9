"""The gate's decision: a pure function from what is known to grant or deny, with one reason."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from edge import site_rules
from edge.cards import CardRecord, CardStatus
from edge.parking_validity import (
    ParkingStanding,
    ParkingVerdict,
    judge_parking,
    space_class_of,
)
from edge.site_rules import ExpiredPolicy, SiteRules, SpaceClass
from firmware_config.schema import AntiPassbackMode, Role, UntrustedClockPolicy

_LANES = frozenset({Role.BARRIER_ENTRY, Role.BARRIER_EXIT})


class Reason(enum.StrEnum):
    """Why a tap was granted or denied; each value is journalled and shown to guards."""

    GRANTED = "granted"
    UNKNOWN_CARD = "unknown_card"
    LOST = "lost"
    REVOKED = "revoked"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    NOT_PERMITTED_HERE = "not_permitted_here"
    OUTSIDE_SCHEDULE = "outside_schedule"
    ANTI_PASSBACK = "anti_passback"
    CLOCK_UNTRUSTED = "clock_untrusted"
    # Set by the gate, not by decide(): the grant stood but the hardware could not act,
    # or a remote lockdown is in force.
    OUT_OF_SERVICE = "out_of_service"
    LOCKDOWN = "lockdown"
    # Set by the gate: the grant stood but could not be journalled (disk full, I/O error,
    # damaged events.db), and nothing opens without a durable record.
    JOURNAL_UNAVAILABLE = "journal_unavailable"
    # Set by the gate: the whitelist could not be read (damaged page, I/O error, being
    # replaced), so the card cannot be judged.
    WHITELIST_UNAVAILABLE = "whitelist_unavailable"
    # Car-park lanes (rule P2, edge.parking_validity): a monthly card's paid month (and its
    # grace days) ran out and the site's policy refuses it; or its first month starts later.
    PARKING_EXPIRED = "parking_expired"
    PARKING_NOT_STARTED = "parking_not_started"
    # Expired, and the site's policy holds the car until the booth's guard confirms it.
    GUARD_CONFIRM = "guard_confirm"
    # Set by the lane (edge.lane): no temporary space left ("车位已满"); a timed mode admits
    # monthly cards only; a temporary car at the exit pays at the booth first.
    LOT_FULL = "lot_full"
    MONTHLY_ONLY = "monthly_only"
    PAY_AT_BOOTH = "pay_at_booth"
    # Set by the lane for plate reads: no card has this plate; more than one card matches a
    # tolerant read; the camera's confidence is below the lane's minimum; card and plate
    # (card_and_plate) are not one car; the other half of card_and_plate never came.
    PLATE_UNKNOWN = "plate_unknown"
    PLATE_AMBIGUOUS = "plate_ambiguous"
    PLATE_LOW_CONFIDENCE = "plate_low_confidence"
    PLATE_MISMATCH = "plate_mismatch"
    PAIR_INCOMPLETE = "pair_incomplete"


class Flag(enum.StrEnum):
    """Remarks on a granted tap that guards and the desk should see."""

    ANTI_PASSBACK_SOFT = "anti_passback_soft"  # already inside, let in under a soft policy
    # Clock untrusted: the card's start date or its schedule could not be checked.
    TIME_CHECKS_SKIPPED = "time_checks_skipped"
    # Car park: the paid month ended but the grace days have not; let in as a temporary car
    # under the site's policy; matched by a tolerant plate read (edge.plate_match).
    PARKING_GRACE = "parking_grace"
    AS_TEMPORARY = "as_temporary"
    PLATE_TOLERANT_MATCH = "plate_tolerant_match"


@dataclass(frozen=True)
class GateRules:
    """The parts of a gate's configuration that the decision depends on."""

    role: Role
    access_groups: frozenset[str]
    antipassback: AntiPassbackMode
    untrusted_policy: UntrustedClockPolicy


@dataclass(frozen=True)
class Decision:
    """The outcome of one tap."""

    granted: bool
    reason: Reason
    flags: tuple[Flag, ...] = ()
    # Barrier lanes: how the lot counts the car (set on every grant), the days of its paid
    # month left (only when the lane reminds, "月卡剩余N天"), and the verdict on its monthly
    # rights when they, not the card's access groups, decided.
    space_class: SpaceClass | None = None
    days_left: int | None = None
    parking: ParkingVerdict | None = None


def decide(
    card: CardRecord | None,
    gate: GateRules,
    local_now: datetime,
    *,
    already_inside: bool,
    clock_trusted: bool,
    floor: datetime | None = None,
    rules: SiteRules = site_rules.DEFAULT,
) -> Decision:
    """Decide a tap (rule G1; at barrier lanes, rule P2).

    ``local_now`` is the wall time in the site's time zone; ``already_inside`` says whether the
    anti-passback record shows the card inside the car park (only an entry lane looks at it).
    ``floor`` is the latest time known to have passed (edge.clock_trust), in the site's time
    zone, or None when nothing is known. Expiry is judged against the later of the clock and
    the floor, whatever the trust: a clock set back never makes an expired card valid again.
    While the clock is untrusted, what cannot be judged from the floor (a ``valid_from`` the
    floor has not reached, a weekly schedule) is left to ``gate.untrusted_policy``.

    At a barrier lane a card whose access groups do not open it may still hold a monthly
    right for it (``card.parking``), judged against the same later of the clock and the floor
    (edge.parking_validity) under ``rules``' policy for its space kind; a right's start date
    the floor has not reached is a time check like ``valid_from``. ``rules`` also gives the
    holiday calendar that card schedules follow.
    """
    if card is None:
        return Decision(False, Reason.UNKNOWN_CARD)
    if card.status is CardStatus.LOST:
        return Decision(False, Reason.LOST)
    if card.status is CardStatus.REVOKED:
        return Decision(False, Reason.REVOKED)
    at_least = local_now if floor is None or floor <= local_now else floor
    if card.valid_until is not None and at_least.date() > card.valid_until:
        return Decision(False, Reason.EXPIRED)
    flags: list[Flag] = []
    if clock_trusted:
        if card.valid_from is not None and local_now.date() < card.valid_from:
            return Decision(False, Reason.NOT_YET_VALID)
    else:
        policy = gate.untrusted_policy
        if policy is UntrustedClockPolicy.DENY_ALL:
            return Decision(False, Reason.CLOCK_UNTRUSTED)
        started = card.valid_from is None or (floor is not None
                                              and floor.date() >= card.valid_from)
        if not started or card.schedule is not None:
            # The true time is unknown past the floor: the card's start, or its hours,
            # cannot be checked.
            if policy is UntrustedClockPolicy.DENY_TIME_LIMITED:
                return Decision(False, Reason.CLOCK_UNTRUSTED)
            flags.append(Flag.TIME_CHECKS_SKIPPED)
    lane = gate.role in _LANES
    space_class: SpaceClass | None = None
    days_left: int | None = None
    verdict: ParkingVerdict | None = None
    if not card.access_groups.isdisjoint(gate.access_groups):
        if lane:
            # A staff grant: counted on the card's own fixed space if it has one here.
            fixed = any(space_class_of(r) is SpaceClass.FIXED for r in card.parking
                        if r.group in gate.access_groups)
            space_class = SpaceClass.FIXED if fixed else SpaceClass.MONTHLY
    else:
        verdict = (judge_parking(card, gate.access_groups, at_least.date(), rules)
                   if lane else None)
        if verdict is None:
            return Decision(False, Reason.NOT_PERMITTED_HERE)
        if not clock_trusted and (floor is None or floor.date() < verdict.right.starts_on):
            # As for valid_from: only the floor proves the month has begun.
            if gate.untrusted_policy is UntrustedClockPolicy.DENY_TIME_LIMITED:
                return Decision(False, Reason.CLOCK_UNTRUSTED, parking=verdict)
            if Flag.TIME_CHECKS_SKIPPED not in flags:
                flags.append(Flag.TIME_CHECKS_SKIPPED)
        refusal = _parking_refusal(verdict, gate.role, clock_trusted)
        if refusal is not None:
            return Decision(False, refusal, tuple(flags), parking=verdict)
        if verdict.standing is ParkingStanding.EXPIRED:
            # The site lets a lapsed monthly card in as a temporary car, charged at the exit.
            flags.append(Flag.AS_TEMPORARY)
            space_class = SpaceClass.TEMPORARY
        else:
            if verdict.standing is ParkingStanding.GRACE:
                flags.append(Flag.PARKING_GRACE)
            space_class = verdict.space_class
            if verdict.remind:
                days_left = verdict.days_left
    if (
        clock_trusted
        and card.schedule is not None
        and not card.schedule.allows_on(rules.day_numbers(local_now.date()), local_now.time())
    ):
        return Decision(False, Reason.OUTSIDE_SCHEDULE, parking=verdict)
    if gate.role is Role.BARRIER_ENTRY and already_inside:
        if gate.antipassback is AntiPassbackMode.HARD:
            return Decision(False, Reason.ANTI_PASSBACK, parking=verdict)
        if gate.antipassback is AntiPassbackMode.SOFT:
            flags.append(Flag.ANTI_PASSBACK_SOFT)
    return Decision(True, Reason.GRANTED, tuple(flags), space_class=space_class,
                    days_left=days_left, parking=verdict)


def _parking_refusal(verdict: ParkingVerdict, role: Role, clock_trusted: bool) -> Reason | None:
    """Why a lane refuses a monthly right standing as ``verdict`` judges it; None to let in."""
    if verdict.standing is ParkingStanding.NOT_STARTED:
        # Untrusted, the clock cannot show the month has not begun either (the policy
        # above already chose to skip the start).
        return Reason.PARKING_NOT_STARTED if clock_trusted else None
    if verdict.standing is not ParkingStanding.EXPIRED:
        return None
    if role is Role.BARRIER_EXIT:
        return Reason.PAY_AT_BOOTH  # the car is inside whatever the policy: the booth charges
    if verdict.policy.expired is ExpiredPolicy.REFUSE:
        return Reason.PARKING_EXPIRED
    if verdict.policy.expired is ExpiredPolicy.GUARD:
        return Reason.GUARD_CONFIRM
    return None
