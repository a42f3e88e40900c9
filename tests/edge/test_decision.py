"""Every decision reason (rule G1, H6 schedules, anti-passback, clock trust)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.cards import CardRecord, CardStatus, ParkingRight, parse_schedule
from edge.decision import Decision, Flag, GateRules, Reason, decide
from edge.parking_validity import ParkingStanding
from edge.site_rules import DayKind, SiteRules, SpaceClass
from firmware_config.schema import AntiPassbackMode, Role, UntrustedClockPolicy

TZ = ZoneInfo("Asia/Shanghai")
# A Wednesday, 10:00 local time.
WED_10 = datetime(2026, 7, 8, 10, 0, tzinfo=TZ)
RENOVATION = parse_schedule("Mon-Sat 08:00-12:00 14:00-18:00")


def card(**overrides: object) -> CardRecord:
    base: dict[str, object] = {
        "uid": "04A1B2C3", "status": CardStatus.ACTIVE, "valid_from": date(2026, 1, 1),
        "valid_until": date(2026, 7, 8), "access_groups": frozenset({"b1"}), "schedule": None,
        "holder_kind": "owner", "plate": None,
    }
    base.update(overrides)
    return CardRecord(**base)  # type: ignore[arg-type]


def rules(role: Role = Role.DOOR, apb: AntiPassbackMode = AntiPassbackMode.OFF,
          policy: UntrustedClockPolicy = UntrustedClockPolicy.SKIP_TIME_CHECKS) -> GateRules:
    return GateRules(role, frozenset({"b1", "parking"}), apb, policy)


def run(c: CardRecord | None, *, at: datetime = WED_10, inside: bool = False,
        trusted: bool = True, gate: GateRules | None = None) -> Decision:
    return decide(c, gate or rules(), at, already_inside=inside, clock_trusted=trusted)


def test_granted() -> None:
    assert run(card()) == Decision(True, Reason.GRANTED)


def test_unknown_card() -> None:
    assert run(None) == Decision(False, Reason.UNKNOWN_CARD)


def test_lost() -> None:
    assert run(card(status=CardStatus.LOST)).reason is Reason.LOST


def test_revoked() -> None:
    assert run(card(status=CardStatus.REVOKED)).reason is Reason.REVOKED


def test_not_yet_valid() -> None:
    assert run(card(valid_from=date(2026, 7, 9))).reason is Reason.NOT_YET_VALID


def test_valid_until_is_inclusive_to_end_of_local_day() -> None:
    late = datetime(2026, 7, 8, 23, 59, 59, tzinfo=TZ)
    assert run(card(), at=late).granted
    next_day = datetime(2026, 7, 9, 0, 0, 0, tzinfo=TZ)
    assert run(card(), at=next_day).reason is Reason.EXPIRED


def test_validity_follows_site_time_zone_not_utc() -> None:
    # 2026-07-08 17:00 UTC is already 9 July 01:00 in Shanghai: expired there.
    utc_evening = datetime(2026, 7, 8, 17, 0, tzinfo=ZoneInfo("UTC")).astimezone(TZ)
    assert run(card(), at=utc_evening).reason is Reason.EXPIRED


def test_open_ended_validity() -> None:
    assert run(card(valid_from=None, valid_until=None),
               at=datetime(2040, 1, 1, tzinfo=TZ)).granted


def test_not_permitted_here() -> None:
    assert run(card(access_groups=frozenset({"b7"}))).reason is Reason.NOT_PERMITTED_HERE


def test_formatted_card_with_no_groups_is_not_permitted() -> None:
    assert run(card(access_groups=frozenset())).reason is Reason.NOT_PERMITTED_HERE


@pytest.mark.parametrize(("when", "granted"), [
    (datetime(2026, 7, 8, 8, 0, tzinfo=TZ), True),
    (datetime(2026, 7, 8, 11, 59, tzinfo=TZ), True),
    (datetime(2026, 7, 8, 12, 0, tzinfo=TZ), False),  # lunch break
    (datetime(2026, 7, 8, 14, 30, tzinfo=TZ), True),
    (datetime(2026, 7, 8, 18, 0, tzinfo=TZ), False),
    (datetime(2026, 7, 8, 7, 59, tzinfo=TZ), False),
    (datetime(2026, 7, 11, 9, 0, tzinfo=TZ), True),  # Saturday
    (datetime(2026, 7, 12, 9, 0, tzinfo=TZ), False),  # Sunday
])
def test_renovation_worker_schedule(when: datetime, granted: bool) -> None:
    c = card(schedule=RENOVATION, holder_kind="renovation_worker",
             valid_until=date(2026, 12, 31))
    result = run(c, at=when)
    assert result.granted is granted
    if not granted:
        assert result.reason is Reason.OUTSIDE_SCHEDULE


def test_anti_passback_hard_refuses_card_already_inside_at_entry() -> None:
    gate = rules(Role.BARRIER_ENTRY, AntiPassbackMode.HARD)
    c = card(access_groups=frozenset({"parking"}))
    assert run(c, gate=gate, inside=True) == Decision(False, Reason.ANTI_PASSBACK)
    assert run(c, gate=gate, inside=False).granted


def test_anti_passback_soft_grants_and_flags() -> None:
    gate = rules(Role.BARRIER_ENTRY, AntiPassbackMode.SOFT)
    c = card(access_groups=frozenset({"parking"}))
    assert run(c, gate=gate, inside=True) == Decision(
        True, Reason.GRANTED, (Flag.ANTI_PASSBACK_SOFT,), space_class=SpaceClass.MONTHLY)


def test_exit_lane_never_refuses_for_anti_passback() -> None:
    gate = rules(Role.BARRIER_EXIT, AntiPassbackMode.HARD)
    assert run(card(access_groups=frozenset({"parking"})), gate=gate, inside=True).granted


def test_clock_untrusted_deny_all_policy() -> None:
    gate = rules(policy=UntrustedClockPolicy.DENY_ALL)
    assert run(card(), trusted=False, gate=gate) == Decision(False, Reason.CLOCK_UNTRUSTED)


def test_clock_untrusted_skip_policy_skips_start_and_schedule_but_not_expiry_or_status() -> None:
    worker = card(valid_from=date(2026, 8, 1), valid_until=date(2026, 12, 31), schedule=RENOVATION)
    sunday = datetime(2026, 7, 12, 3, 0, tzinfo=TZ)
    result = run(worker, at=sunday, trusted=False)
    assert result == Decision(True, Reason.GRANTED, (Flag.TIME_CHECKS_SKIPPED,))
    assert run(card(valid_until=date(2020, 1, 1)), trusted=False).reason is Reason.EXPIRED
    assert run(card(status=CardStatus.LOST), trusted=False).reason is Reason.LOST
    assert run(card(access_groups=frozenset({"x"})), trusted=False).reason is \
        Reason.NOT_PERMITTED_HERE


def test_every_reason_but_the_gates_own_is_reachable_from_decide() -> None:
    # Guards against a reason added to the enum without a path (and a test) in decide().
    covered = {
        Reason.GRANTED, Reason.UNKNOWN_CARD, Reason.LOST, Reason.REVOKED,
        Reason.NOT_YET_VALID, Reason.EXPIRED, Reason.NOT_PERMITTED_HERE,
        Reason.OUTSIDE_SCHEDULE, Reason.ANTI_PASSBACK, Reason.CLOCK_UNTRUSTED,
        # Monthly parking at a lane (here and in test_parking_validity.py).
        Reason.PARKING_EXPIRED, Reason.PARKING_NOT_STARTED, Reason.GUARD_CONFIRM,
        Reason.PAY_AT_BOOTH,
    }
    # The gate's own (tested in test_gate.py and test_storage_faults.py), and the lane's
    # (lot, timed modes, plates: edge.lane, tests/edge/test_lane*.py).
    assert set(Reason) - covered == {
        Reason.OUT_OF_SERVICE, Reason.LOCKDOWN, Reason.JOURNAL_UNAVAILABLE,
        Reason.WHITELIST_UNAVAILABLE, Reason.LOT_FULL, Reason.MONTHLY_ONLY,
        Reason.PLATE_UNKNOWN, Reason.PLATE_AMBIGUOUS, Reason.PLATE_LOW_CONFIDENCE,
        Reason.PLATE_MISMATCH, Reason.PAIR_INCOMPLETE}


@pytest.mark.parametrize("spec", ["", "Mon", "Mon 12:00-08:00", "Xyz 08:00-09:00",
                                  "Mon 8-9", "Sat-Mon 08:00-09:00", "Mon 25:00-26:00"])
def test_bad_schedules_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(spec)


def test_schedule_until_midnight() -> None:
    s = parse_schedule("Sat,Sun 20:00-24:00")
    assert s.allows(6, datetime(2026, 7, 11, 23, 59, 59).time())
    assert not s.allows(5, datetime(2026, 7, 10, 23, 0).time())


# ---------------------------------------------------------------- holidays (rule 2)

NATIONAL_DAY = date(2026, 10, 1)  # a Thursday
WORKED_SATURDAY = date(2026, 10, 10)
CALENDAR = SiteRules(site="garden-court", version=1, issued_at=0.0,
                     holidays={NATIONAL_DAY: DayKind.HOLIDAY,
                               WORKED_SATURDAY: DayKind.WORKDAY})
CLEANERS = parse_schedule("Mon-Fri 08:00-18:00; Hol 10:00-12:00")


@pytest.mark.parametrize(("when", "granted"), [
    (datetime(2026, 10, 1, 9, 0, tzinfo=TZ), False),  # a holiday: its Hol window only
    (datetime(2026, 10, 1, 10, 30, tzinfo=TZ), True),
    (datetime(2026, 10, 2, 9, 0, tzinfo=TZ), True),  # an ordinary Friday
    (datetime(2026, 10, 10, 9, 0, tzinfo=TZ), True),  # a Saturday worked: Mon-Fri windows
    (datetime(2026, 10, 17, 9, 0, tzinfo=TZ), False),  # an ordinary Saturday
])
def test_schedules_follow_the_holiday_calendar(when: datetime, granted: bool) -> None:
    c = card(schedule=CLEANERS, valid_until=None)
    result = decide(c, rules(), when, already_inside=False, clock_trusted=True, rules=CALENDAR)
    assert result.granted is granted
    if not granted:
        assert result.reason is Reason.OUTSIDE_SCHEDULE


def test_without_site_rules_a_holiday_is_an_ordinary_day() -> None:
    c = card(schedule=CLEANERS, valid_until=None)
    assert run(c, at=datetime(2026, 10, 1, 9, 0, tzinfo=TZ)).granted


# ---------------------------------------------------------------- monthly parking at a lane

CARPARK = frozenset({"carpark"})


def monthly_right(kind: str = "floating", until: date = date(2026, 7, 20),
                  starts: date = date(2026, 6, 21), group: str = "carpark") -> ParkingRight:
    return ParkingRight(group=group, space_kind=kind, space_no=None, plate="粤B12345",
                        starts_on=starts, paid_until=until)


def lane(role: Role = Role.BARRIER_ENTRY, apb: AntiPassbackMode = AntiPassbackMode.HARD,
         policy: UntrustedClockPolicy = UntrustedClockPolicy.SKIP_TIME_CHECKS) -> GateRules:
    return GateRules(role, CARPARK, apb, policy)


def resident(*rights: ParkingRight, **overrides: object) -> CardRecord:
    return card(valid_until=None, parking=rights, **overrides)


def test_a_monthly_right_opens_the_lane_its_groups_do_not() -> None:
    decision = run(resident(monthly_right(until=date(2026, 8, 20))), gate=lane())
    assert (decision.granted, decision.reason, decision.flags) == (True, Reason.GRANTED, ())
    assert decision.space_class is SpaceClass.MONTHLY
    assert decision.days_left is None  # 43 days left: no reminder
    assert decision.parking is not None
    assert decision.parking.standing is ParkingStanding.PAID


def test_the_reminder_days_left_only_when_the_policy_reminds() -> None:
    soon = run(resident(monthly_right(until=date(2026, 7, 20))), gate=lane())
    # The default policy reminds from 15 days: 12 left on 8 July.
    assert soon.days_left == 12
    later = run(resident(monthly_right(until=date(2026, 7, 31))), gate=lane())
    assert later.granted
    assert later.days_left is None  # 23 days left


def test_a_fixed_right_counts_on_a_fixed_space() -> None:
    assert run(resident(monthly_right(kind="fixed")), gate=lane()).space_class is \
        SpaceClass.FIXED


def test_a_right_of_another_car_park_does_not_open_this_lane() -> None:
    other = resident(monthly_right(group="north-carpark"))
    assert run(other, gate=lane()) == Decision(False, Reason.NOT_PERMITTED_HERE)


def test_a_door_never_judges_parking_rights() -> None:
    door = GateRules(Role.DOOR, CARPARK, AntiPassbackMode.OFF,
                     UntrustedClockPolicy.SKIP_TIME_CHECKS)
    assert run(resident(monthly_right()), gate=door) == Decision(False, Reason.NOT_PERMITTED_HERE)


def test_a_staff_grant_opens_as_before_and_counts_as_monthly_or_fixed() -> None:
    staff = card(access_groups=frozenset({"carpark"}), valid_until=None)
    decision = run(staff, gate=lane())
    assert decision == Decision(True, Reason.GRANTED, space_class=SpaceClass.MONTHLY)
    # Its groups decide, not a lapsed right it also carries; a fixed right gives its class.
    lapsed_fixed = monthly_right(kind="fixed", until=date(2026, 1, 31), starts=date(2026, 1, 1))
    decision = run(card(access_groups=frozenset({"carpark"}), valid_until=None,
                        parking=(lapsed_fixed,)), gate=lane())
    assert decision == Decision(True, Reason.GRANTED, space_class=SpaceClass.FIXED)


def test_doors_and_refusals_carry_no_space_class() -> None:
    assert run(card()).space_class is None
    assert run(card(status=CardStatus.LOST), gate=lane()).space_class is None


def test_the_cards_status_and_validity_come_before_its_parking() -> None:
    assert run(resident(monthly_right(), status=CardStatus.LOST), gate=lane()).reason is \
        Reason.LOST
    expired_card = card(valid_until=date(2026, 7, 1), parking=(monthly_right(),))
    assert run(expired_card, gate=lane()).reason is Reason.EXPIRED


def test_anti_passback_applies_to_a_monthly_right_at_the_entry() -> None:
    c = resident(monthly_right())
    assert run(c, gate=lane(), inside=True).reason is Reason.ANTI_PASSBACK
    soft = run(c, gate=lane(apb=AntiPassbackMode.SOFT), inside=True)
    assert soft.granted
    assert soft.flags == (Flag.ANTI_PASSBACK_SOFT,)
    assert run(c, gate=lane(Role.BARRIER_EXIT), inside=True).granted


def test_a_schedule_still_limits_a_monthly_right() -> None:
    c = resident(monthly_right(), schedule=RENOVATION)
    sunday = datetime(2026, 7, 12, 10, 0, tzinfo=TZ)
    assert run(c, gate=lane(), at=sunday).reason is Reason.OUTSIDE_SCHEDULE


def test_an_expired_right_at_the_exit_pays_at_the_booth() -> None:
    lapsed = resident(monthly_right(until=date(2026, 7, 1), starts=date(2026, 6, 2)))
    assert run(lapsed, gate=lane()).reason is Reason.PARKING_EXPIRED
    assert run(lapsed, gate=lane(Role.BARRIER_EXIT)).reason is Reason.PAY_AT_BOOTH


def test_not_started_right_is_refused_at_both_lanes() -> None:
    future = resident(monthly_right(starts=date(2026, 7, 9), until=date(2026, 8, 8)))
    assert run(future, gate=lane()).reason is Reason.PARKING_NOT_STARTED
    assert run(future, gate=lane(Role.BARRIER_EXIT)).reason is Reason.PARKING_NOT_STARTED


def test_untrusted_clock_a_start_the_floor_has_not_reached_follows_the_policy() -> None:
    # The month started yesterday by the clock; the floor is three days old.
    c = resident(monthly_right(starts=date(2026, 7, 7)))
    floor = WED_10 - timedelta(days=3)

    def untrusted(policy: UntrustedClockPolicy) -> Decision:
        return decide(c, lane(policy=policy), WED_10, already_inside=False,
                      clock_trusted=False, floor=floor)

    assert untrusted(UntrustedClockPolicy.DENY_ALL).reason is Reason.CLOCK_UNTRUSTED
    assert untrusted(UntrustedClockPolicy.DENY_TIME_LIMITED).reason is Reason.CLOCK_UNTRUSTED
    skipped = untrusted(UntrustedClockPolicy.SKIP_TIME_CHECKS)
    assert (skipped.granted, skipped.flags) == (True, (Flag.TIME_CHECKS_SKIPPED,))
    assert skipped.space_class is SpaceClass.MONTHLY
    # The clock (wrongly) before the start: untrusted, it cannot refuse either.
    early = decide(c, lane(), datetime(2026, 7, 1, 10, 0, tzinfo=TZ), already_inside=False,
                   clock_trusted=False, floor=floor)
    assert (early.granted, early.flags) == (True, (Flag.TIME_CHECKS_SKIPPED,))
    # A start the floor has passed needs no time check.
    proven = decide(c, lane(policy=UntrustedClockPolicy.DENY_TIME_LIMITED), WED_10,
                    already_inside=False, clock_trusted=False, floor=WED_10)
    assert (proven.granted, proven.flags) == (True, ())


def test_untrusted_clock_still_refuses_a_month_lapsed_by_the_floor() -> None:
    lapsed = resident(monthly_right(until=date(2026, 7, 1), starts=date(2026, 6, 2)))
    month_back = WED_10 - timedelta(days=30)
    for policy in UntrustedClockPolicy:
        result = decide(lapsed, lane(policy=policy), month_back, already_inside=False,
                        clock_trusted=False, floor=WED_10)
        assert not result.granted
        assert result.reason in {Reason.PARKING_EXPIRED, Reason.CLOCK_UNTRUSTED}
    skip = decide(lapsed, lane(), month_back, already_inside=False, clock_trusted=False,
                  floor=WED_10)
    assert skip.reason is Reason.PARKING_EXPIRED
