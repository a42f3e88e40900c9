"""Temporary parking at the booth (rule P6) over real files and real gate processes: entries
by plate, by pool card and forced; exits paying the tariff's fee in cash within the shift,
waived or with a lost ticket; exactly one charge per token; gap-free receipts; the shift's
cash; the barriers opened through the gates and reported truthfully."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from booth.parking import ExitForm, Parking, normal_plate
from booth.parking_tariff import local_moment
from booth.refusals import BoothRefusal
from booth.service import BoothService
from tests.booth.booth_rig import BoothRig, SettableClock, booth_list, journal_data

TZ = "Asia/Shanghai"
ENTRY, EXIT = "lane-barrier_entry", "lane-barrier_exit"
GUARD, GUARD_NAME = "wang.guard", "王保安"


def at(clock: str, day: date = date(2026, 12, 3)) -> float:
    """Site-local ``HH:MM`` on ``day``."""
    return local_moment(day, clock, TZ)


@pytest.fixture
def clock() -> SettableClock:
    """09:00 on 3 Dec 2026 at the booth."""
    return SettableClock(at("09:00"))


@pytest.fixture
def service(rig: BoothRig, clock: SettableClock) -> Iterator[BoothService]:
    """The booth over the rig with its gates running and a shift open."""
    rig.start_gates()
    rig.publish(booth_list(1))
    assert rig.config is not None
    built = BoothService(rig.config, clock)
    built.shifts.start(GUARD, GUARD_NAME, 10000)
    try:
        yield built
    finally:
        built.close()


def exit_form(parking: Parking, ticket_id: str | None, **fields: str) -> ExitForm:
    """The exit form as the exit screen of ``ticket_id`` posts it."""
    quote = parking.quote(ticket_id)
    posted = {"token": quote.token, "gate": EXIT, "ticket_id": ticket_id or "",
              "exited_at": repr(quote.exited_at), "quoted_fen": str(quote.fee.fen), **fields}
    return ExitForm.parse(posted, TZ)


def enter(service: BoothService, plate: str = "粤B12345", **kw: Any) -> str:
    """A car enters at the entry lane; its ticket id."""
    args: dict[str, Any] = {"guard": GUARD, "gate": ENTRY, "plate": plate, "with_card": False,
                            "forced_reason": "", **kw}
    entered = service.parking.enter(**args)
    return entered.stay.ticket_id


def test_plates_are_kept_upper_case_without_spaces_dots_or_dashes() -> None:
    assert normal_plate(" 粤b 12345 ") == "粤B12345"
    assert normal_plate("粤B·D1234-5") == "粤BD12345"
    assert normal_plate("") == ""
    with pytest.raises(BoothRefusal, match="not a plate"):
        normal_plate("粤B<script>")


def test_a_car_enters_by_plate_recorded_then_the_barrier_opens(
        service: BoothService, rig: BoothRig) -> None:
    entered = service.parking.enter(guard=GUARD, gate=ENTRY, plate="粤b 12345",
                                    with_card=False, forced_reason="")
    assert entered.stay.plate == "粤B12345" and entered.stay.entered_at == at("09:00")
    assert entered.barrier.opened, entered.barrier.message_en
    [event] = booth_events(service, "parking_entry")
    assert event == {"ticket_id": entered.stay.ticket_id, "plate": "粤B12345", "temp_card": "",
                     "entered_at": at("09:00"), "gate": ENTRY, "guard": GUARD,
                     "forced_reason": ""}
    opens = gate_events(rig, ENTRY, "manual_open")
    assert [(o["guard"], o["reason"]) for o in opens] == [(GUARD, "临时车入场")]
    assert [s.plate for s in service.parking.cars_in()] == ["粤B12345"]
    with pytest.raises(BoothRefusal, match="already in"):
        enter(service, "粤B 12345")


def test_entry_reports_truthfully_when_the_gate_is_down(service: BoothService,
                                                        rig: BoothRig) -> None:
    rig.stop_gates()
    entered = service.parking.enter(guard=GUARD, gate=ENTRY, plate="粤B00001",
                                    with_card=False, forced_reason="")
    assert not entered.barrier.opened
    assert "未抬起" in entered.barrier.message_zh
    # The car's entry is recorded all the same (the guard may lift the arm by hand).
    assert len(booth_events(service, "parking_entry")) == 1


def test_entry_only_at_an_entry_lane_of_the_post(service: BoothService) -> None:
    with pytest.raises(BoothRefusal, match="entry lane"):
        enter(service, gate=EXIT)
    with pytest.raises(BoothRefusal, match="entry lane"):
        enter(service, gate="door-1")


def test_pool_cards_are_handed_out_in_order_and_returned_at_exit(service: BoothService) -> None:
    parking = service.parking
    for number in ("t002", "T001"):
        parking.add_card(number, GUARD)
    with pytest.raises(BoothRefusal, match="already in the pool"):
        parking.add_card("T 001", GUARD)
    assert [e["card"] for e in booth_events(service, "parking_card_added")] == ["T002", "T001"]
    first = parking.enter(guard=GUARD, gate=ENTRY, plate="", with_card=True, forced_reason="")
    second = parking.enter(guard=GUARD, gate=ENTRY, plate="", with_card=True, forced_reason="")
    assert (first.stay.temp_card, second.stay.temp_card) == ("T001", "T002")
    with pytest.raises(BoothRefusal, match="no free temporary card"):
        parking.enter(guard=GUARD, gate=ENTRY, plate="", with_card=True, forced_reason="")
    assert parking.find_in("t001").ticket_id == first.stay.ticket_id
    parking.charge(exit_form(parking, first.stay.ticket_id, paid="0"), guard=GUARD,
                   guard_name=GUARD_NAME)
    assert dict(parking.cards()) == {"T001": "", "T002": second.stay.ticket_id}
    third = parking.enter(guard=GUARD, gate=ENTRY, plate="", with_card=True, forced_reason="")
    assert third.stay.temp_card == "T001"


def test_a_forced_entry_needs_a_reason(service: BoothService) -> None:
    with pytest.raises(BoothRefusal) as refused:
        enter(service, plate="")
    assert refused.value.field == "forced_reason"
    assert booth_events(service, "parking_entry") == []
    ticket = enter(service, plate="", forced_reason="无牌车 送货")
    assert booth_events(service, "parking_entry")[0]["forced_reason"] == "无牌车 送货"
    assert service.parking.stay(ticket) is not None


def test_an_exit_pays_the_tariffs_fee_in_cash_with_change_and_a_receipt(
        service: BoothService, rig: BoothRig, clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("11:10")
    # 2 h 10 min by day: three started hours at 5 yuan.
    form = exit_form(service.parking, ticket, paid="20")
    assert form.quoted_fen == 1500
    exited = service.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)
    charge = exited.charge
    assert (charge.fee_fen, charge.paid_fen, charge.change_fen, charge.cash_fen) == (
        1500, 2000, 500, 1500)
    assert charge.receipt_no == "booth-east-000001" and charge.minutes == 130
    assert exited.barrier is not None and exited.barrier.opened and not exited.repeated
    shift = service.shifts.require_current()
    assert service.parking.cash_in_shift(shift.shift_id) == (1, 1500)
    money = service.shifts.money(shift)
    assert (money.charges, money.cash_fen) == (1, 1500)
    [event] = booth_events(service, "parking_charge")
    assert {k: event[k] for k in ("ticket_id", "plate", "entered_at", "exited_at", "fee_fen",
                                  "paid_fen", "change_fen", "waived_reason", "lost_ticket",
                                  "receipt_no", "shift_id", "guard")} == {
        "ticket_id": ticket, "plate": "粤B12345", "entered_at": at("09:00"),
        "exited_at": at("11:10"), "fee_fen": 1500, "paid_fen": 2000, "change_fen": 500,
        "waived_reason": "", "lost_ticket": False, "receipt_no": "booth-east-000001",
        "shift_id": shift.shift_id, "guard": GUARD}
    assert service.parking.cars_in() == []
    opens = gate_events(rig, EXIT, "manual_open")
    assert [(o["guard"], o["reason"]) for o in opens] == [(GUARD, "临时车出场 booth-east-000001")]


def test_not_enough_cash_is_refused_and_nothing_recorded(service: BoothService,
                                                         clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("11:10")
    with pytest.raises(BoothRefusal) as refused:
        service.parking.charge(exit_form(service.parking, ticket, paid="14.99"), guard=GUARD,
                               guard_name=GUARD_NAME)
    assert refused.value.field == "paid" and "应收 ¥15.00" in refused.value.message_zh
    assert booth_events(service, "parking_charge") == []
    assert len(service.parking.cars_in()) == 1
    with pytest.raises(BoothRefusal, match="not an amount"):
        exit_form(service.parking, ticket, paid="二十")
    with pytest.raises(BoothRefusal, match="2 decimals"):
        exit_form(service.parking, ticket, paid="20.001")


def test_cash_is_only_taken_within_a_shift(rig: BoothRig, clock: SettableClock) -> None:
    rig.start_gates()
    rig.publish(booth_list(1))
    assert rig.config is not None
    service = BoothService(rig.config, clock)
    try:
        ticket = enter(service)
        clock.now = at("10:00")
        with pytest.raises(BoothRefusal, match="no shift is open"):
            service.parking.charge(exit_form(service.parking, ticket, paid="5"), guard=GUARD,
                                   guard_name=GUARD_NAME)
        assert booth_events(service, "parking_charge") == []
    finally:
        service.close()


def test_a_waived_fee_needs_a_reason_and_takes_no_cash(service: BoothService,
                                                       clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("12:00")
    exited = service.parking.charge(exit_form(service.parking, ticket, waived_reason="救护车"),
                                    guard=GUARD, guard_name=GUARD_NAME)
    assert (exited.charge.fee_fen, exited.charge.paid_fen, exited.charge.cash_fen) == (
        1500, 0, 0)
    assert exited.charge.waived_reason == "救护车"
    shift = service.shifts.require_current()
    assert service.parking.cash_in_shift(shift.shift_id) == (1, 0)


def test_a_lost_ticket_needs_a_reason_and_pays_the_cap_or_from_the_entry_time_given(
        service: BoothService, clock: SettableClock) -> None:
    clock.now = at("18:00")
    with pytest.raises(BoothRefusal) as refused:
        service.parking.charge(exit_form(service.parking, None, lost_plate="粤A99999",
                                         paid="40"), guard=GUARD, guard_name=GUARD_NAME)
    assert refused.value.field == "lost_reason"
    unknown = service.parking.charge(
        exit_form(service.parking, None, lost_plate="粤A99999", paid="40",
                  lost_reason="遗失临时卡 入场时间不详"), guard=GUARD, guard_name=GUARD_NAME)
    assert unknown.charge.fee_fen == 4000 and unknown.charge.lost_ticket
    quote = service.parking.quote(None, lost_entered_at=at("16:30"))
    known = service.parking.charge(ExitForm.parse(
        {"token": quote.token, "gate": EXIT, "exited_at": repr(quote.exited_at),
         "quoted_fen": str(quote.fee.fen), "paid": "10", "lost_reason": "遗失票",
         "lost_entered_at": "2026-12-03T16:30", "lost_plate": "粤A88888"}, TZ),
        guard=GUARD, guard_name=GUARD_NAME)
    # 16:30-18:00: two started hours by day.
    assert known.charge.fee_fen == 1000 and known.charge.entered_at == at("16:30")
    assert [e["lost_ticket"] for e in booth_events(service, "parking_charge")] == [True, True]


def test_a_lost_ticket_entered_after_the_exit_is_refused(service: BoothService,
                                                         clock: SettableClock) -> None:
    clock.now = at("10:00")
    with pytest.raises(BoothRefusal, match="exit is before the entry"):
        service.parking.quote(None, lost_entered_at=at("11:00"))


def test_the_same_token_twice_is_one_charge_and_the_same_receipt(
        service: BoothService, rig: BoothRig, clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("10:30")
    form = exit_form(service.parking, ticket, paid="10")
    first = service.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)
    again = service.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)
    assert again.repeated and again.barrier is None
    assert again.charge == first.charge
    assert len(booth_events(service, "parking_charge")) == 1
    assert len(gate_events(rig, EXIT, "manual_open")) == 1
    # A second exit screen of the same car (a new token) is refused: it has left.
    with pytest.raises(BoothRefusal, match=r"left already|never entered"):
        exit_form(service.parking, ticket, paid="10")


def test_a_second_screen_of_a_car_that_left_meanwhile_is_refused(
        service: BoothService, clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("10:30")
    one, two = (exit_form(service.parking, ticket, paid="10") for _ in range(2))
    service.parking.charge(one, guard=GUARD, guard_name=GUARD_NAME)
    with pytest.raises(BoothRefusal, match="has left already"):
        service.parking.charge(two, guard=GUARD, guard_name=GUARD_NAME)
    assert len(booth_events(service, "parking_charge")) == 1


def test_receipt_numbers_follow_each_other_without_gaps(service: BoothService,
                                                        clock: SettableClock) -> None:
    tickets = [enter(service, f"粤B1000{i}") for i in range(3)]
    clock.now = at("09:10")
    stale = exit_form(service.parking, tickets[0], paid="0")
    numbers = [service.parking.charge(exit_form(service.parking, t, paid="0"), guard=GUARD,
                                      guard_name=GUARD_NAME).charge.receipt_no
               for t in tickets[:1]]
    # A charge refused inside its transaction (the car left meanwhile) takes no number.
    with pytest.raises(BoothRefusal, match="has left already"):
        service.parking.charge(stale, guard=GUARD, guard_name=GUARD_NAME)
    numbers += [service.parking.charge(exit_form(service.parking, t, paid="0"), guard=GUARD,
                                       guard_name=GUARD_NAME).charge.receipt_no
                for t in tickets[1:]]
    assert numbers == ["booth-east-000001", "booth-east-000002", "booth-east-000003"]


def test_a_fee_that_changed_since_the_screen_was_shown_is_refused(
        service: BoothService, clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("09:50")
    quote = service.parking.quote(ticket)
    form = ExitForm.parse({"token": quote.token, "gate": EXIT, "ticket_id": ticket,
                           "exited_at": repr(quote.exited_at), "quoted_fen": "0",
                           "paid": "5"}, TZ)
    with pytest.raises(BoothRefusal, match="the fee is now"):
        service.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)


def test_an_exit_screen_left_open_too_long_is_priced_again(
        service: BoothService, clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("09:50")
    form = exit_form(service.parking, ticket, paid="5")
    clock.now = at("10:30")
    with pytest.raises(BoothRefusal, match="too old"):
        service.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)


def test_the_charges_survive_a_restart(rig: BoothRig, service: BoothService,
                                       clock: SettableClock) -> None:
    ticket = enter(service)
    clock.now = at("10:30")
    form = exit_form(service.parking, ticket, paid="10")
    first = service.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)
    service.close()
    assert rig.config is not None
    again = BoothService(rig.config, clock)
    try:
        repeated = again.parking.charge(form, guard=GUARD, guard_name=GUARD_NAME)
        assert repeated.repeated and repeated.charge == first.charge
        shift = again.shifts.require_current()
        assert again.parking.cash_in_shift(shift.shift_id) == (1, 1000)
    finally:
        again.close()


def test_a_charge_that_takes_the_float_over_the_limit_alarms_once_until_paid_in(
        service: BoothService, rig: BoothRig, clock: SettableClock) -> None:
    # The float opened at 100 yuan; the desk's limit here is 110 (600 on a real site).
    rig.publish(booth_list(2, float_limit_fen=11_000))

    def car_pays(plate: str) -> None:
        ticket = enter(service, plate)
        clock.now += 2 * 3600 + 600  # three started hours by day: 15 yuan
        service.parking.charge(exit_form(service.parking, ticket, paid="15"), guard=GUARD,
                               guard_name=GUARD_NAME)

    car_pays("粤B00001")  # 115 yuan in the drawer: over
    car_pays("粤B00002")  # 130: still the same crossing, no second alarm
    alarms = booth_events(service, "float_over_limit")
    assert [(a["float_fen"], a["limit_fen"]) for a in alarms] == [(11_500, 11_000)]
    assert service.shifts.float_alarm() is not None
    service.shifts.pay_in(GUARD, 1_000)  # 120 left: still over, raised again for the desk
    assert [a["float_fen"] for a in booth_events(service, "float_over_limit")] == [
        11_500, 12_000]
    service.shifts.pay_in(GUARD, 1_500)  # 105: under the limit, the alarm ends
    assert service.shifts.float_alarm() is None
    assert booth_events(service, "float_paid_in")[-1]["float_fen"] == 10_500
    car_pays("粤B00003")  # 120 again: a new crossing, a new alarm
    assert [a["float_fen"] for a in booth_events(service, "float_over_limit")] == [
        11_500, 12_000, 12_000]
    conn = sqlite3.connect(service.config.events_db)
    try:
        assert conn.execute("SELECT count(*) FROM events WHERE kind = 'float_over_limit' "
                            "AND alarm = 1").fetchone() == (3,)
    finally:
        conn.close()


def booth_events(service: BoothService, kind: str) -> list[dict[str, Any]]:
    """The booth journal's events of ``kind``, oldest first."""
    return journal_data(service.config.events_db, kind)


def gate_events(rig: BoothRig, gate: str, kind: str) -> list[dict[str, Any]]:
    """A gate's own journal events of ``kind``."""
    return journal_data(rig.gate_configs[gate].events_db, kind)
