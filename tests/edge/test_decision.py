"""Every decision reason (rule G1, H6 schedules, anti-passback, clock trust)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from edge.cards import CardRecord, CardStatus, parse_schedule
from edge.decision import Decision, Flag, GateRules, Reason, decide
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
        True, Reason.GRANTED, (Flag.ANTI_PASSBACK_SOFT,))


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
    }
    # The gate's own (tested in test_gate.py and test_storage_faults.py).
    assert set(Reason) - covered == {Reason.OUT_OF_SERVICE, Reason.LOCKDOWN,
                                     Reason.JOURNAL_UNAVAILABLE, Reason.WHITELIST_UNAVAILABLE}


@pytest.mark.parametrize("spec", ["", "Mon", "Mon 12:00-08:00", "Xyz 08:00-09:00",
                                  "Mon 8-9", "Sat-Mon 08:00-09:00", "Mon 25:00-26:00"])
def test_bad_schedules_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(spec)


def test_schedule_until_midnight() -> None:
    s = parse_schedule("Sat,Sun 20:00-24:00")
    assert s.allows(6, datetime(2026, 7, 11, 23, 59, 59).time())
    assert not s.allows(5, datetime(2026, 7, 10, 23, 0).time())
