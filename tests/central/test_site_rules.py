"""The site's rules at the desk (issue 12): the expired-monthly-card policy per space kind,
the car parks' spaces, the holiday calendar and the timed modes — edited by the admin or the
director, versioned on every change, and built into the payload every gate reads
(edge.site_rules), checked here by the gate's own parser."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from central.models import Lot, SiteRulesVersion, SpaceKind
from central.models.site_rules import next_version
from central.refusals import InvalidInputError, NotFoundError, PermissionDeniedError
from central.services.context import Desk, action
from central.services.site_rules import (
    AddHoliday,
    AddTimedMode,
    RemoveHoliday,
    RemoveTimedMode,
    SetLotSpaces,
    SetParkingPolicy,
    add_holiday,
    add_timed_mode,
    remove_holiday,
    remove_timed_mode,
    set_lot_spaces,
    set_parking_policy,
    site_rules_payloads,
    site_rules_view,
)
from central.services.sites import load_site
from central.site_file import parse_toml
from edge.atomic_file import write_atomically
from edge.cards import HOLIDAY
from edge.site_rules import (
    DEFAULT,
    DayKind,
    ExpiredPolicy,
    ParkingPolicy,
    SiteRulesFile,
    SpaceClass,
    TimedModeKind,
    parse,
)

from .conftest import EXAMPLES, NOW, SITE, Staffs, load_second_site, row_counts


def payload(desk: Desk, site: str = SITE) -> str:
    """The site's rules as the gates receive them, as JSON text."""
    (rules,) = site_rules_payloads(desk, NOW, site=site)
    return rules.dump()


def version(desk: Desk) -> int:
    return parse(payload(desk)).version


def test_the_example_site_has_its_car_park_and_default_rules(desk: Desk, staff: Staffs) -> None:
    rules = parse(payload(desk))
    assert rules.site == SITE and rules.issued_at == NOW.timestamp()
    (lot,) = rules.lots
    assert (lot.id, lot.name, lot.gates) == ("main", "地面停车场", ("carpark-in", "carpark-out"))
    assert lot.spaces == {SpaceClass.FIXED: 20, SpaceClass.MONTHLY: 60, SpaceClass.TEMPORARY: 30}
    assert rules.lot_of("carpark-in") == lot and rules.lot_of("main-gate") is None
    # Loading the car park was a change of the rules: a version the gates take.
    assert rules.version > 0
    # Nothing else stated: every kind follows the default policy.
    assert rules.parking == {} and rules.policy("fixed") == DEFAULT.policy("fixed")
    view = site_rules_view(desk, staff.clerk)
    assert [(p.space_kind, p.stated) for p in view.policies] == [
        (SpaceKind.FIXED, False), (SpaceKind.FLOATING, False),
        (SpaceKind.EMERGENCY_RESERVE, False)]
    assert view.version == rules.version


def test_every_edit_reaches_the_payload_with_a_newer_version(desk: Desk, staff: Staffs) -> None:
    seen = [version(desk)]

    def changed() -> None:
        now = version(desk)
        assert now > seen[-1]
        seen.append(now)

    set_parking_policy(desk, staff.director, SetParkingPolicy.from_form({
        "space_kind": "floating", "expired": "temporary", "grace_days": "3",
        "remind_days": "5"}))
    changed()
    set_parking_policy(desk, staff.admin, SetParkingPolicy.from_form({
        "space_kind": "fixed", "expired": "guard"}))
    changed()
    add_holiday(desk, staff.director, AddHoliday.from_form({
        "day": "2026-10-01", "kind": "holiday", "note": "国庆节"}))
    changed()
    add_holiday(desk, staff.director, AddHoliday.from_form({
        "day": "2026-10-10", "kind": "workday", "note": "国庆调休"}))
    changed()
    set_lot_spaces(desk, staff.director, SetLotSpaces.from_form({
        "lot": "main", "fixed": 22, "monthly": 58, "temporary": 0}))
    changed()
    mode_id = add_timed_mode(desk, staff.admin, AddTimedMode.from_form({
        "gate": "b1-lobby", "schedule": "Mon-Fri 07:00-09:00", "mode": "hold_open"}))
    changed()
    add_timed_mode(desk, staff.admin, AddTimedMode.from_form({
        "gate": "carpark-in", "schedule": " Mon-Sun 23:00-23:59; Hol 00:00-06:00 ",
        "mode": "monthly_only", "note": "夜间只进月卡"}))
    changed()

    rules = parse(payload(desk))
    assert rules.policy("floating") == ParkingPolicy(ExpiredPolicy.TEMPORARY, 3, 5)
    assert rules.policy("fixed") == ParkingPolicy(ExpiredPolicy.GUARD, 0, 15)
    assert rules.policy("emergency_reserve") == DEFAULT.policy("emergency_reserve")
    assert rules.holidays == {date(2026, 10, 1): DayKind.HOLIDAY,
                              date(2026, 10, 10): DayKind.WORKDAY}
    assert rules.day_numbers(date(2026, 10, 1)) == frozenset({HOLIDAY})
    assert rules.day_numbers(date(2026, 10, 10)) == frozenset(range(1, 6))  # a Saturday
    assert rules.lots[0].spaces[SpaceClass.TEMPORARY] == 0
    lobby, night = rules.timed_modes
    assert (lobby.gate, lobby.mode) == ("b1-lobby", TimedModeKind.HOLD_OPEN)
    assert lobby.schedule.allows_on(frozenset({2}), datetime(2026, 6, 9, 8, 0).time())
    assert night.schedule.spec == "Mon-Sun 23:00-23:59; Hol 00:00-06:00"
    assert rules.modes_of("carpark-in") == (night,)

    # Removing is a change too; the other site's rules are not touched.
    load_second_site(desk)
    other = parse(payload(desk, "moonlight-court"))
    remove_timed_mode(desk, staff.admin, RemoveTimedMode(mode_id))
    changed()
    remove_holiday(desk, staff.director, RemoveHoliday.from_form({"day": "2026-10-10"}))
    changed()
    rules = parse(payload(desk))
    assert [m.gate for m in rules.timed_modes] == ["carpark-in"]
    assert list(rules.holidays) == [date(2026, 10, 1)]
    assert parse(payload(desk, "moonlight-court")).version == other.version
    assert other.holidays == {} and other.timed_modes == ()


def test_a_gate_reads_the_payload_it_is_sent(desk: Desk, staff: Staffs, tmp_path: Path) -> None:
    add_holiday(desk, staff.director, AddHoliday.from_form({
        "day": "2027-02-17", "kind": "holiday", "note": "春节"}))
    path = tmp_path / "site-rules.json"
    write_atomically(path, payload(desk))
    reader = SiteRulesFile(path, SITE)
    rules = reader.current()
    assert reader.last_error is None
    assert rules.holidays == {date(2027, 2, 17): DayKind.HOLIDAY}
    assert rules.version == version(desk)


def test_reading_or_writing_something_else_never_raises_the_version(desk: Desk,
                                                                    staff: Staffs) -> None:
    before = version(desk)
    # Reading never raises the version.
    site_rules_view(desk, staff.clerk)
    site_rules_payloads(desk, NOW)
    assert version(desk) == before
    with action(desk) as act:  # a write to something else: no new version
        act.session.scalars(select(Lot)).one()
    assert version(desk) == before


def test_the_version_grows_even_with_the_clock_behind_it() -> None:
    now = datetime(2026, 6, 9, tzinfo=UTC)
    ms = int(now.timestamp() * 1000)
    assert next_version(0, now) == ms
    assert next_version(ms + 500, now) == ms + 501  # the clock set back
    assert next_version(ms, now) == ms + 1  # two changes in one millisecond


@pytest.mark.parametrize("who", ["clerk", "front_desk_lead", "customer_service_lead", "guard"])
def test_only_the_admin_or_the_director_edits_the_rules(desk: Desk, staff: Staffs,
                                                        who: str) -> None:
    before = row_counts(desk)
    with pytest.raises(PermissionDeniedError):
        add_holiday(desk, getattr(staff, who), AddHoliday.from_form({
            "day": "2026-10-01", "kind": "holiday"}))
    assert row_counts(desk) == before
    assert site_rules_view(desk, getattr(staff, who)).lots[0].code == "main"  # all may read


def test_bad_input_is_refused_with_both_languages_and_nothing_written(
        desk: Desk, staff: Staffs) -> None:
    with pytest.raises(InvalidInputError) as bad:
        SetParkingPolicy.from_form({"space_kind": "visitor", "expired": "later",
                                    "grace_days": "-1", "remind_days": "400"})
    fields = {e.field for e in bad.value.errors}
    assert fields == {"space_kind", "expired", "grace_days", "remind_days"}
    assert all(e.message_zh and e.message_en for e in bad.value.errors)
    with pytest.raises(InvalidInputError) as bad:
        AddTimedMode.from_form({"gate": "b1-lobby", "schedule": "weekdays 7-9",
                                "mode": "hold_open"})
    assert [e.field for e in bad.value.errors] == ["schedule"]
    with pytest.raises(InvalidInputError) as bad:
        AddTimedMode.from_form({"gate": "b1-lobby", "mode": "hold_open"})
    assert [e.field for e in bad.value.errors] == ["schedule"]  # required
    before = row_counts(desk)
    with pytest.raises(InvalidInputError) as bad:
        add_timed_mode(desk, staff.admin, AddTimedMode.from_form({
            "gate": "nowhere", "schedule": "Mon-Fri 07:00-09:00", "mode": "hold_open"}))
    assert [e.field for e in bad.value.errors] == ["gate"]
    with pytest.raises(NotFoundError):
        set_lot_spaces(desk, staff.admin, SetLotSpaces("underground", 1, 1, 1))
    with pytest.raises(NotFoundError):
        remove_holiday(desk, staff.admin, RemoveHoliday(date(2026, 5, 1)))
    with pytest.raises(NotFoundError):
        remove_timed_mode(desk, staff.admin, RemoveTimedMode(999))
    assert row_counts(desk) == before


def test_the_site_file_car_park_is_checked_and_loaded_once(desk: Desk) -> None:
    text = (EXAMPLES / "site.toml").read_text(encoding="utf-8")
    with desk.sessions() as s:
        first = s.scalars(select(SiteRulesVersion)).one().version
    # Loading again: the car park is there; spaces differing in the file are reported.
    report = load_site(desk, parse_toml(text.replace("monthly = 60", "monthly = 70")))
    assert report.existing["lots"] == 1 and "lots" not in report.added
    assert report.warnings == ["car park main: spaces stay fixed 20, monthly 60, temporary 30 "
                               "(file says 20, 70, 30)"]
    with desk.sessions() as s:
        assert s.scalars(select(SiteRulesVersion)).one().version == first
    bad = text.replace('gates = ["carpark-in", "carpark-out"]\nspaces = { fixed = 20,',
                       'gates = ["main-gate", "nowhere"]\nspaces = { fixed = -1, bikes = 3,')
    bad += '\n[[lots]]\nid = "main"\ngates = []\n'
    with pytest.raises(InvalidInputError) as refused:
        parse_toml(bad)
    problems = {(e.field, e.message_en) for e in refused.value.errors}
    assert ("lots[0].gates", "'main-gate' is not a barrier lane (role barrier_entry or "
            "barrier_exit)") in problems
    assert ("lots[0].gates", "'nowhere' is not in [[gates]]") in problems
    fields = {f for f, _ in problems}
    assert {"lots[0].spaces.fixed", "lots[0].spaces.bikes", "lots[1].gates", "lots[1]"} <= fields
