"""Monthly parking judged at the lane (rule P2): paid through ``paid_until`` (inclusive,
site-local, through 23:59:59 that day), then the site's policy for the space kind (grace
days, then refuse / temporary / guard confirms), and the reminder when few days remain.

A pure function of the card, the lane's groups, the site-local date (the later of the clock
and the floor of trusted time: a clock set back never makes a lapsed month paid again) and
the site's rules (edge.site_rules). No message from the desk is needed at midnight.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from edge.cards import CardRecord, ParkingRight
from edge.site_rules import ParkingPolicy, SiteRules, SpaceClass


class ParkingStanding(enum.StrEnum):
    """Where a monthly card stands on a day."""

    PAID = "paid"  # starts_on <= day <= paid_until
    GRACE = "grace"  # after paid_until, within the policy's grace days
    EXPIRED = "expired"  # after paid_until + grace days
    NOT_STARTED = "not_started"  # before starts_on


@dataclass(frozen=True)
class ParkingVerdict:
    """The card's best monthly right for this lane on the day, judged."""

    right: ParkingRight
    standing: ParkingStanding
    days_left: int  # paid_until - day (0 on the last paid day); negative once lapsed
    policy: ParkingPolicy
    space_class: SpaceClass  # FIXED for a fixed space, MONTHLY otherwise

    @property
    def remind(self) -> bool:
        """Whether the lane shows "月卡剩余N天" (paid, and at most ``remind_days`` left)."""
        return self.standing is ParkingStanding.PAID and self.days_left <= self.policy.remind_days


def judge_parking(card: CardRecord, lane_groups: frozenset[str], day: date,
                  rules: SiteRules) -> ParkingVerdict | None:
    """The verdict on ``card``'s monthly rights for a lane of ``lane_groups`` on ``day``
    (site-local; the caller passes the later of the clock and the floor); None when the card
    carries no parking right for this lane. With several rights, the best standing wins
    (paid over grace over expired over not started), then the latest paid_until."""
    verdicts = [_judge(right, day, rules) for right in card.parking if right.group in lane_groups]
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: (_RANK[v.standing], v.right.paid_until))


# Higher is better for the card: a paid right decides over a lapsed one.
_RANK = {ParkingStanding.PAID: 3, ParkingStanding.GRACE: 2, ParkingStanding.EXPIRED: 1,
         ParkingStanding.NOT_STARTED: 0}
FIXED_SPACE_KIND = "fixed"  # central SpaceKind.FIXED: a numbered space of its own (P3)


def space_class_of(right: ParkingRight) -> SpaceClass:
    """How a lot counts a car under ``right``: on its fixed space, else a monthly space."""
    return SpaceClass.FIXED if right.space_kind == FIXED_SPACE_KIND else SpaceClass.MONTHLY


def _judge(right: ParkingRight, day: date, rules: SiteRules) -> ParkingVerdict:
    policy = rules.policy(right.space_kind)
    days_left = (right.paid_until - day).days
    if day < right.starts_on:
        standing = ParkingStanding.NOT_STARTED
    elif days_left >= 0:
        standing = ParkingStanding.PAID
    elif -days_left <= policy.grace_days:
        standing = ParkingStanding.GRACE
    else:
        standing = ParkingStanding.EXPIRED
    return ParkingVerdict(right=right, standing=standing, days_left=days_left, policy=policy,
                          space_class=space_class_of(right))
