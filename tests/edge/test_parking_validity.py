"""Monthly parking judged at the lane (rule P2): paid through 23:59:59 site time on the last
paid day, then grace days, then the site's policy; several rights; the floor of trusted time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.cards import CardRecord, CardStatus, ParkingRight
from edge.decision import Decision, Flag, GateRules, Reason, decide
from edge.parking_validity import ParkingStanding, judge_parking
from edge.site_rules import DEFAULT, ExpiredPolicy, ParkingPolicy, SiteRules, SpaceClass
from firmware_config.schema import AntiPassbackMode, Role, UntrustedClockPolicy

TZ = ZoneInfo("Asia/Shanghai")
LANE = frozenset({"carpark"})
LAST_PAID = date(2026, 7, 8)
LAST_SECOND = datetime(2026, 7, 8, 23, 59, 59, tzinfo=TZ)
MIDNIGHT = datetime(2026, 7, 9, 0, 0, 0, tzinfo=TZ)


def right(*, kind: str = "floating", group: str = "carpark", starts: date = date(2026, 6, 9),
          until: date = LAST_PAID, plate: str | None = "粤B12345") -> ParkingRight:
    return ParkingRight(group=group, space_kind=kind,
                        space_no="B-012" if kind == "fixed" else None, plate=plate,
                        starts_on=starts, paid_until=until)


def monthly(*rights: ParkingRight) -> CardRecord:
    # A resident's card: its own groups open the doors, not the car park.
    return CardRecord(uid="04A1B2C3", status=CardStatus.ACTIVE, valid_from=None,
                      valid_until=None, access_groups=frozenset({"b1"}), schedule=None,
                      holder_kind="owner", plate="粤B12345", parking=rights or (right(),))


def site(**policies: ParkingPolicy) -> SiteRules:
    return SiteRules(site="garden-court", version=1, issued_at=0.0, parking=policies)


def lane(role: Role = Role.BARRIER_ENTRY,
         policy: UntrustedClockPolicy = UntrustedClockPolicy.SKIP_TIME_CHECKS) -> GateRules:
    return GateRules(role, LANE, AntiPassbackMode.HARD, policy)


def tap(card: CardRecord, at: datetime, rules: SiteRules = DEFAULT, *,
        role: Role = Role.BARRIER_ENTRY, floor: datetime | None = None,
        trusted: bool = True) -> Decision:
    return decide(card, lane(role), at, already_inside=False, clock_trusted=trusted,
                  floor=floor, rules=rules)


# ---------------------------------------------------------------- judge_parking


@pytest.mark.parametrize(("day", "standing", "days_left"), [
    (date(2026, 6, 8), ParkingStanding.NOT_STARTED, 30),
    (date(2026, 6, 9), ParkingStanding.PAID, 29),
    (date(2026, 7, 8), ParkingStanding.PAID, 0),
    (date(2026, 7, 9), ParkingStanding.EXPIRED, -1),
])
def test_standing_by_day_without_grace(day: date, standing: ParkingStanding,
                                       days_left: int) -> None:
    verdict = judge_parking(monthly(), LANE, day, DEFAULT)
    assert verdict is not None
    assert (verdict.standing, verdict.days_left) == (standing, days_left)
    assert verdict.policy == ParkingPolicy()
    assert verdict.space_class is SpaceClass.MONTHLY


def test_grace_days_follow_the_policy_of_the_space_kind() -> None:
    rules = site(floating=ParkingPolicy(grace_days=3), fixed=ParkingPolicy(grace_days=0))
    floating = monthly(right())
    standings = []
    for days_after in (1, 3, 4):
        verdict = judge_parking(floating, LANE, LAST_PAID + timedelta(days=days_after), rules)
        assert verdict is not None
        standings.append(verdict.standing)
    assert standings == [ParkingStanding.GRACE, ParkingStanding.GRACE, ParkingStanding.EXPIRED]
    fixed = judge_parking(monthly(right(kind="fixed")), LANE, date(2026, 7, 9), rules)
    assert fixed is not None
    assert fixed.standing is ParkingStanding.EXPIRED
    assert fixed.space_class is SpaceClass.FIXED


def test_reminder_within_remind_days_only_while_paid() -> None:
    rules = site(floating=ParkingPolicy(remind_days=5, grace_days=2))
    card = monthly()

    def remind(day: date) -> bool:
        verdict = judge_parking(card, LANE, day, rules)
        assert verdict is not None
        return verdict.remind

    assert not remind(date(2026, 7, 2))  # 6 days left
    assert remind(date(2026, 7, 3))  # 5 days left
    assert remind(LAST_PAID)  # 0 days left
    assert not remind(date(2026, 7, 9))  # grace: no "剩余" days to count


def test_no_right_for_this_lane_is_no_verdict() -> None:
    assert judge_parking(monthly(right(group="north-carpark")), LANE, LAST_PAID, DEFAULT) is None
    assert judge_parking(monthly(right()), frozenset({"b1"}), LAST_PAID, DEFAULT) is None


def test_best_standing_wins_then_latest_paid_until() -> None:
    lapsed = right(until=date(2026, 5, 8), starts=date(2026, 4, 9))
    paid = right(kind="fixed", until=date(2026, 7, 20))
    renewal = right(starts=date(2026, 7, 21), until=date(2026, 8, 20))
    verdict = judge_parking(monthly(lapsed, renewal, paid), LANE, LAST_PAID, DEFAULT)
    assert verdict is not None
    assert verdict.right == paid
    assert verdict.space_class is SpaceClass.FIXED
    longer = right(until=date(2026, 9, 8))
    verdict = judge_parking(monthly(paid, longer), LANE, LAST_PAID, DEFAULT)
    assert verdict is not None
    assert verdict.right == longer
    # Only lapsed and future rights: the lapsed one decides (expired ranks over not started).
    verdict = judge_parking(monthly(renewal, lapsed), LANE, LAST_PAID, DEFAULT)
    assert verdict is not None
    assert (verdict.right, verdict.standing) == (lapsed, ParkingStanding.EXPIRED)
    # A right of another car park never decides this lane.
    other = right(group="north-carpark", until=date(2027, 1, 1))
    verdict = judge_parking(monthly(other, lapsed), LANE, LAST_PAID, DEFAULT)
    assert verdict is not None
    assert verdict.right == lapsed


# ---------------------------------------------------------------- decide() at the boundary


@pytest.mark.parametrize(("policy", "reason"), [
    (ExpiredPolicy.REFUSE, Reason.PARKING_EXPIRED),
    (ExpiredPolicy.GUARD, Reason.GUARD_CONFIRM),
])
def test_paid_through_8_july_refused_at_midnight(policy: ExpiredPolicy, reason: Reason) -> None:
    rules = site(floating=ParkingPolicy(expired=policy, remind_days=0))
    granted = tap(monthly(), LAST_SECOND, rules)
    assert (granted.granted, granted.reason, granted.flags) == (True, Reason.GRANTED, ())
    assert granted.space_class is SpaceClass.MONTHLY
    assert granted.days_left == 0
    refused = tap(monthly(), MIDNIGHT, rules)
    assert (refused.granted, refused.reason) == (False, reason)
    assert refused.parking is not None
    assert refused.parking.standing is ParkingStanding.EXPIRED


def test_paid_through_8_july_let_in_as_temporary_at_midnight() -> None:
    rules = site(floating=ParkingPolicy(expired=ExpiredPolicy.TEMPORARY))
    assert tap(monthly(), LAST_SECOND, rules).space_class is SpaceClass.MONTHLY
    temporary = tap(monthly(), MIDNIGHT, rules)
    assert (temporary.granted, temporary.reason, temporary.flags) == (
        True, Reason.GRANTED, (Flag.AS_TEMPORARY,))
    assert temporary.space_class is SpaceClass.TEMPORARY
    assert temporary.days_left is None


@pytest.mark.parametrize("policy", list(ExpiredPolicy))
def test_expired_at_the_exit_pays_at_the_booth_whatever_the_policy(policy: ExpiredPolicy) -> None:
    rules = site(floating=ParkingPolicy(expired=policy))
    assert tap(monthly(), LAST_SECOND, rules, role=Role.BARRIER_EXIT).granted
    assert tap(monthly(), MIDNIGHT, rules, role=Role.BARRIER_EXIT).reason is Reason.PAY_AT_BOOTH


def test_midnight_follows_the_site_time_zone_not_utc() -> None:
    # 16:00 UTC on 8 July is already midnight of 9 July in Shanghai.
    utc = datetime(2026, 7, 8, 16, 0, tzinfo=ZoneInfo("UTC"))
    assert tap(monthly(), utc - timedelta(seconds=1)).granted
    assert tap(monthly(), utc.astimezone(TZ)).reason is Reason.PARKING_EXPIRED


def test_grace_days_grant_with_a_flag_then_the_policy() -> None:
    rules = site(floating=ParkingPolicy(grace_days=2))
    last_grace = datetime(2026, 7, 10, 23, 59, 59, tzinfo=TZ)
    graced = tap(monthly(), last_grace, rules)
    assert (graced.granted, graced.flags) == (True, (Flag.PARKING_GRACE,))
    assert graced.space_class is SpaceClass.MONTHLY
    assert graced.days_left is None
    assert tap(monthly(), last_grace + timedelta(seconds=1), rules).reason is \
        Reason.PARKING_EXPIRED
    assert tap(monthly(), last_grace, rules, role=Role.BARRIER_EXIT).granted


def test_not_started_is_refused_until_its_first_day() -> None:
    card = monthly(right(starts=date(2026, 7, 9), until=date(2026, 8, 8)))
    refused = tap(card, LAST_SECOND)
    assert (refused.granted, refused.reason) == (False, Reason.PARKING_NOT_STARTED)
    assert tap(card, MIDNIGHT).granted


@pytest.mark.parametrize("trusted", [True, False])
def test_a_floor_ahead_of_the_clock_keeps_a_lapsed_month_lapsed(trusted: bool) -> None:
    month_back = LAST_SECOND - timedelta(days=30)
    assert tap(monthly(), month_back, floor=MIDNIGHT, trusted=trusted).reason is \
        Reason.PARKING_EXPIRED
    # The floor is a lower bound only: a clock ahead of it judges by the clock.
    assert tap(monthly(), MIDNIGHT, floor=month_back, trusted=trusted).reason is \
        Reason.PARKING_EXPIRED


def test_several_rights_the_paid_one_opens() -> None:
    lapsed = right(until=date(2026, 6, 8), starts=date(2026, 5, 9))
    fixed = right(kind="fixed", until=date(2026, 7, 31))
    decision = tap(monthly(lapsed, fixed), MIDNIGHT)
    assert decision.granted
    assert decision.space_class is SpaceClass.FIXED
    assert decision.parking is not None
    assert decision.parking.right == fixed
