"""The car-park lane in a real gate (issue 12): presence and counts on passage, plates as
credentials, temporary cars and a full lot, the display, guard opens and timed modes; on
real SQLite files, gpiozero MockFactory pins and the simulated arm and vehicles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import edge.lane_messages
import edge.lot_counts
from edge.cards import parse_schedule
from edge.decision import Flag, Reason
from edge.lane_messages import LaneOutcome
from edge.site_rules import Lot, SiteRules, SpaceClass, TimedMode, TimedModeKind
from tests.edge.lane_rig import (
    LOST_PLATE,
    MONTHLY,
    MONTHLY_PLATE,
    OTHER_PLATE,
    SITE,
    STAFF,
    STAFF_PLATE,
    LaneRig,
    card,
    lane_doc,
    make_lane_fixture,  # noqa: F401 - the fixture make_lane
    monthly_right,
    write_rules,
)

LaneMaker = Callable[..., LaneRig]


def rules(*, lots: tuple[Lot, ...] = (), timed: tuple[TimedMode, ...] = ()) -> SiteRules:
    """Site rules of the test site, version 1."""
    return SiteRules(site=SITE, version=1, issued_at=1.0, lots=lots, timed_modes=timed)


def lot(device: str, temporary: int, monthly: int = 10) -> Lot:
    """A car park counted by ``device``."""
    return Lot("main", "地面停车场", (device,), {SpaceClass.FIXED: 5,
                                               SpaceClass.MONTHLY: monthly,
                                               SpaceClass.TEMPORARY: temporary})


# ------------------------------------------------------- anti-passback on passage


def test_a_car_that_taps_and_backs_out_is_not_inside_and_can_tap_again(
        make_lane: LaneMaker, tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in"))
    rig.lane.vehicle_arrives()
    assert rig.gate.handle_tap(STAFF).granted
    rig.run_until(lambda: rig.barrier_state() == "open")
    assert rig.gate.status()["lane"]["credits_pending"] == [  # type: ignore[index]
        {"uid": STAFF, "space_class": "monthly"}]
    rig.back_out()
    rig.run_until(lambda: rig.barrier_state() == "closed")
    assert rig.events("vehicle_counted") == []
    assert rig.gate.status()["lane"]["credits_pending"] == []  # type: ignore[index]
    # Not marked inside: the driver comes round again and is let in.
    rig.lane.vehicle_arrives()
    again = rig.gate.handle_tap(STAFF)
    assert again.granted and again.reason is Reason.GRANTED


def test_a_car_that_drives_through_is_inside_and_counted(make_lane: LaneMaker,
                                                         tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in"))
    rig.lane.vehicle_arrives()
    assert rig.gate.handle_tap(STAFF).granted
    # Granted but not passed yet: not inside.
    assert rig.gate.storage.is_inside(STAFF, rig.gate.clock.wall()) is False
    rig.drive_through()
    [counted] = rig.events("vehicle_counted")
    assert counted.data == {"uid": STAFF, "space_class": "monthly", "entering": True,
                            "credited": True, "lot": None, "counted": False}
    assert rig.gate.storage.is_inside(STAFF, rig.gate.clock.wall()) is True
    assert rig.gate.handle_tap(STAFF).reason is Reason.ANTI_PASSBACK


def test_two_grants_two_cars_each_credential_in_order(make_lane: LaneMaker,
                                                      tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in"))
    rig.lane.vehicle_arrives()
    rig.lane.vehicle_arrives()
    assert rig.gate.handle_tap(STAFF).granted
    assert rig.gate.handle_tap(MONTHLY).granted
    rig.drive_through()
    rig.drive_through()
    assert [e.data.get("uid") for e in rig.events("vehicle_counted")] == [STAFF, MONTHLY]


def test_credits_lapsing_at_max_open_drop_their_credentials(make_lane: LaneMaker,
                                                            tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in"))
    assert rig.gate.handle_tap(STAFF).granted  # and nobody comes
    rig.run_until(lambda: rig.barrier_state() == "closed" and bool(rig.events("credit_lapsed")),
                  timeout=90)
    assert rig.events("credit_lapsed")[0].data == {"uid": STAFF, "space_class": "monthly"}
    assert rig.gate.status()["lane"]["credits_pending"] == []  # type: ignore[index]
    # A tailgater later is a temporary car, never the lapsed card.
    rig.gate.set_local_mode("hold_open", "wang", "delivery")
    rig.run_until(lambda: rig.barrier_state() == "open")
    rig.lane.vehicle_arrives()
    rig.drive_through()
    assert rig.events("vehicle_counted")[-1].data["space_class"] == "temporary"
    assert rig.events("vehicle_counted")[-1].data["credited"] is False


def test_a_guards_open_lets_a_temporary_car_through(make_lane: LaneMaker,
                                                    tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in"))
    rig.lane.vehicle_arrives()
    rig.gate.manual_open("wang", "visitor paid")
    assert rig.gate.last_manual_open_worked
    rig.drive_through()
    [counted] = rig.events("vehicle_counted")
    assert counted.data["space_class"] == "temporary" and counted.data["credited"] is True
    assert "uid" not in counted.data


# ------------------------------------------------------------------ plates


def test_a_plate_flood_opens_once(make_lane: LaneMaker, tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in", credentials="plate"))
    rig.lane.vehicle_arrives()
    outcomes = []
    for _ in range(20):
        outcomes.append(rig.plate(STAFF_PLATE))
        rig.run(0.1)
    assert outcomes[0] is not None and outcomes[0].granted
    assert outcomes[1:] == [None] * 19
    assert rig.credits() == 1
    [plate] = rig.events("plate")
    assert plate.uid == STAFF and plate.granted and plate.reason == "granted"
    assert plate.data["plate"] == STAFF_PLATE and plate.data["match"] == "exact"
    assert plate.data["camera"] == "cam-1" and plate.data["confidence"] == 95
    assert rig.gate.status()["lane"]["plate_repeats"] == 19  # type: ignore[index]
    raises = [e for e in rig.events("barrier_state") if e.data["to"] == "opening"]
    assert len(raises) == 1
    rig.drive_through()
    assert rig.events("vehicle_counted")[0].data["uid"] == STAFF


def test_a_plate_only_lane_opens_for_a_known_plate_and_journals_before_the_relay(
        make_lane: LaneMaker, tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in", credentials="plate"))
    seen: list[list[str]] = []

    def on_output(pin: str, high: bool, _mono: float) -> None:
        if pin == "GPIO5" and high:
            seen.append([e.kind for e in rig.gate.journal.read()])

    rig.factory.observers.append(on_output)
    outcome = rig.plate(MONTHLY_PLATE)
    assert outcome is not None and outcome.granted and outcome.uid == MONTHLY
    assert seen and seen[0][-1] == "plate"
    # Refusals: a lost card's plate, a read the camera is unsure of, a plate on no card.
    lost = rig.plate(LOST_PLATE)
    assert lost is not None and lost.reason is Reason.LOST
    unsure = rig.plate(OTHER_PLATE, confidence=40)
    assert unsure is not None and unsure.reason is Reason.PLATE_LOW_CONFIDENCE
    unknown = rig.plate(OTHER_PLATE)
    assert unknown is not None and unknown.reason is Reason.PLATE_UNKNOWN
    assert [(e.granted, e.reason) for e in rig.events("plate")] == [
        (True, "granted"), (False, "lost"), (False, "plate_low_confidence"),
        (False, "plate_unknown")]


def test_a_card_only_lane_journals_its_cameras_reads_and_opens_nothing(
        make_lane: LaneMaker, tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in", credentials="card"))
    outcome = rig.plate(STAFF_PLATE)
    assert outcome is not None and not outcome.granted
    [plate] = rig.events("plate")
    assert plate.granted is None and plate.data["opens"] is False
    assert plate.data["decision"] == "granted" and plate.uid == STAFF
    assert rig.credits() == 0


def test_an_unknown_plate_is_a_temporary_car_where_admitted(make_lane: LaneMaker,
                                                            tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in", credentials="card_or_plate",
                             admit_temporary=True))
    rig.lane.vehicle_arrives()
    outcome = rig.plate(OTHER_PLATE)
    assert outcome is not None and outcome.granted
    [plate] = rig.events("plate")
    assert plate.uid is None and plate.data["flags"] == [Flag.AS_TEMPORARY.value]
    assert plate.data["space_class"] == "temporary"
    rig.drive_through()
    [counted] = rig.events("vehicle_counted")
    assert counted.data["plate"] == OTHER_PLATE and counted.data["space_class"] == "temporary"


def test_an_unknown_plate_at_the_exit_pays_at_the_booth(make_lane: LaneMaker,
                                                        tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "out", "barrier_exit", credentials="card_or_plate",
                             apb="off"))
    outcome = rig.plate(OTHER_PLATE)
    assert outcome is not None and outcome.reason is Reason.PAY_AT_BOOTH
    # edge.lane_messages' text (looked up at run time, as the lane does).
    assert rig.shown() == edge.lane_messages.message_for(LaneOutcome(
        False, Reason.PAY_AT_BOOTH, False, plate=OTHER_PLATE)).lines


def test_card_and_plate_must_be_one_car(make_lane: LaneMaker, tmp_path: Path) -> None:
    rig = make_lane(lane_doc(tmp_path / "in", credentials="card_and_plate",
                             pair_window="15s"))
    # The card first: alone it is refused as incomplete, then the wrong car's plate.
    first = rig.gate.handle_tap(STAFF)
    assert not first.granted and first.reason is Reason.PAIR_INCOMPLETE
    mismatch = rig.plate(MONTHLY_PLATE)
    assert mismatch is not None and mismatch.reason is Reason.PLATE_MISMATCH
    assert mismatch.uid == STAFF and rig.credits() == 0
    # The plate first, then its own card within the window: one card, one car.
    rig.run(20)  # past the plate window too
    assert rig.plate(STAFF_PLATE) is not None
    rig.run(3)
    paired = rig.gate.handle_tap(STAFF)
    assert paired.granted and rig.credits() == 1
    [tap] = [e for e in rig.events("tap") if e.seq == paired.seq]
    assert tap.data["pair"] == {"plate": STAFF_PLATE, "camera": "cam-1"}
    # A card whose plate came longer ago than the window is incomplete again.
    rig.run(30)
    assert rig.plate(MONTHLY_PLATE) is not None
    rig.run(16)
    assert rig.gate.handle_tap(MONTHLY).reason is Reason.PAIR_INCOMPLETE


# --------------------------------------------------------------------- the lot


def test_a_full_lot_refuses_a_temporary_car_and_admits_a_monthly_one(
        make_lane: LaneMaker, tmp_path: Path) -> None:
    doc = lane_doc(tmp_path / "in", credentials="card_or_plate", admit_temporary=True)
    device = doc["device"]["id"]
    write_rules(tmp_path / "in", rules(lots=(lot(device, temporary=2),)))
    rig = make_lane(doc)
    # Two temporary cars are in already (as the lane's counts say).
    # Looked up at run time: H3's LotCounts, or the stand-in until it is merged.
    counts = edge.lot_counts.LotCounts(rig.config.lane.lot_db, device)
    try:
        counts.record_passage(True, SpaceClass.TEMPORARY, 1.0)
        counts.record_passage(True, SpaceClass.TEMPORARY, 2.0)
    finally:
        counts.close()
    refused = rig.plate(OTHER_PLATE)
    assert refused is not None and refused.reason is Reason.LOT_FULL
    rig.lane.vehicle_arrives()
    monthly = rig.plate(MONTHLY_PLATE)
    assert monthly is not None and monthly.granted
    rig.drive_through()
    lane = rig.gate.status()["lane"]
    assert lane["lot"]["occupied"]["monthly"] == 1  # type: ignore[index]
    assert lane["lot"]["free"]["temporary"] == 0  # type: ignore[index]
    assert rig.events("vehicle_counted")[0].data["counted"] is True


def test_an_expired_monthly_card_let_in_as_temporary_meets_a_full_lot(
        make_lane: LaneMaker, tmp_path: Path) -> None:
    lapsed = card("0C0C0C0C", plate="粤C11111",
                  parking=(monthly_right("粤C11111", date(2021, 1, 31)),))
    doc = lane_doc(tmp_path / "in")
    device = doc["device"]["id"]
    from edge.site_rules import ExpiredPolicy, ParkingPolicy

    write_rules(tmp_path / "in", SiteRules(
        site=SITE, version=1, issued_at=1.0, lots=(lot(device, temporary=0),),
        parking={"floating": ParkingPolicy(ExpiredPolicy.TEMPORARY)}))
    rig = make_lane(doc, cards=(lapsed,))
    assert rig.gate.handle_tap("0C0C0C0C").reason is Reason.LOT_FULL


# ----------------------------------------------------------------- display


def test_the_display_shows_each_decision_then_the_idle_text(make_lane: LaneMaker,
                                                            tmp_path: Path) -> None:
    doc = lane_doc(tmp_path / "in")
    doc["display"] = {"path": "/dev/null", "idle_text": "欢迎光临 花园小区"}
    write_rules(tmp_path / "in", rules(lots=(lot(doc["device"]["id"], temporary=7),)))
    rig = make_lane(doc)
    # edge.lane_messages' texts (looked up at run time, as the lane does).
    idle = edge.lane_messages.idle_message("欢迎光临 花园小区", 7).lines
    lost = edge.lane_messages.message_for(LaneOutcome(
        False, Reason.LOST, True, plate=LOST_PLATE, free_temporary=7))
    assert rig.shown() == idle
    rig.gate.handle_tap("0A0B0C0D")
    assert rig.shown() == lost.lines and rig.display.shown[-1].voice == lost.voice
    rig.run(lost.hold_s - 1)
    assert rig.shown() == lost.lines
    rig.run(2)
    assert rig.shown() == idle


# ------------------------------------------------------------------ timed modes


ALWAYS = "Mon-Sun 00:00-24:00; Hol 00:00-24:00"


def test_a_timed_monthly_only_window_refuses_temporary_cars(make_lane: LaneMaker,
                                                            tmp_path: Path) -> None:
    doc = lane_doc(tmp_path / "in", credentials="plate", admit_temporary=True)
    device = doc["device"]["id"]
    rig = make_lane(doc)
    assert rig.plate(OTHER_PLATE) is not None  # admitted: no window yet
    write_rules(tmp_path / "in", rules(timed=(TimedMode(
        device, parse_schedule(ALWAYS), TimedModeKind.MONTHLY_ONLY),)))
    rig.run(1.5)  # the storage tick reads the new rules
    assert rig.gate.status()["timed_modes"] == ["monthly_only"]
    [event] = rig.events("timed_mode")
    assert event.data == {"mode": "monthly_only", "active": True, "standing_mode": "normal"}
    rig.run(11)  # past the plate window
    refused = rig.plate(OTHER_PLATE)
    assert refused is not None and refused.reason is Reason.MONTHLY_ONLY
    monthly = rig.plate(MONTHLY_PLATE)
    assert monthly is not None and monthly.granted


def test_a_timed_hold_open_raises_the_arm_unless_a_standing_mode_is_set(
        make_lane: LaneMaker, tmp_path: Path) -> None:
    doc = lane_doc(tmp_path / "in")
    device = doc["device"]["id"]
    rig = make_lane(doc)
    rig.gate.set_local_mode("lockdown", "wang", "incident")
    write_rules(tmp_path / "in", rules(timed=(TimedMode(
        device, parse_schedule(ALWAYS), TimedModeKind.HOLD_OPEN),)))
    rig.run(3)
    assert rig.gate.timed_modes == {TimedModeKind.HOLD_OPEN}
    assert rig.barrier_state() == "closed"  # the guard's lockdown stands
    rig.gate.set_local_mode("normal", "wang", "incident over")
    rig.run_until(lambda: rig.barrier_state() == "open")
    assert rig.gate.actuator.status()["hold_open"] is True
    # The window removed (the desk changed the rules): the arm works normally again.
    write_rules(tmp_path / "in", SiteRules(site=SITE, version=2, issued_at=2.0))
    rig.run(1.5)
    assert rig.gate.actuator.status()["hold_open"] is False
    assert [e.data["active"] for e in rig.events("timed_mode")] == [True, False]
