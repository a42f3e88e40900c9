"""Visitors at the gate (G5, H7) over the booth's real file: registering checks the ID,
keeps it in full only in the table and the journal, and shows it masked; signing out;
the desk's visitor passes are checked in against, or refused with the reason."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from booth.id_numbers import (
    IdDocument,
    IdKind,
    check_resident_id,
    mask_id_number,
    read_id_document,
    resident_id_check_character,
)
from booth.refusals import BoothRefusal
from booth.service import BoothService
from booth.visitors import HostConfirmation, VisitorEntry, normalize_plate
from sync.wire.booth_list import BoothVisitorPass
from tests.booth.booth_rig import BoothRig, SettableClock, booth_list

TZ = ZoneInfo("Asia/Shanghai")
# 2026-03-10 10:00 at the site.
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=TZ).timestamp()
TODAY = date(2026, 3, 10)
ID = "11010119900307123" + resident_id_check_character("11010119900307123")
GUARD = "wang.guard"


PASSES = (
    BoothVisitorPass(7, "赵访客", "1-1201", TODAY, date(2026, 3, 12), True, "粤B12345"),
    BoothVisitorPass(8, "钱访客", "2-0302", TODAY, TODAY, False, None),
    BoothVisitorPass(9, "孙访客", "3-0101", date(2026, 3, 11), date(2026, 3, 13), True, None),
    BoothVisitorPass(10, "李访客", "3-0102", date(2026, 3, 6), date(2026, 3, 8), True, None),
)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(NOW)


@pytest.fixture
def service(rig: BoothRig, clock: SettableClock) -> Iterator[BoothService]:
    rig.publish(booth_list(1, visitor_passes=PASSES))
    assert rig.config is not None
    built = BoothService(rig.config, clock)
    yield built
    built.close()


def entry(**changes: object) -> VisitorEntry:
    values: dict[str, object] = {
        "name": "张三", "id_kind": "resident_id", "id_number": ID, "plate": "粤b·a1234",
        "host_unit": "1-1201", "items": "水果一箱", "host_confirm_method": "phone",
        "host_confirmed_by": "李四", "visitor_pass_id": None}
    values.update(changes)
    return VisitorEntry(**values)  # type: ignore[arg-type]


def journal(service: BoothService) -> list[tuple[str, dict[str, object]]]:
    return [(e.kind, e.data) for e in service.store.journal.read()]


def test_resident_id_numbers_are_checked_and_masked_as_the_desk_masks_them() -> None:
    assert check_resident_id(" " + ID[:6] + " " + ID[6:].lower()) == ID
    assert mask_id_number(ID) == "110***********" + ID[-4:]
    assert mask_id_number("E1234567") == "******67"
    wrong = ID[:17] + ("0" if ID[17] != "0" else "1")
    bad_date = "11010119901307" + "1234"
    for bad, words in ((wrong, "校验位"), (ID[:17], "18位"), (bad_date, "出生日期")):
        with pytest.raises(BoothRefusal) as refused:
            check_resident_id(bad)
        assert words in refused.value.message_zh
        assert bad not in refused.value.message_zh + refused.value.message_en
        assert refused.value.field == "id_number"
    passport = read_id_document("passport", " e 1234567 ")
    assert passport == IdDocument(IdKind.PASSPORT, "E1234567")
    assert "E1234567" not in repr(passport)
    with pytest.raises(BoothRefusal, match="kind"):
        read_id_document("driving_licence", "123")
    with pytest.raises(BoothRefusal, match="number"):
        read_id_document("other", "  ")


def test_a_visitor_is_registered_masked_and_journalled_in_full_and_not_logged(
        service: BoothService, clock: SettableClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    visit = service.visitors.register(entry(), GUARD)
    assert visit.id_masked == mask_id_number(ID) and ID not in repr(visit)
    assert visit.plate == "粤BA1234" and visit.time_in == NOW and visit.time_out is None
    assert [v.visit_id for v in service.visitors.inside()] == [visit.visit_id]
    ((kind, data),) = journal(service)
    assert kind == "visitor_in"
    assert data == {"visit_id": visit.visit_id, "name": "张三", "id_kind": "resident_id",
                    "id_number": ID, "plate": "粤BA1234", "host_unit": "1-1201",
                    "items": "水果一箱", "time_in": NOW, "host_confirmed_by": "李四",
                    "host_confirm_method": "phone", "visitor_pass_id": None, "guard": GUARD}
    conn = sqlite3.connect(service.config.events_db)
    assert conn.execute("SELECT id_number FROM visits").fetchall() == [(ID,)]
    conn.close()
    # A mistyped number is refused without repeating it, and nothing logs a number.
    with pytest.raises(BoothRefusal) as refused:
        service.visitors.register(entry(id_number=ID[:17] + "Y"), GUARD)
    assert ID[:17] not in str(refused.value) and ID[:17] not in repr(
        entry(id_number=ID[:17] + "Y"))
    assert ID not in caplog.text and ID[:17] not in caplog.text

    clock.now += 3600
    left = service.visitors.sign_out(visit.visit_id, "li.guard")
    assert left.time_out == NOW + 3600
    assert service.visitors.inside() == []
    assert [v.visit_id for v in service.visitors.left_today()] == [visit.visit_id]
    assert journal(service)[-1] == ("visitor_out", {"visit_id": visit.visit_id,
                                                    "time_out": NOW + 3600,
                                                    "guard": "li.guard"})
    with pytest.raises(BoothRefusal, match="left already"):
        service.visitors.sign_out(visit.visit_id, GUARD)
    with pytest.raises(BoothRefusal, match="no such visit"):
        service.visitors.sign_out("nope", GUARD)
    assert len(journal(service)) == 2


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"name": " "}, "name", "访客姓名"),
    ({"id_number": ""}, "id_number", "证件号码"),
    ({"id_number": "123"}, "id_number", "18位"),
    ({"id_kind": "card"}, "id_kind", "证件类型"),
    ({"host_unit": ""}, "host_unit", "房号"),
    ({"plate": "粤B1"}, "plate", "车牌号"),
    ({"host_confirm_method": ""}, "host_confirm_method", "确认方式"),
    ({"host_confirmed_by": ""}, "host_confirmed_by", "确认住户姓名"),
    ({"host_confirm_method": "pass"}, "host_confirm_method", "没有访客通行证"),
    ({"items": "很" * 201}, "items", "携带物品"),
])
def test_a_registration_is_refused_with_the_field_and_reason(
        service: BoothService, changes: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(BoothRefusal) as refused:
        service.visitors.register(entry(**changes), GUARD)
    assert refused.value.field == field
    assert words in refused.value.message_zh
    assert journal(service) == [] and service.visitors.inside() == []


def test_host_not_reached_is_recorded_and_the_guard_decides(service: BoothService) -> None:
    visit = service.visitors.register(entry(host_confirm_method="not_reached",
                                            host_confirmed_by="someone", plate="",
                                            id_kind="hk_macau_permit", id_number="C12345678"),
                                      GUARD)
    assert visit.host_confirm_method is HostConfirmation.NOT_REACHED
    assert visit.host_confirmed_by == "" and visit.plate is None
    assert visit.id_masked == "*******78"
    assert journal(service)[0][1]["id_number"] == "C12345678"


def test_the_desks_passes_are_expected_today_and_checked_in(service: BoothService) -> None:
    expected = {c.visitor_pass.pass_id: c for c in service.visitors.expected_today()}
    assert sorted(expected) == [7, 8]
    assert expected[7].usable and expected[7].visitor_pass.confirmed
    assert expected[8].usable and not expected[8].visitor_pass.confirmed
    visit = service.visitors.register(entry(visitor_pass_id=7, host_confirm_method="pass",
                                            host_confirmed_by=""), GUARD)
    assert visit.visitor_pass_id == 7
    assert journal(service)[0][1]["visitor_pass_id"] == 7
    assert not service.visitors.find_pass(7).usable
    with pytest.raises(BoothRefusal, match="in already"):
        service.visitors.register(entry(visitor_pass_id=7), GUARD)
    # An unconfirmed pass cannot stand for the host's confirmation; a call can.
    with pytest.raises(BoothRefusal, match="not confirmed") as refused:
        service.visitors.register(entry(visitor_pass_id=8, host_confirm_method="pass"), GUARD)
    assert refused.value.message_zh == "此通行证尚未经住户确认，请电话或当面联系住户"
    service.visitors.register(entry(visitor_pass_id=8), GUARD)
    # After signing out, the pass (valid three days) can be checked in again.
    service.visitors.sign_out(visit.visit_id, GUARD)
    assert service.visitors.find_pass(7).usable


@pytest.mark.parametrize(("pass_id", "words"), [
    (9, "此访客通行证自 2026-03-11 起才有效，今天不能使用"),
    (10, "此访客通行证已于 2026-03-08 到期"),
    (99, "没有编号为 99 的访客通行证"),
])
def test_a_pass_not_valid_today_is_refused_with_the_reason(
        service: BoothService, pass_id: int, words: str) -> None:
    if pass_id != 99:
        assert service.visitors.find_pass(pass_id).refusal is not None
    with pytest.raises(BoothRefusal) as refused:
        service.visitors.register(entry(visitor_pass_id=pass_id), GUARD)
    assert refused.value.message_zh == words
    assert journal(service) == []


def test_plates_are_spelled_as_the_desk_spells_them() -> None:
    assert normalize_plate(" 粤b·12345 ") == "粤B12345"
    assert normalize_plate("粤B-D1234_5") == "粤BD12345"
