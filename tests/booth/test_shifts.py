"""Shifts at the booth (rule P6): start with an opening float typed in yuan, the float
counts the cash of the shift's charges and what was paid in, handover with both guards
signed in closes one shift and opens the next in one transaction, a float over the limit
raises the alarm, and a payment in to the desk clears it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from booth.refusals import BoothRefusal
from booth.service import BoothService
from booth.shifts import parse_invoices, parse_yuan
from booth.sign_in import MAX_FAILURES, SignInRefused, SignInThrottled
from tests.booth.booth_rig import GUARDS, PASSWORD, BoothRig, SettableClock, booth_list
from tests.booth.test_sign_in import events

WANG, LI = GUARDS[0], GUARDS[1]


@pytest.fixture
def service(rig: BoothRig) -> Iterator[BoothService]:
    """A booth over the rig's files with the desk's list (limit 600 yuan)."""
    assert rig.config is not None
    rig.publish(booth_list(1))
    built = BoothService(rig.config, clock=SettableClock())
    try:
        yield built
    finally:
        built.close()


@pytest.mark.parametrize(("typed", "fen"), [("200", 20000), ("200.5", 20050),
                                            ("200.50", 20050), ("¥1,000", 100000),
                                            ("0", 0), (" 35元 ", 3500), ("0.01", 1)])
def test_amounts_are_typed_in_yuan(typed: str, fen: int) -> None:
    assert parse_yuan(typed, "f") == fen


@pytest.mark.parametrize(("typed", "said"), [("", "请填写金额"), ("-5", "不是有效金额"),
                                             ("2.005", "不是有效金额"), ("abc", "不是有效金额"),
                                             ("1e3", "不是有效金额"), ("99999999", "不是有效金额"),
                                             ("2000000", "不能超过")])
def test_bad_amounts_are_refused_clearly(typed: str, said: str) -> None:
    with pytest.raises(BoothRefusal) as refused:
        parse_yuan(typed, "opening_float")
    assert said in refused.value.message_zh
    assert refused.value.field == "opening_float"


def test_invoices_are_a_whole_number() -> None:
    assert parse_invoices(" 3 ", "invoices") == 3
    for bad in ("", "2.5", "-1", "三"):
        with pytest.raises(BoothRefusal):
            parse_invoices(bad, "invoices")


def test_a_shift_counts_its_cash_sources_and_payments_in(service: BoothService) -> None:
    shift_id = service.shifts.start(WANG.username, WANG.name, 20000)
    shift = service.shifts.require_current()
    assert service.shifts.money(shift).float_fen == 20000
    service.shifts.add_cash_source(lambda sid: (3, 4500) if sid == shift_id else (0, 0))
    service.shifts.add_cash_source(lambda sid: (1, 500))
    money = service.shifts.money(shift)
    assert (money.charges, money.cash_fen, money.float_fen) == (4, 5000, 25000)
    assert service.shifts.pay_in(WANG.username, 5000) == 20000
    with pytest.raises(BoothRefusal, match="more than the float"):
        service.shifts.pay_in(WANG.username, 20001)
    assert service.shifts.money(shift).float_fen == 20000


def test_handover_closes_one_shift_and_opens_the_next_in_one_go(
        service: BoothService) -> None:
    first = service.shifts.start(WANG.username, WANG.name, 20000)
    service.shifts.add_cash_source(lambda sid: (2, 3000) if sid == first else (0, 0))
    closed, to = service.shifts.handover(WANG.username, " LI.guard", PASSWORD, invoices=2,
                                         notes="3号车位地锁坏了")
    assert (closed, to.username) == (first, LI.username)
    report = service.shifts.report(first)
    assert (report.handed_to_name, report.money.float_fen, report.invoices,
            report.money.charges) == ("李保安", 23000, 2, 2)
    now = service.shifts.require_current()
    assert (now.guard, now.opening_float_fen, now.shift_id) == (LI.username, 23000,
                                                              report.next_shift_id)
    kinds = events(service.config.events_db, "shift_start", "booth_sign_in", "shift_handover",
                   "float_over_limit")
    assert [k for k, _d, _a in kinds] == ["shift_start", "booth_sign_in", "shift_handover",
                                          "shift_start"]
    handover = kinds[2][1]
    assert handover["guard"] == WANG.username and handover["to_guard"] == LI.username
    assert (handover["float_fen"], handover["cash_fen"], handover["notes"]) == (
        23000, 3000, "3号车位地锁坏了")
    assert service.shifts.float_alarm() is None


def test_a_float_over_the_limit_raises_the_alarm_until_paid_in(service: BoothService) -> None:
    service.shifts.start(WANG.username, WANG.name, 50000)
    service.shifts.add_cash_source(lambda sid: (5, 15000))
    service.shifts.handover(WANG.username, LI.username, PASSWORD, invoices=0, notes="")
    # The next shift opens with 650 and takes 150 more: 800 in the drawer.
    alarm = service.shifts.float_alarm()
    assert alarm is not None and (alarm.float_fen, alarm.limit_fen) == (80000, 60000)
    over = events(service.config.events_db, "float_over_limit")
    assert len(over) == 1
    assert over[0][2] == 1
    assert (over[0][1]["float_fen"], over[0][1]["limit_fen"], over[0][1]["guard"]) == (
        65000, 60000, LI.username)
    service.shifts.pay_in(LI.username, 10000)
    assert service.shifts.float_alarm() is not None  # 700 left: still over
    service.shifts.pay_in(LI.username, 10000)
    assert service.shifts.float_alarm() is None  # 600: at the limit is fine
    paid = events(service.config.events_db, "float_paid_in")
    assert [(d["guard"], d["amount_fen"]) for _k, d, _a in paid] == [
        (LI.username, 10000), (LI.username, 10000)]


def test_handover_is_refused_to_yourself_to_the_unlisted_and_without_a_shift(
        service: BoothService) -> None:
    with pytest.raises(BoothRefusal, match="no shift is open"):
        service.shifts.handover(WANG.username, LI.username, PASSWORD, invoices=0, notes="")
    service.shifts.start(WANG.username, WANG.name, 20000)
    with pytest.raises(BoothRefusal, match="yourself"):
        service.shifts.handover(WANG.username, "Wang.Guard", PASSWORD, invoices=0, notes="")
    with pytest.raises(SignInRefused, match="may not sign in at this booth"):
        service.shifts.handover(WANG.username, "zhao.guard", PASSWORD, invoices=0, notes="")
    with pytest.raises(BoothRefusal, match="hand it over"):
        service.shifts.handover(LI.username, "zhao.guard", PASSWORD, invoices=0, notes="")
    with pytest.raises(SignInRefused, match="wrong username or password"):
        service.shifts.handover(WANG.username, LI.username, "nope", invoices=0, notes="")
    # Nothing changed: the same shift is open, no handover was journalled.
    assert service.shifts.require_current().guard == WANG.username
    assert events(service.config.events_db, "shift_handover") == []


def test_the_next_guard_password_is_throttled_as_at_sign_in(service: BoothService) -> None:
    service.shifts.start(WANG.username, WANG.name, 0)
    for i in range(MAX_FAILURES):
        with pytest.raises(SignInRefused):
            service.shifts.handover(WANG.username, LI.username, f"guess{i}", invoices=0,
                                    notes="")
    with pytest.raises(SignInThrottled):
        service.shifts.handover(WANG.username, LI.username, PASSWORD, invoices=0, notes="")


def test_the_report_is_only_for_a_shift_handed_over(service: BoothService) -> None:
    shift_id = service.shifts.start(WANG.username, WANG.name, 0)
    with pytest.raises(BoothRefusal, match="not been handed over"):
        service.shifts.report(shift_id)
    with pytest.raises(BoothRefusal, match="no such shift"):
        service.shifts.report("nope")


def test_one_shift_at_a_time_even_for_the_database(service: BoothService) -> None:
    service.shifts.start(WANG.username, WANG.name, 0)
    with pytest.raises(BoothRefusal, match="already open"):
        service.shifts.start(LI.username, LI.name, 0)
    conn = sqlite3.connect(service.config.events_db)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO shifts (id, guard, guard_name, started_at, "
                     "opening_float_fen) VALUES ('x', 'a', 'a', 0, 0)")
    conn.close()
