"""The post's car park at the booth (issue 12), over real gate processes counting a real car
park: the occupancy the lanes count, a lane not heard, a guard's count sent to one lane
(journalled by the gate, kept in its lot.db, recorded by the booth) and bad counts refused;
a temporary car the entry lane's camera let in charged at the exit from its camera entry
time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from booth.car_park import lot_view, parse_correction
from booth.parking import CAMERA_ENTRY, ExitForm, camera_entry_of
from booth.parking_tariff import fee
from booth.refusals import BoothRefusal, GateUnreachable
from booth.service import BoothService
from edge.lot_counts import LaneCounters, LotCounts
from edge.site_rules import SpaceClass
from tests.booth.booth_rig import (
    TARIFF,
    BoothRig,
    SettableClock,
    booth_list,
    journal_data,
    let_in_by_camera,
    wait_for,
)
from tests.edge.gate_process import stop_gate

ENTRY, EXIT = "lane-barrier_entry", "lane-barrier_exit"
GUARD = "wang.guard"
VISITOR = "粤A88888"
TZ = "Asia/Shanghai"


def gate_journal(rig: BoothRig, name: str, kind: str) -> list[dict[str, Any]]:
    """The data of a gate's journalled events of ``kind``."""
    return journal_data(rig.gate_configs[name].events_db, kind)


@pytest.fixture
def clock() -> SettableClock:
    """The booth's clock, now (a test moves it on)."""
    return SettableClock()


@pytest.fixture
def service(rig: BoothRig, clock: SettableClock) -> Iterator[BoothService]:
    """The booth over a car park's two lanes, running."""
    rig.car_park()
    rig.start_gates()
    rig.publish(booth_list(1))
    assert rig.config is not None
    built = BoothService(rig.config, clock)
    try:
        yield built
    finally:
        built.close()


def test_the_post_shows_the_car_park_as_its_lanes_count_it(service: BoothService,
                                                           rig: BoothRig) -> None:
    let_in_by_camera(rig, VISITOR)
    view = service.car_park.view()
    assert view.has_lanes and view.unknown == ()
    [lot] = view.lots
    assert (lot.lot, lot.name, lot.lane) == ("main", "地下车库", ENTRY)
    assert [(c.space_class, c.spaces, c.occupied, c.free) for c in lot.classes] == [
        ("temporary", 30, 1, 29), ("monthly", 60, 0, 60), ("fixed", 20, 0, 20)]
    # No sync agent runs: neither lane has heard the other, and each says so.
    assert [(s.device, s.minutes) for s in lot.silent] == [(EXIT, None)]
    assert lot.last_count is None


def test_a_lane_heard_minutes_ago_is_told_with_its_silence(service: BoothService,
                                                          rig: BoothRig) -> None:
    lane = rig.gate_configs[ENTRY].lane
    assert lane is not None
    # What the entry lane's sync agent wrote when it last heard the exit lane: 3.5 min ago.
    counts = LotCounts(lane.lot_db, ENTRY)
    try:
        counts.heard(EXIT, LaneCounters(), None, time.time() - 210)
    finally:
        counts.close()
    [lot] = service.car_park.view().lots
    assert [(s.device, s.minutes) for s in lot.silent] == [(EXIT, 3)]


def test_a_guard_count_reaches_the_lane_journal_and_lot_db_and_is_recorded(
        service: BoothService, rig: BoothRig) -> None:
    let_in_by_camera(rig, VISITOR)
    correction = parse_correction({"temporary": "12", "monthly": " 40 "}, "  夜间清点  ")
    outcome = service.gate_controls.correct_lot(ENTRY, GUARD, "main", correction)
    assert outcome.done and outcome.action == "lot_correct"
    assert outcome.message_zh == "地下车库 车位数已校正：临时车位 余18/共30 · 月租 余20/共60 · " \
        "固定 余20/共20"
    # The gate journalled it with the guard and the reason, before it applied it.
    [event] = gate_journal(rig, ENTRY, "lot_corrected")
    assert (event["guard"], event["reason"]) == (GUARD, "夜间清点")
    assert event["occupied"] == {"temporary": 12, "monthly": 40}
    assert event["before"]["temporary"] == 1
    assert outcome.gate_seq is not None
    # The lane's lot.db holds it as the newest count, for its agent to carry to the others.
    lane = rig.gate_configs[ENTRY].lane
    assert lane is not None
    counts = LotCounts(lane.lot_db, ENTRY)
    try:
        base = counts.base("main")
    finally:
        counts.close()
    assert base is not None and (base.guard, base.reason) == (GUARD, "夜间清点")
    assert base.occupied[SpaceClass.TEMPORARY] == 12 and base.occupied[SpaceClass.MONTHLY] == 40
    # The booth recorded it like every control of the post: its table and its journal.
    [record] = journal_data(service.config.events_db, "gate_control")
    assert record["action"] == "lot_correct" and record["gate"] == ENTRY
    assert (record["guard"], record["reason"]) == (GUARD, "夜间清点")
    assert record["gate_seq"] == outcome.gate_seq
    assert record["result"]["corrected"] is True
    assert record["result"]["occupied"] == {"temporary": 12, "monthly": 40}
    assert [o.control_id for o in service.gate_controls.recent()] == [outcome.control_id]
    # The page's next look shows the new count and who made it.
    [lot] = service.car_park.view().lots
    assert lot.space_class("temporary") is not None
    assert lot.space_class("temporary").free == 18  # type: ignore[union-attr]
    assert lot.last_count is not None and lot.last_count.guard == GUARD


@pytest.mark.parametrize(("counts", "reason", "field", "message"), [
    ({"temporary": "十二"}, "清点", "occupied_temporary", "不是车辆数"),
    ({"temporary": "-1"}, "清点", "occupied_temporary", "不是车辆数"),
    ({"monthly": "3.5"}, "清点", "occupied_monthly", "不是车辆数"),
    ({"temporary": "", "monthly": " "}, "清点", "occupied", "至少填写一类"),
    ({"temporary": "3"}, "  ", "reason", "校正原因"),
])
def test_a_count_that_is_not_one_is_refused_before_anything_is_sent(
        counts: dict[str, str], reason: str, field: str, message: str) -> None:
    with pytest.raises(BoothRefusal) as refused:
        parse_correction(counts, reason)
    assert refused.value.field == field and message in refused.value.message_zh


def test_a_count_the_car_park_cannot_hold_is_refused_and_nothing_changes(
        service: BoothService, rig: BoothRig) -> None:
    with pytest.raises(BoothRefusal) as refused:
        service.gate_controls.correct_lot(ENTRY, GUARD, "main",
                                          parse_correction({"temporary": "300"}, "清点"))
    assert refused.value.field == "occupied_temporary"
    assert refused.value.message_zh == "临时车位共 30 个，已停车数不能超过 30"
    assert gate_journal(rig, ENTRY, "lot_corrected") == []
    # Recorded as tried and refused, like a control the gate refused.
    [record] = journal_data(service.config.events_db, "gate_control")
    assert record["action"] == "lot_correct" and record["result"]["reached"] is True
    assert not service.gate_controls.recent()[0].done


def test_a_count_sent_to_a_lane_that_does_not_answer_is_refused_and_recorded(
        service: BoothService, rig: BoothRig) -> None:
    stop_gate(rig.procs.pop(EXIT))
    # The page now shows the car park from the entry lane, and the exit lane as not saying.
    view = service.car_park.view()
    assert [lot.lane for lot in view.lots] == [ENTRY]
    assert [lane for lane, _zh, _en in view.unknown] == [EXIT]
    with pytest.raises(GateUnreachable) as refused:
        service.gate_controls.correct_lot(EXIT, GUARD, "main",
                                          parse_correction({"temporary": "3"}, "清点"))
    assert refused.value.message_zh == "门 停车场出口 的控制程序未运行，请联系维修"
    [record] = journal_data(service.config.events_db, "gate_control")
    assert record["result"]["reached"] is False and record["action"] == "lot_correct"
    # A count for the car park through a lane that is not one of it is refused too.
    with pytest.raises(BoothRefusal, match="counts no car park"):
        service.gate_controls.correct_lot("door-1", GUARD, "main",
                                          parse_correction({"temporary": "3"}, "清点"))


def test_lot_view_reads_a_class_the_car_park_has_no_spaces_of() -> None:
    view = lot_view(ENTRY, {"lot": "main", "name": "", "stale_lanes": [], "classes": {
        "temporary": {"occupied": 2, "spaces": None, "free": None}}})
    assert [(c.space_class, c.spaces, c.occupied) for c in view.classes] == [
        ("temporary", None, 2)]


# ------------------------------------------------------------------ the camera's temporary car


def test_a_temporary_car_let_in_by_the_camera_is_charged_from_its_camera_entry_time(
        service: BoothService, rig: BoothRig, clock: SettableClock) -> None:
    event = let_in_by_camera(rig, VISITOR)
    assert camera_entry_of(ENTRY, event) is not None
    # At the exit, the lane sends the car to the booth.
    rig.push_plate(EXIT, VISITOR)
    wait_for("the exit lane's answer", lambda: any(
        e["kind"] == "plate" and e["reason"] == "pay_at_booth"
        for e in rig.gate_call(EXIT, "events", n=20)))
    # Two hours and ten minutes later, by the booth's clock, the guard looks the plate up
    # (typed with a space, as guards do): the booth never recorded this car.
    clock.now = event["wall"] + 2 * 3600 + 600
    service.shifts.start(GUARD, "王保安", 10000)
    stay = service.parking.find_for_exit("粤A 88888", GUARD)
    assert stay.from_camera and stay.source == CAMERA_ENTRY
    assert (stay.plate, stay.entered_at, stay.gate, stay.gate_seq) == (
        VISITOR, event["wall"], ENTRY, event["seq"])
    quote = service.parking.quote(stay.ticket_id)
    expected = fee(event["wall"], clock.now, TARIFF, TZ)
    # 2 h 10 min from the camera's read (the tariff's day or night rate, by the hour now).
    assert quote.fee.minutes == 130 and quote.fee.fen == expected.fen > 0
    # Looked up again, it is the same stay (nothing recorded twice).
    assert service.parking.find_for_exit(VISITOR, GUARD).ticket_id == stay.ticket_id
    [entry] = journal_data(service.config.events_db, "parking_entry")
    assert entry == {"ticket_id": stay.ticket_id, "plate": VISITOR, "temp_card": "",
                     "entered_at": event["wall"], "gate": ENTRY, "guard": GUARD,
                     "forced_reason": "", "source": CAMERA_ENTRY, "gate_seq": event["seq"]}
    # Charged and let out as any stay: the exit lane opens for it.
    form = ExitForm.parse({"token": quote.token, "gate": EXIT, "ticket_id": stay.ticket_id,
                           "exited_at": repr(quote.exited_at),
                           "quoted_fen": str(quote.fee.fen), "paid": "50"}, TZ)
    exited = service.parking.charge(form, guard=GUARD, guard_name="王保安")
    assert exited.charge.entered_at == event["wall"] and exited.charge.fee_fen == expected.fen
    assert exited.charge.change_fen == 5000 - expected.fen
    assert exited.barrier is not None and exited.barrier.opened
    # Once charged, that camera entry is not charged again: the car has no entry left.
    with pytest.raises(BoothRefusal, match="no car 粤A88888 is in"):
        service.parking.find_for_exit(VISITOR, GUARD)


def test_a_plate_the_entry_lane_refused_or_never_saw_is_not_a_camera_entry(
        service: BoothService, rig: BoothRig) -> None:
    # A car the booth entered by hand is found as before, not from the camera.
    entered = service.parking.enter(guard=GUARD, gate=ENTRY, plate="粤B12345",
                                    with_card=False, forced_reason="")
    assert service.parking.find_for_exit("粤B12345", GUARD).ticket_id == entered.stay.ticket_id
    assert not entered.stay.from_camera
    with pytest.raises(BoothRefusal, match="no car 粤C00001 is in"):
        service.parking.find_for_exit("粤C00001", GUARD)
    # A granted read of a card's car (not a temporary car) is no camera entry.
    assert camera_entry_of(ENTRY, {"kind": "plate", "granted": True, "uid": "0B0B0B0B",
                                   "seq": 3, "wall": 1.0,
                                   "data": {"plate": "粤B54321", "flags": []}}) is None
    assert camera_entry_of(ENTRY, {"kind": "plate", "granted": False, "uid": None, "seq": 4,
                                   "wall": 1.0, "data": {"plate": "粤B54321"}}) is None


def test_with_the_entry_lane_down_the_guard_is_told_why_no_entry_was_found(
        service: BoothService, rig: BoothRig) -> None:
    stop_gate(rig.procs.pop(ENTRY))
    with pytest.raises(BoothRefusal) as refused:
        service.parking.find_for_exit(VISITOR, GUARD)
    assert "入口车道 停车场入口 未应答" in refused.value.message_zh


def test_lanes_in_no_car_park_show_nothing_of_it(rig: BoothRig) -> None:
    # The rig's lanes as installed before any car park was set at the desk.
    rig.start_gates()
    rig.publish(booth_list(1))
    built = rig.service()
    try:
        view = built.car_park.view()
        assert view.lots == () and view.unknown == () and not view.has_lanes
        with pytest.raises(BoothRefusal, match="in no car park"):
            built.car_park.ask(ENTRY)
    finally:
        built.close()
