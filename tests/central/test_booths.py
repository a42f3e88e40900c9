"""Guard booths at the desk (issue 11): booths in the site file and loaded by ``load-site``;
the P6 tariff and float limit as site settings; which guards may sign in at which booth (a
new guard gets every booth of the site); and each booth's list built from the desk's records
(sync/wire/booth_list.py is the contract)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from central.cli import main
from central.clock import FixedClock
from central.models import Booth, GoodsPass, Role, SiteSettings, Staff
from central.refusals import ConflictError, InvalidInputError
from central.services import booth_list as booth_list_service
from central.services.booth_list import booth_list, booth_lists, signed_size
from central.services.context import Desk
from central.services.goods import IssueGoodsPass, issue_goods_pass
from central.services.sites import load_site
from central.services.staff import (
    NewRole,
    NewStaff,
    StaffBooths,
    booth_choices,
    change_role,
    create_staff,
    deactivate_staff,
    set_booths,
)
from central.services.visitors import (
    IssueParkingPermit,
    IssueVisitorPass,
    issue_parking_permit,
    issue_visitor_pass,
)
from central.site_file import parse_toml
from sync.wire.booth_list import BoothGate, BoothList
from sync.wire.payload import MAX_MESSAGE_BYTES, ProtocolError

from .conftest import EXAMPLES, NOW, PASSWORD, SITE, Staffs, person
from .test_goods import issue as issue_slip
from .test_goods import let_out

EAST = f"{SITE}/east-booth"


def example() -> str:
    return (EXAMPLES / "site.toml").read_text(encoding="utf-8")


def east(desk: Desk) -> BoothList:
    made = booth_list(desk, SITE, "east-booth")
    assert made is not None
    return made


# ------------------------------------------------------------------ the site file


def test_the_example_site_has_its_booth_and_the_p6_settings(desk: Desk) -> None:
    with desk.sessions() as s:
        booth = s.scalars(select(Booth)).one()
        assert (booth.code, booth.name) == ("east-booth", "东门岗")
        assert [g.code for g in booth.gates] == ["carpark-in", "carpark-out", "main-gate"]
        settings = s.scalars(select(SiteSettings)).one()
        assert (settings.parking_free_minutes, settings.parking_day_per_hour_fen,
                settings.parking_night_per_hour_fen, settings.parking_night_start,
                settings.parking_night_end, settings.parking_daily_cap_fen,
                settings.booth_float_limit_fen) == (15, 500, 200, "22:00", "07:00", 4000,
                                                    60_000)


def test_loading_again_adds_a_new_booth_and_a_new_gate_of_a_booth(desk: Desk) -> None:
    text = example().replace('gates = ["main-gate", "carpark-in", "carpark-out"]',
                             'gates = ["main-gate", "carpark-in", "carpark-out", "b1-lobby"]')
    text += '\n[[booths]]\ncode = "north-booth"\nname = "北门岗"\ngates = ["b2-lobby"]\n'
    text = text.replace('free_minutes = 15,', 'free_minutes = 30,')
    report = load_site(desk, parse_toml(text))
    assert report.added == {"booths": 1} and report.existing["booths"] == 1
    with desk.sessions() as s:
        booths = {b.code: sorted(g.code for g in b.gates) for b in s.scalars(select(Booth))}
        assert booths == {"east-booth": ["b1-lobby", "carpark-in", "carpark-out", "main-gate"],
                          "north-booth": ["b2-lobby"]}
        assert s.scalars(select(SiteSettings)).one().parking_free_minutes == 30


def test_booth_and_tariff_mistakes_are_listed_at_once() -> None:
    text = example().replace(
        'parking_tariff = { free_minutes = 15,',
        'parking_tariff = { colour = "red", free_minutes = -1,').replace(
        'night_start = "22:00"', 'night_start = "25:00"').replace(
        'booth_float_limit_yuan = "600"', 'booth_float_limit_yuan = 600.5')
    text += ('\n[[booths]]\ncode = "east-booth"\ngates = ["west-gate"]\n'
             '\n[[booths]]\ncode = "a/b"\n'
             '\n[[booths]]\ncode = "main-gate"\ngates = ["main-gate"]\n')
    with pytest.raises(InvalidInputError) as refused:
        parse_toml(text)
    fields = {e.field: e for e in refused.value.errors}
    assert set(fields) == {
        "settings.parking_tariff.colour", "settings.parking_tariff.free_minutes",
        "settings.parking_tariff.night_start", "settings.booth_float_limit_yuan",
        "booths[1]", "booths[1].gates", "booths[2].code", "booths[2].gates",
        "booths[3].code"}
    assert "23:59" in fields["settings.parking_tariff.night_start"].message_zh
    assert "west-gate" in fields["booths[1].gates"].message_en
    assert fields["booths[1]"].message_zh == "重复"
    assert "device id" in fields["booths[2].code"].message_en
    assert "至少" in fields["booths[2].gates"].message_zh
    assert "device ids are unique" in fields["booths[3].code"].message_en


def test_load_site_from_the_command_line_reports_the_booths(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    db = f"sqlite:///{tmp_path / 'desk.db'}"
    assert main(["create-db", "--db", db]) == 0
    assert main(["load-site", "--db", db, str(EXAMPLES / "site.toml")]) == 0
    assert "  booths: 1 added, 0 already there" in capsys.readouterr().out
    assert main(["load-site", "--db", db, str(EXAMPLES / "site.toml")]) == 0
    assert "  booths: 0 added, 1 already there" in capsys.readouterr().out
    desk = Desk.open(db)
    try:
        with desk.sessions() as s:
            assert [b.code for b in s.scalars(select(Booth))] == ["east-booth"]
    finally:
        desk.close()


# ------------------------------------------------------------------ a guard's booths


def test_a_new_guard_may_sign_in_at_every_booth_of_the_site(desk: Desk, staff: Staffs) -> None:
    choices = booth_choices(desk, staff.admin, staff.guard.staff_id)
    assert [(c.key, c.name, c.allowed) for c in choices] == [(EAST, "东门岗", True)]
    assert choices[0].gates == ("停车场入口", "停车场出口", "小区大门")
    # A clerk has no booth; made a guard, they get the site's booths too.
    assert not any(c.allowed for c in booth_choices(desk, staff.admin, staff.clerk.staff_id))
    change_role(desk, staff.admin, staff.clerk.staff_id, NewRole(Role.GUARD))
    assert [c.allowed for c in booth_choices(desk, staff.admin, staff.clerk.staff_id)] == [True]


def test_the_admin_chooses_a_guards_booths(desk: Desk, staff: Staffs) -> None:
    set_booths(desk, staff.admin, staff.guard.staff_id, StaffBooths(()))
    assert [c.allowed for c in booth_choices(desk, staff.admin, staff.guard.staff_id)] == [False]
    with pytest.raises(InvalidInputError) as unknown:
        set_booths(desk, staff.admin, staff.guard.staff_id,
                   StaffBooths.from_form({"booths": [EAST, f"{SITE}/west-booth"]}))
    assert unknown.value.errors[0].field == "booths"
    assert "west-booth" in unknown.value.errors[0].message_en
    with pytest.raises(ConflictError):
        set_booths(desk, staff.admin, staff.clerk.staff_id, StaffBooths((EAST,)))
    set_booths(desk, staff.admin, staff.guard.staff_id, StaffBooths.from_form({"booths": [EAST]}))
    assert [c.allowed for c in booth_choices(desk, staff.admin, staff.guard.staff_id)] == [True]


# ------------------------------------------------------------------ the booth's list


def test_the_list_names_the_guards_allowed_there_only(desk: Desk, staff: Staffs) -> None:
    li = create_staff(desk, NewStaff("li.gang", "李刚", Role.GUARD, PASSWORD, SITE))
    zhao = create_staff(desk, NewStaff("zhao.qiang", "赵强", Role.GUARD, PASSWORD, SITE))
    set_booths(desk, staff.admin, zhao, StaffBooths(()))  # not allowed at the east booth
    deactivate_staff(desk, staff.admin, li)  # stopped
    made = east(desk)
    assert [g.username for g in made.guards] == ["guard"]
    with desk.sessions() as s:
        account = s.get(Staff, staff.guard.staff_id)
        assert account is not None
        assert made.guards[0].password_hash == account.password_hash
        assert made.guards[0].password_hash.startswith("$argon2id$")
    assert made.guards[0].name == "guard"
    assert (made.site, made.booth, made.timezone) == (SITE, "east-booth", "Asia/Shanghai")


def test_the_list_carries_the_tariff_and_float_limit_in_fen(desk: Desk) -> None:
    text = example().replace('day_per_hour_yuan = "5"', 'day_per_hour_yuan = "6.50"').replace(
        'booth_float_limit_yuan = "600"', 'booth_float_limit_yuan = "800"')
    load_site(desk, parse_toml(text))
    made = east(desk)
    assert made.float_limit_fen == 80_000
    assert made.tariff.wire() == {"free_minutes": 15, "day_per_hour_fen": 650,
                                  "night_per_hour_fen": 200, "night_start": "22:00",
                                  "night_end": "07:00", "daily_cap_fen": 4000}


def test_slips_open_used_and_unapproved(desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    used = issue_slip(desk, staff)
    let_out(desk, staff, used)
    waiting = issue_slip(desk, staff, approved=False, valid_on="2026-06-10")
    open_slip = issue_slip(desk, staff, valid_on="2026-06-09")
    slips = {s.number: s for s in east(desk).slips}
    assert slips[used].state == "used" and slips[used].approved
    assert slips[open_slip].state == "open" and slips[open_slip].approved
    assert slips[waiting].state == "open" and not slips[waiting].approved
    assert slips[used].unit == "1-1201" and slips[used].items == "沙发一套，冰箱一台"
    assert slips[used].carrier_name == "搬家公司 李师傅"
    # Two days on, the used slip and the expired one are still there (the booth says why
    # it refuses them); a third day, and only the slip of 10 June ...
    clock.advance(timedelta(days=2))
    assert {s.number for s in east(desk).slips} == {used, waiting, open_slip}
    clock.advance(timedelta(days=1, hours=1))
    assert {s.number for s in east(desk).slips} == {waiting}
    clock.advance(timedelta(days=1))
    assert east(desk).slips == ()


def test_a_site_without_the_approval_step_sends_every_slip_approved(desk: Desk,
                                                                    staff: Staffs) -> None:
    load_site(desk, parse_toml(example().replace("goods_slip_approval = true",
                                                 "goods_slip_approval = false")))
    number = issue_slip(desk, staff, approved=False)
    assert [s.approved for s in east(desk).slips if s.number == number] == [True]


def test_goods_passes_masked_and_a_revoked_one_marked(desk: Desk, staff: Staffs) -> None:
    wang = person(desk, "王建国")
    pass_id, until = issue_goods_pass(desk, staff.clerk, IssueGoodsPass.from_form(
        {"person_id": wang.id, "id_number_presented": wang.id_number}))
    [shown] = east(desk).goods_passes
    assert (shown.pass_id, shown.holder, shown.unit, shown.valid_from, shown.valid_until,
            shown.revoked) == (pass_id, "王*国", "1-1201", date(2026, 6, 9), until, False)
    with desk.write_sessions() as s, s.begin():
        row = s.get(GoodsPass, pass_id)
        assert row is not None
        row.revoked_at = NOW
    assert [p.revoked for p in east(desk).goods_passes] == [True]


def test_visitor_passes_with_host_unit_confirmation_and_plate(desk: Desk,
                                                              staff: Staffs) -> None:
    wang = person(desk, "王建国")
    issued = issue_visitor_pass(desk, staff.clerk, IssueVisitorPass.from_form({
        "visitor": {"name": "访客甲", "id_number": "110101199003071234"},
        "valid_from": "2026-06-09", "valid_until": "2026-06-10",
        "invited_by_person_id": wang.id,
        "confirmation": {"person_id": wang.id, "method": "phone",
                         "confirmed_at": "2026-06-09T09:55:00+08:00"}}))
    alone = issue_visitor_pass(desk, staff.clerk, IssueVisitorPass.from_form({
        "visitor": {"name": "快递员", "id_number": "110101199003075678"},
        "valid_from": "2026-06-10", "valid_until": "2026-06-10"}))
    issue_parking_permit(desk, staff.clerk, IssueParkingPermit.from_form({
        "plate": "粤B12345", "host_person_id": wang.id, "valid_from": "2026-06-09",
        "valid_until": "2026-06-10", "visitor_pass_id": issued.pass_id}))
    passes = {p.pass_id: p for p in east(desk).visitor_passes}
    first, second = passes[issued.pass_id], passes[alone.pass_id]
    assert (first.visitor, first.host_unit, first.confirmed, first.plate) == (
        "访客甲", "1-1201", True, "粤B12345")
    assert (second.visitor, second.host_unit, second.confirmed, second.plate) == (
        "快递员", "", False, None)
    # Nothing of the visitor's ID number goes to the booth.
    assert "1990030" not in east(desk).dump()


def test_the_list_survives_the_wire(desk: Desk, staff: Staffs) -> None:
    issue_slip(desk, staff)
    made = east(desk)
    assert made.gates
    assert BoothList.parse(made.dump()) == made
    assert booth_lists(desk, "no-such-site") == []
    assert booth_list(desk, SITE, "no-such-booth") is None


def test_the_list_names_the_booths_gates_as_people_say_them(desk: Desk) -> None:
    assert east(desk).gates == (BoothGate("carpark-in", "停车场入口"),
                                BoothGate("carpark-out", "停车场出口"),
                                BoothGate("main-gate", "小区大门"))
    # Another gate tied to the booth: the list follows; the other booth names only its own.
    text = example().replace(
        'gates = ["main-gate", "carpark-in", "carpark-out"]',
        'gates = ["main-gate", "carpark-in", "carpark-out", "b1-lobby"]')
    text += '\n[[booths]]\ncode = "north-booth"\nname = "北门岗"\ngates = ["b2-lobby"]\n'
    load_site(desk, parse_toml(text))
    assert [(g.device, g.name) for g in east(desk).gates] == [
        ("b1-lobby", "1栋大堂"), ("carpark-in", "停车场入口"), ("carpark-out", "停车场出口"),
        ("main-gate", "小区大门")]
    north = booth_list(desk, SITE, "north-booth")
    assert north is not None and north.gates == (BoothGate("b2-lobby", "2栋大堂"),)


def test_a_list_from_an_older_desk_without_gates_is_read_as_naming_none(desk: Desk) -> None:
    made = east(desk)
    wire = json.loads(made.dump())
    del wire["gates"]
    older = BoothList.parse(json.dumps(wire))
    assert older.gates == () and older == replace(made, gates=())
    wire["gates"] = None
    assert BoothList.parse(json.dumps(wire)).gates == ()
    for bad, said in (([{"device": "", "name": "x"}], "booth_list.gates[0].device: empty"),
                      ([{"device": "main-gate"}], "booth_list.gates[0].name: missing"),
                      (["main-gate"], "booth_list.gates[0]: expected an object"),
                      ({"main-gate": "小区大门"}, "booth_list.gates: expected list")):
        wire["gates"] = bad
        with pytest.raises(ProtocolError, match=re.escape(said)):
            BoothList.parse(json.dumps(wire))


def test_a_list_too_large_loses_its_oldest_slips(desk: Desk, staff: Staffs, clock: FixedClock,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # Chinese text travels as UTF-8 in the signed envelope: 3 bytes a character, so 100 slips
    # of 1,000 characters (the most a slip takes) are over the broker's limit.
    items = "沙发" * 500
    numbers = [issue_slip(desk, staff, items=items, valid_on=f"2026-06-{day:02d}")
               for day in range(9, 14) for _ in range(20)]
    with caplog.at_level(logging.WARNING, logger=booth_list_service.log.name):
        made = east(desk)
    assert signed_size(made) <= MAX_MESSAGE_BYTES
    kept = [s.number for s in made.slips]
    assert 0 < len(kept) < len(numbers)
    assert kept == numbers[-len(kept):]  # the newest kept, the oldest left out
    assert "oldest goods slips were left out" in caplog.text
