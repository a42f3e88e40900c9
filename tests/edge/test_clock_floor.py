"""The floor of trusted time: decide() judges expiry against it, judge() builds it from the
evidence, and the gate keeps it (mark, agent evidence, NTP) on real files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.auth_store import AuthStore
from edge.clock_files import (
    AgentEvidence,
    CentralTime,
    current_boot_id,
    evidence_path,
    load_mark,
    save_agent_evidence,
    save_mark,
)
from edge.clock_trust import (
    MARK_RESET_BY_CENTRAL,
    MARK_RESET_BY_NTP,
    NO_FLOOR,
    Evidence,
    GateClockTrust,
    judge,
)
from edge.decision import Decision, Flag, Reason, decide
from firmware_config.schema import UntrustedClockPolicy
from tests.edge.conftest import CARDS_CSV, FixedClockSync, GateRig, door_doc
from tests.edge.test_decision import RENOVATION, card, rules
from tests.edge.test_stores import FakeClock

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 7, 8, 10, 0, tzinfo=TZ)
MONTH_BACK = NOW - timedelta(days=30)
POLICIES = list(UntrustedClockPolicy)


def tap(c: Any, *, at: datetime = MONTH_BACK, floor: datetime | None = NOW,
        trusted: bool = False,
        policy: UntrustedClockPolicy = UntrustedClockPolicy.SKIP_TIME_CHECKS) -> Decision:
    return decide(c, rules(policy=policy), at, already_inside=False, clock_trusted=trusted,
                  floor=floor)


# ---------------------------------------------------------------- decide() and the floor


@pytest.mark.parametrize("policy", POLICIES)
def test_a_clock_behind_the_floor_never_makes_an_expired_card_valid(
        policy: UntrustedClockPolicy) -> None:
    # Expired ten days ago by the floor; the clock, a month behind, says it is still valid.
    expired = card(valid_until=date(2026, 6, 28))
    assert tap(expired, policy=policy) == Decision(False, Reason.EXPIRED)


def test_expiry_is_judged_against_the_floor_also_when_the_clock_is_trusted() -> None:
    # Trusted within the tolerance, a second short of midnight; the floor is past it.
    before_midnight = datetime(2026, 7, 8, 23, 59, 59, tzinfo=TZ)
    floor = datetime(2026, 7, 9, 0, 0, 1, tzinfo=TZ)
    assert tap(card(), at=before_midnight, floor=floor, trusted=True).reason is Reason.EXPIRED


def test_untrusted_without_a_floor_judges_expiry_by_the_clock() -> None:
    assert tap(card(valid_until=date(2026, 6, 1)), floor=None).reason is Reason.EXPIRED
    assert tap(card(valid_from=None, valid_until=date(2026, 6, 30)), floor=None) == \
        Decision(True, Reason.GRANTED)
    # With no floor nothing proves a start date has passed, whatever the clock says.
    assert tap(card(valid_until=date(2026, 6, 30)), floor=None) == \
        Decision(True, Reason.GRANTED, (Flag.TIME_CHECKS_SKIPPED,))


def test_a_card_with_nothing_but_expiry_to_check_opens_under_the_lenient_policies() -> None:
    plain = card(valid_from=date(2026, 1, 1), valid_until=date(2026, 12, 31))
    for policy in (UntrustedClockPolicy.SKIP_TIME_CHECKS,
                   UntrustedClockPolicy.DENY_TIME_LIMITED):
        assert tap(plain, policy=policy) == Decision(True, Reason.GRANTED)
    assert tap(plain, policy=UntrustedClockPolicy.DENY_ALL).reason is Reason.CLOCK_UNTRUSTED


def test_a_start_date_the_floor_has_passed_is_proven() -> None:
    # The clock (a month back) says "not yet valid", the floor says it started a week ago.
    started = card(valid_from=date(2026, 7, 1), valid_until=date(2026, 12, 31))
    assert tap(started, policy=UntrustedClockPolicy.DENY_TIME_LIMITED) == \
        Decision(True, Reason.GRANTED)


def test_a_start_date_beyond_the_floor_is_left_to_the_policy() -> None:
    future = card(valid_from=date(2026, 8, 1), valid_until=date(2026, 12, 31))
    assert tap(future) == Decision(True, Reason.GRANTED, (Flag.TIME_CHECKS_SKIPPED,))
    assert tap(future, policy=UntrustedClockPolicy.DENY_TIME_LIMITED).reason is \
        Reason.CLOCK_UNTRUSTED
    assert tap(future, trusted=True, at=NOW).reason is Reason.NOT_YET_VALID


def test_a_schedule_is_left_to_the_policy_while_untrusted() -> None:
    worker = card(valid_until=date(2026, 12, 31), schedule=RENOVATION)
    three_am = MONTH_BACK.replace(hour=3)
    assert tap(worker, at=three_am) == Decision(True, Reason.GRANTED, (Flag.TIME_CHECKS_SKIPPED,))
    assert tap(worker, at=three_am, policy=UntrustedClockPolicy.DENY_TIME_LIMITED).reason is \
        Reason.CLOCK_UNTRUSTED


# ---------------------------------------------------------------- judge(): the rule

T = 1_790_000_000.0
SKEW = 300.0


def test_no_evidence_is_no_floor_not_trust() -> None:
    j = judge(T, Evidence())
    assert (j.trusted, j.floor, j.mark, j.cause) == (False, None, None, NO_FLOOR)
    synced = judge(T, Evidence(ntp_synchronised=True))
    assert synced.trusted and synced.mark == T and synced.cause == "ntp synchronised"


def test_a_signed_list_gives_a_floor_less_the_skew() -> None:
    j = judge(T, Evidence(list_issued_at=T + 60), SKEW)
    assert j.trusted and j.floor == T + 60 - SKEW and j.mark == T
    behind = judge(T - 30 * 86400, Evidence(list_issued_at=T), SKEW)
    assert not behind.trusted and behind.floor == T - SKEW
    assert behind.cause == "clock behind signed list" and behind.mark == T - SKEW


def test_the_newest_evidence_makes_the_floor() -> None:
    j = judge(T - 86400, Evidence(mark=T - 1000, list_issued_at=T - 5000, command_issued_at=T),
              SKEW)
    assert j.floor == T - SKEW and j.cause == "clock behind signed command"


def test_central_time_resets_a_mark_a_year_ahead() -> None:
    year = 365 * 86400.0
    j = judge(T, Evidence(mark=T + year, list_issued_at=T - 10, central_now=T + 1), SKEW)
    assert j.trusted and j.reset == MARK_RESET_BY_CENTRAL
    assert j.mark == T and j.floor == T + 1 - SKEW


def test_central_time_disproves_a_clock_ahead_and_keeps_its_mark_down() -> None:
    j = judge(T + 365 * 86400, Evidence(central_now=T), SKEW)
    assert not j.trusted and j.cause == "clock ahead of central time"
    assert j.mark == T - SKEW  # the clock a year ahead is not written into the mark


def test_ntp_resets_the_gates_own_mark_but_not_signed_evidence() -> None:
    j = judge(T, Evidence(mark=T + 365 * 86400, ntp_synchronised=True), SKEW)
    assert j.trusted and j.reset == MARK_RESET_BY_NTP and j.mark == T
    # Unauthenticated NTP cannot outvote what central signed: a clock a month behind a
    # signed list stays untrusted however "synchronised" it says it is.
    spoofed = judge(T - 30 * 86400, Evidence(mark=T, list_issued_at=T, ntp_synchronised=True),
                    SKEW)
    assert not spoofed.trusted and spoofed.floor == T - SKEW
    assert spoofed.cause == "clock behind signed list"
    again = judge(T - 30 * 86400, Evidence(mark=spoofed.mark, list_issued_at=T,
                                           ntp_synchronised=True), SKEW)
    assert again.reset is None  # stable: no alarm on every tick


# ---------------------------------------------------------------- the gate's GateClockTrust


def trust_at(path: Path, clock: FakeClock, *, synced: bool = False,
             issued: Callable[[], float | None] = lambda: None) -> GateClockTrust:
    return GateClockTrust(path, clock, FixedClockSync(synced), list_issued_at=issued,
                     save_every=0.0)


def test_boot_after_the_clock_went_back_and_recovery(tmp_path: Path) -> None:
    clock = FakeClock(2_000_000.0)
    path = tmp_path / "clock.json"
    save_mark(path, 2_000_000.0)
    trust = trust_at(path, clock)
    assert trust.at_boot() is None and trust.trusted
    clock.wall_s = 2_000_500.0
    assert trust.tick() is None
    assert load_mark(path) == 2_000_500.0
    # Power cut; the Pi boots with its clock an hour behind.
    clock.wall_s = 2_000_500.0 - 3600
    rebooted = trust_at(path, clock)
    change = rebooted.at_boot()
    assert change is not None and not change.trusted and change.alarm
    assert change.cause == "clock behind saved mark" and rebooted.floor == 2_000_500.0
    clock.wall_s += 1000
    assert rebooted.tick() is None and not rebooted.trusted
    assert load_mark(path) == 2_000_500.0  # an untrusted clock does not move the mark
    clock.wall_s = 2_000_600.0  # NTP fixed it
    change = rebooted.tick()
    assert change is not None and change.trusted and not change.alarm
    assert change.cause == "clock caught up with the floor (saved mark)"


def test_a_jump_backwards_while_running_is_seen_at_once(tmp_path: Path) -> None:
    clock = FakeClock(2_000_000.0)
    save_mark(tmp_path / "clock.json", clock.wall_s)
    trust = trust_at(tmp_path / "clock.json", clock)
    trust.at_boot()
    clock.wall_s -= 1.0  # jitter is tolerated
    assert trust.tick() is None and trust.view(clock.wall_s)[0]
    clock.wall_s -= 600
    assert trust.view(clock.wall_s) == (False, clock.wall_s + 601)  # before the tick
    change = trust.tick()
    assert change is not None and not change.trusted and change.cause == "clock jumped backwards"


@pytest.mark.parametrize("content", [None, "{not json", "[]", '{"high_water_mark": "soon"}',
                                     '{"high_water_mark": NaN}'])
def test_a_missing_or_garbage_clock_file_is_no_floor(tmp_path: Path,
                                                     content: str | None) -> None:
    path = tmp_path / "clock.json"
    if content is not None:
        path.write_text(content)
    trust = trust_at(path, FakeClock())
    change = trust.at_boot()
    assert change is not None and change.cause == NO_FLOOR and not trust.trusted
    assert trust.floor is None


def test_the_first_signed_list_gives_the_floor(tmp_path: Path) -> None:
    clock = FakeClock(2_000_000.0)
    issued: list[float] = []
    trust = trust_at(tmp_path / "clock.json", clock, issued=lambda: issued[-1] if issued
                     else None)
    assert trust.at_boot() is not None and not trust.trusted
    issued.append(clock.wall_s - 1)
    change = trust.tick()
    assert change is not None and change.trusted
    assert change.cause == "clock caught up with the floor (signed list)"
    assert load_mark(tmp_path / "clock.json") == clock.wall_s


def test_the_agents_central_time_resets_the_mark(tmp_path: Path) -> None:
    clock = FakeClock(2_000_000.0)
    path = tmp_path / "clock.json"
    save_mark(path, clock.wall_s + 365 * 86400)
    trust = trust_at(path, clock)
    assert trust.at_boot() is not None and not trust.trusted
    save_agent_evidence(evidence_path(path), AgentEvidence(central_time=CentralTime(
        clock.wall_s, clock.monotonic(), current_boot_id(), 0.01)))
    change = trust.tick()
    assert change is not None and change.trusted and change.alarm
    assert change.cause == MARK_RESET_BY_CENTRAL
    assert change.previous_mark == clock.wall_s + 365 * 86400
    assert load_mark(path) == pytest.approx(clock.wall_s)
    # After a reboot the monotonic reading means nothing: not central's time any more.
    stale = CentralTime(clock.wall_s, clock.monotonic(), "another-boot", 0.01)
    assert stale.projected(clock.monotonic(), current_boot_id()) is None


# ---------------------------------------------------------------- the gate


def test_ntp_synchronisation_brings_a_gate_with_a_mark_a_year_ahead_back(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    year_ahead = time.time() + 365 * 86400
    save_mark(tmp_path / "clock.json", year_ahead)
    ntp = FixedClockSync(False)
    month = (date.today() + timedelta(days=30)).isoformat()
    cards = f"{CARDS_CSV}0C0C0C0C,active,2020-01-01,{month},b1,,tenant,\n"
    rig = make_gate(door_doc(tmp_path), clock_sync=ntp, cards=cards)
    assert not rig.gate.clock_trust.trusted
    # Valid for another month, expired by a floor a year ahead: the trap a bad mark sets.
    assert rig.gate.handle_tap("0C0C0C0C").reason is Reason.EXPIRED
    ntp.synced = True
    rig.scheduler.advance(5)
    reset = [e for e in rig.gate.journal.read() if e.kind == "clock_trust"][-1]
    assert reset.alarm and reset.data["trusted"] is True
    assert reset.data["cause"] == MARK_RESET_BY_NTP
    assert reset.data["previous_mark"] == year_ahead
    assert rig.gate.status()["clock_trusted"] is True
    assert json.loads((tmp_path / "clock.json").read_text())["high_water_mark"] < year_ahead
    assert rig.gate.handle_tap("0C0C0C0C").granted


def test_a_gate_reads_the_list_issue_time_the_agent_wrote(
        make_gate: Callable[..., GateRig], tmp_path: Path) -> None:
    rig = make_gate(door_doc(tmp_path), clock_sync=FixedClockSync(False))
    first = [e for e in rig.gate.journal.read() if e.kind == "clock_trust"]
    assert [e.data["cause"] for e in first] == [NO_FLOOR] and first[0].alarm
    store = AuthStore(rig.config.auth_db)
    try:
        store.upsert([], applied_seq=1, list_issued_at=time.time())
    finally:
        store.close()
    rig.scheduler.advance(5)
    assert rig.gate.clock_trust.trusted
    assert rig.gate.status()["clock_floor"] == pytest.approx(time.time() - 300, abs=5)
