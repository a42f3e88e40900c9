"""Rule P4: the monthly parking report, built from the desk's fees and a real sync event
store filled with gate events, reconciled, exported as CSV and XLSX, and signed by the
director after the desk's and security's steps."""

# Tests are named after the rule they pin (test_P4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from central.clock import FixedClock
from central.models import Device, Gate, ParkingMonthlyReport
from central.refusals import ConflictError, InvalidInputError, RuleRefused
from central.services.context import Desk, action
from central.services.parking_report_export import content_digest, report_csv, report_xlsx
from central.services.parking_report_signoff import (
    ReportMonth,
    SignParkingReport,
    add_parking_usage,
    parking_report,
    sign_parking_report,
    total_parking_fees,
)
from central.services.receipts import VoidReceipt, void_receipt
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from sync.hub.store import CentralStore

from .conftest import SITE, Staffs, application, owner_line, row_counts
from .helpers import apply, approve, at_local, documents, issue_wang, top_up

SHANGHAI = ZoneInfo("Asia/Shanghai")
JUNE = date(2026, 6, 1)
WANG, LI, STRANGER = "04A1B2C3", "04B0B0B0", "0F0F0F01"


def wall(year: int, month: int, day: int, hour: int, minute: int) -> float:
    """A Shanghai local time as the gate's wall clock (epoch seconds)."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI).timestamp()


class Events:
    """A real CentralStore, filled device by device with gate events."""

    def __init__(self, path: Path) -> None:
        self.store = CentralStore(path, SITE)
        self.seq: dict[str, int] = {}

    def tap(self, device: str, uid: str, at: float, granted: bool = True,
            trusted: bool = True) -> None:
        seq = self.seq[device] = self.seq.get(device, 0) + 1
        event: dict[str, Any] = {
            "seq": seq, "boot_id": "boot-1", "wall": at, "mono": float(seq), "kind": "tap",
            "alarm": False, "clock_trusted": trusted, "uid": uid, "granted": granted,
            "reason": "granted" if granted else "not_permitted_here", "data": {}}
        self.store.store_events(device, [event])

    def plate(self, device: str, uid: str | None, plate: str, at: float,
              granted: bool = True) -> None:
        """A camera's plate read as the lane journals it (issue 12): ``uid`` the matched
        card's, None for a car no card carries."""
        seq = self.seq[device] = self.seq.get(device, 0) + 1
        event: dict[str, Any] = {
            "seq": seq, "boot_id": "boot-1", "wall": at, "mono": float(seq), "kind": "plate",
            "alarm": False, "clock_trusted": True, "uid": uid, "granted": granted,
            "reason": "granted" if granted else "plate_unknown",
            "data": {"plate": plate, "confidence": 0.97, "camera": "cam-1", "match": "exact",
                     "flags": [], "space_class": "monthly", "days_left": 20}}
        self.store.store_events(device, [event])


@pytest.fixture
def events(tmp_path: Path) -> Iterator[Events]:
    filled = Events(tmp_path / "central-sync.db")
    yield filled
    filled.store.close()


def devices(desk: Desk) -> None:
    """The car park's two barrier controllers and the main gate's door controller."""
    with action(desk) as act:
        gates = {g.code: g for g in act.session.scalars(select(Gate))}
        for device, gate in (("dev-in", "carpark-in"), ("dev-out", "carpark-out"),
                             ("dev-door", "main-gate")):
            act.session.add(Device(site_id=gates[gate].site_id, gate_id=gates[gate].id,
                                   device_id=device))


def june(desk: Desk, staff: Staffs, events: Events) -> None:
    """王建国 pays 9 June – 8 July and parks; 李明 pays and never comes; a stranger's card
    gets in; a second payment of 李明's is voided."""
    devices(desk)
    issue_wang(desk, staff)
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(
        application(desk, "李明", [owner_line(desk, LI, "李明")])))
    approve(desk, staff, apply(desk, staff).subscription_id)
    approve(desk, staff, apply(desk, staff, "李明", plate="粤B 66666", existing_uid=LI,
                               documents=documents(desk, "李明")).subscription_id)
    top_up(desk, staff)  # receipt 3: 王建国, 300
    top_up(desk, staff, uid=LI)  # receipt 4: 李明, 300
    top_up(desk, staff, uid=LI)  # receipt 5: by mistake
    void_receipt(desk, staff.front_desk_lead, VoidReceipt(5, "charged twice"))
    events.tap("dev-in", WANG, wall(2026, 6, 1, 0, 5))  # first minute of June: unpaid
    events.tap("dev-in", WANG, wall(2026, 6, 10, 8, 0))
    events.tap("dev-out", WANG, wall(2026, 6, 10, 18, 0))
    events.tap("dev-in", WANG, wall(2026, 6, 30, 23, 30), trusted=False)
    events.tap("dev-in", WANG, wall(2026, 7, 1, 0, 10))  # July: not in June's report
    events.tap("dev-door", WANG, wall(2026, 6, 12, 9, 0))  # a door, not the car park
    events.tap("dev-in", LI, wall(2026, 6, 15, 9, 0), granted=False)  # refused: not a use
    events.tap("dev-in", STRANGER, wall(2026, 6, 20, 9, 0))
    events.tap("dev-out", STRANGER, wall(2026, 6, 20, 11, 0))


def test_P4_report_totals_fees_and_use_and_reconciles(desk: Desk, staff: Staffs,
                                                      events: Events) -> None:
    june(desk, staff, events)
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    assert [(f.receipt_number, f.card_uid, f.amount_fen, f.void) for f in report.fees] == [
        (3, WANG, 30000, False), (4, LI, 30000, False), (5, LI, 30000, True)]
    assert report.fees_total_fen == 60000 and report.fees_count == 2
    assert report.fees[0].plate == "粤B12345" and report.fees[0].holder_name == "王建国"
    assert report.usage is not None
    by_uid = {u.card_uid: u for u in report.usage}
    assert set(by_uid) == {WANG, STRANGER}
    wang = by_uid[WANG]
    assert (wang.entries, wang.exits, wang.days_used) == (3, 1, 3)
    assert wang.unpaid_days == (date(2026, 6, 1),)  # before the paid period began
    assert by_uid[STRANGER].unpaid_days == (date(2026, 6, 20),)
    assert (report.entries_total, report.exits_total) == (4, 2)
    assert report.untrusted_clock_events == 1
    assert [(p.card_uid, p.paid_days) for p in report.paid_not_used] == [(LI, 22)]  # 9–30 June
    assert [u.card_uid for u in report.used_without_paying] == [WANG, STRANGER]


def test_P4_plate_reads_count_as_use_like_taps(desk: Desk, staff: Staffs,
                                              events: Events) -> None:
    june(desk, staff, events)
    before = parking_report(desk, staff.clerk, JUNE, events.store)
    # 李明's car comes in by its plate alone and leaves by it: two uses on one paid day.
    events.plate("dev-in", LI, "粤B66666", wall(2026, 6, 16, 8, 0))
    events.plate("dev-out", LI, "粤B66666", wall(2026, 6, 16, 19, 0))
    # A temporary car (no card) and a refused read are no card's use.
    events.plate("dev-in", None, "粤A00001", wall(2026, 6, 16, 9, 0))
    events.plate("dev-in", LI, "粤B66666", wall(2026, 6, 17, 8, 0), granted=False)
    # 王建国 taps and his plate is read at the same lane within seconds: one car, one entry;
    # his plate read on 5 July is not June's.
    events.tap("dev-in", WANG, wall(2026, 6, 18, 8, 0))
    events.plate("dev-in", WANG, "粤B12345", wall(2026, 6, 18, 8, 0) + 3)
    events.plate("dev-in", WANG, "粤B12345", wall(2026, 7, 5, 8, 0))
    # A plate read an hour later is another entry.
    events.plate("dev-in", WANG, "粤B12345", wall(2026, 6, 18, 9, 0))
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    assert report.usage is not None and before.usage is not None
    by_uid = {u.card_uid: u for u in report.usage}
    li = by_uid[LI]
    assert (li.entries, li.exits, li.days_used, li.unpaid_days) == (1, 1, 1, ())
    assert li.plate == "粤B66666"
    was = {u.card_uid: u for u in before.usage}[WANG]
    wang = by_uid[WANG]
    assert (wang.entries, wang.exits) == (was.entries + 2, was.exits)
    assert wang.days_used == was.days_used + 1
    # 李明 paid and now used it: no longer among the paid-but-unused.
    assert [p.card_uid for p in report.paid_not_used] == []
    assert (report.entries_total, report.exits_total) == (before.entries_total + 3,
                                                           before.exits_total + 1)


def test_P4_counts_a_lane_by_its_gate_code_with_no_device_registered(
        desk: Desk, staff: Staffs, events: Events) -> None:
    # A lane controller's device name is its gate's code (as on every site installed by the
    # README): the desk registers no device row for it, and its use still counts.
    june(desk, staff, events)
    events.plate("carpark-in", LI, "粤B66666", wall(2026, 6, 16, 8, 0))
    events.plate("carpark-out", LI, "粤B66666", wall(2026, 6, 16, 19, 0))
    events.tap("main-gate", LI, wall(2026, 6, 16, 20, 0))  # a door: not a use of the car park
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    assert report.usage is not None
    li = {u.card_uid: u for u in report.usage}[LI]
    assert (li.entries, li.exits, li.days_used) == (1, 1, 1)


def test_P4_counts_every_use_at_one_wall_time(desk: Desk, staff: Staffs,
                                              events: Events) -> None:
    june(desk, staff, events)
    whole = parking_report(desk, staff.clerk, JUNE, events.store)
    for _ in range(5):  # five taps at one wall time: each is an entry
        events.tap("dev-in", STRANGER, wall(2026, 6, 21, 9, 0))
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    assert report.entries_total == whole.entries_total + 5 == 9


def test_P4_counts_the_taps_of_a_barriers_replaced_journal(
        desk: Desk, staff: Staffs, events: Events) -> None:
    june(desk, staff, events)
    whole = parking_report(desk, staff.clerk, JUNE, events.store)
    # dev-in's SD card is replaced: its new journal numbers from 1 again, and the seqs it
    # reuses are other taps, not repeats of those already read.
    for seq, day in ((1, 22), (2, 23)):
        events.store.store_events("dev-in", [{
            "seq": seq, "boot_id": "new-card", "wall": wall(2026, 6, day, 9, 0),
            "mono": float(seq), "kind": "tap", "alarm": False, "clock_trusted": True,
            "uid": STRANGER, "granted": True, "reason": "granted", "data": {}}],
            journal_id="5d" * 16)
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    assert report.entries_total == whole.entries_total + 2


def test_P4_a_plate_and_a_tap_at_one_instant_are_one_use(desk: Desk, staff: Staffs,
                                                          events: Events) -> None:
    june(desk, staff, events)
    whole = parking_report(desk, staff.clerk, JUNE, events.store)
    # 王建国's plate is journalled before his tap at the same instant, and he taps again
    # ten seconds later: the lane's order decides which is counted — the plate — and both
    # taps are the other credential of the same car.
    at = wall(2026, 6, 24, 8, 0)
    events.plate("dev-in", WANG, "粤B12345", at)
    events.tap("dev-in", WANG, at)
    events.tap("dev-in", WANG, at + 10)
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    assert report.entries_total == whole.entries_total + 1


def test_P4_steps_in_order_and_only_the_director_signs(desk: Desk, staff: Staffs,
                                                       events: Events,
                                                       clock: FixedClock) -> None:
    june(desk, staff, events)
    with pytest.raises(ConflictError):  # June is not over
        total_parking_fees(desk, staff.clerk, JUNE)
    clock.set(at_local(date(2026, 7, 8)))
    with pytest.raises(RuleRefused) as too_early:
        add_parking_usage(desk, staff.guard, JUNE, events.store)
    assert too_early.value.rule_id == "P4"
    totalled = total_parking_fees(desk, staff.clerk, JUNE)
    assert totalled.stamps is not None and not totalled.stamps.fees_late
    with pytest.raises(RuleRefused) as not_security:  # the use is security's to add (P4)
        add_parking_usage(desk, staff.clerk, JUNE, events.store)
    assert not_security.value.rule_id == "P4"
    with pytest.raises(RuleRefused) as not_yet:
        sign_parking_report(desk, staff.director, SignParkingReport(JUNE), events.store)
    assert not_yet.value.rule_id == "P4"
    clock.set(at_local(date(2026, 7, 16)))
    added = add_parking_usage(desk, staff.guard, JUNE, events.store)
    assert added.stamps is not None and added.stamps.usage_late  # after the 15th
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as lead:
        sign_parking_report(desk, staff.front_desk_lead, SignParkingReport(JUNE), events.store)
    assert lead.value.rule_id == "P4"
    assert row_counts(desk) == before
    # An event of June reaches the desk late: the figures no longer agree.
    events.tap("dev-out", STRANGER, wall(2026, 6, 25, 9, 0))
    with pytest.raises(RuleRefused) as changed:
        sign_parking_report(desk, staff.director, SignParkingReport(JUNE), events.store)
    assert changed.value.rule_id == "P4" and "security" in changed.value.message_en
    add_parking_usage(desk, staff.guard, JUNE, events.store)
    signed = sign_parking_report(desk, staff.director, SignParkingReport.from_form(
        {"month": "2026-06", "note": "核对无误；陌生卡转安管部核查"}), events.store)
    assert signed.stamps is not None and signed.stamps.signed_by == "director"
    assert signed.stamps.content_sha256 == content_digest(signed)
    with desk.sessions() as s:
        row = s.scalars(select(ParkingMonthlyReport)).one()
        assert row.signed_by_staff_id == staff.director.staff_id
        assert (row.fees_total_fen, row.usage_entries, row.usage_exits) == (60000, 4, 3)
    with pytest.raises(ConflictError):  # signed: nothing changes any more
        total_parking_fees(desk, staff.clerk, JUNE)


def test_P4_csv_and_xlsx_carry_both_parts_and_the_reconciliation(desk: Desk, staff: Staffs,
                                                                  events: Events) -> None:
    june(desk, staff, events)
    report = parking_report(desk, staff.clerk, JUNE, events.store)
    text = report_csv(report)
    for part in ("一、停车费收取", "二、停车卡使用", "三、对账", "四、签字",
                 "已缴费未使用", "未缴费使用"):
        assert part in text
    assert "600.00" in text and "300.00" in text and ",void" in text
    assert f"{STRANGER},,,1,1,1,2026-06-20" in text
    book = load_workbook(io.BytesIO(report_xlsx(report)))
    assert book.sheetnames == ["Fees 停车费", "Use 使用", "Reconciliation 对账", "Sign-off 签字"]
    fees = list(book["Fees 停车费"].iter_rows(values_only=True))
    assert fees[3][0] == 3 and Decimal(str(fees[3][9])) == Decimal("300")
    assert fees[-1][0] == "合计 total" and Decimal(str(fees[-1][9])) == Decimal("600")
    use = [row[0] for row in book["Use 使用"].iter_rows(values_only=True)]
    assert WANG in use and STRANGER in use
    reconciliation = [row[0] for row in book["Reconciliation 对账"].iter_rows(values_only=True)]
    assert LI in reconciliation


def test_P4_report_month_form() -> None:
    assert ReportMonth.from_form({"month": "2026-06"}).month == JUNE
    with pytest.raises(InvalidInputError):
        ReportMonth.from_form({"month": "2026-13"})
