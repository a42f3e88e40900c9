"""Issue 11: every booth record reaches the desk's database exactly once, in order and
without a gap, over a real central store and a real desk database; the visitor's ID number
shows only in the visitor register, masked but to the director (G5); a booth's float over
the limit is a gates-page alarm until it is paid in (P6)."""

# Tests are named after the rule they pin (test_G5_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import func, select

from central.api.app import published_here
from central.clock import FixedClock
from central.models import (
    BoothCursor,
    BoothParkingCharge,
    BoothRecordApplied,
    BoothRecordOutcome,
    BoothShift,
    BoothSlipExit,
    BoothVisit,
    Gate,
    GoodsReleaseSlip,
    Staff,
    VisitorRegistration,
)
from central.services.booth_records import BoothRecordProjection, booth_records
from central.services.context import Desk
from central.services.gate_events import EventFilter, gate_events
from central.services.gate_status import AlarmCategory, site_gates
from sync.hub.store import CentralStore

from .booth_events import BOOTH, JOURNAL, VISITOR_ID, a_shift, event
from .conftest import NOW, SITE, Staffs, load_second_site
from .test_goods import issue, let_out

START = NOW.timestamp() - 3600  # 09:00 in Shanghai, 9 June 2026
DAY = date(2026, 6, 9)


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock) -> Iterator[CentralStore]:
    """The site's central store, as the hub keeps it."""
    s = CentralStore(tmp_path / "central-sync.db", SITE, clock=clock.wall)
    yield s
    s.close()


def count(desk: Desk, model: type) -> int:
    with desk.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_every_booth_record_reaches_the_desk_exactly_once(desk: Desk, staff: Staffs,
                                                          store: CentralStore) -> None:
    number = issue(desk, staff)
    records = a_shift(START, number)
    # Shipped by the booth's agent, then the same journal brought in again (a re-sent
    # batch, a restored store): stored once.
    store.store_events(BOOTH, records, journal_id=JOURNAL)
    assert store.import_events(BOOTH, JOURNAL, records) == 0
    projection = BoothRecordProjection(desk, [store])
    first = projection.run_once()
    assert (first.applied, first.conflicts, first.skipped) == (10, 0, 0)
    # A second pass, and a fresh projection that kept nothing in memory: nothing new.
    assert projection.run_once().applied == 0
    assert BoothRecordProjection(desk, [store]).run_once().applied == 0
    store.store_events(BOOTH, records, journal_id=JOURNAL)
    assert projection.run_once().applied == 0

    assert count(desk, BoothRecordApplied) == 10
    with desk.sessions() as s:
        (cursor,) = s.scalars(select(BoothCursor)).all()
        assert (cursor.device, cursor.journal_id, cursor.last_seq) == (BOOTH, JOURNAL, 12)
        (visitor,) = s.scalars(select(VisitorRegistration)).all()
        guard = s.scalars(select(Staff).where(Staff.username == "guard")).one()
        assert (visitor.name, visitor.id_number, visitor.items) == ("赵访客", VISITOR_ID, "工具箱")
        assert visitor.guard_staff_id == guard.id
        assert visitor.time_in.timestamp() == START + 600
        assert visitor.time_out is not None and visitor.time_out.timestamp() == START + 4200
        (visit,) = s.scalars(select(BoothVisit)).all()
        assert (visit.booth, visit.visit_id, visit.host_unit) == (BOOTH, "v1", "1-101")
        slip = s.scalars(select(GoodsReleaseSlip).where(GoodsReleaseSlip.number == number)).one()
        gate = s.scalars(select(Gate).where(Gate.code == "main-gate")).one()
        assert slip.left_at is not None and slip.left_at.timestamp() == START + 1800
        assert (slip.exit_gate_id, slip.guard_staff_id, slip.guard_signed) == (gate.id, guard.id,
                                                                              True)
        first_shift, second_shift = s.scalars(select(BoothShift).order_by(BoothShift.id)).all()
        assert (first_shift.shift_id, first_shift.guard, first_shift.to_guard) == (
            "s1", "guard", "director")
        assert (first_shift.opening_float_fen, first_shift.cash_fen, first_shift.charges,
                first_shift.float_fen, first_shift.invoices) == (20_000, 41_500, 3,
                                                                 61_500, "3")
        assert first_shift.over_limit and first_shift.limit_fen == 60_000
        assert first_shift.paid_in_fen == 41_500 and first_shift.notes == "2号岗道闸有异响"
        assert (second_shift.shift_id, second_shift.guard, second_shift.over_limit) == (
            "s2", "director", False)
        (charge,) = s.scalars(select(BoothParkingCharge)).all()
        assert (charge.ticket_id, charge.charge_id, charge.plate, charge.fee_fen,
                charge.paid_fen, charge.receipt_no, charge.entry_gate) == (
            "t1", "c1", "沪A12345", 1_500, 1_500, "B-0001", "carpark-in")


def test_a_missing_record_holds_back_the_later_ones_until_it_arrives(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    records = a_shift(START, issue(desk, staff))
    store.store_events(BOOTH, records[:6], journal_id=JOURNAL)
    store.store_events(BOOTH, records[7:], journal_id=JOURNAL)  # seq 7 lost on the way
    projection = BoothRecordProjection(desk, [store])
    # Seqs 1..6 (the control and the acknowledgement, 4 and 6, are read where they are).
    assert projection.run_once().applied == 4
    with desk.sessions() as s:
        assert s.scalars(select(BoothCursor.last_seq)).one() == 6
        assert s.scalars(select(VisitorRegistration.time_out)).one() is None
    (shown,) = booth_records(desk, staff.guard, store, DAY).booths
    assert shown.has_gap
    (journal,) = shown.journals
    assert (journal.events_upto, journal.max_seq, journal.waiting) == (6, 12, True)

    store.store_events(BOOTH, [records[6]], journal_id=JOURNAL)  # the booth sends it again
    assert projection.run_once().applied == 6  # seqs 7..12, in order
    (shown,) = booth_records(desk, staff.guard, store, DAY).booths
    assert not shown.has_gap
    assert count(desk, BoothRecordApplied) == 10


def test_a_record_the_desk_cannot_read_is_skipped_and_counted_never_stopping_the_rest(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    records = [
        event(1, "visitor_in", {"visit_id": "v1", "guard": "guard", "id_number": VISITOR_ID,
                                "time_in": START}, START),  # no name
        event(2, "booth_wizardry", {}, START + 1),
        event(3, "parking_charge", {"charge_id": "c1", "fee_fen": "fifteen",
                                    "paid_fen": 0}, START + 2),
        event(4, "visitor_in", {"visit_id": "v2", "guard": "nobody", "name": "钱",
                                "id_number": VISITOR_ID, "time_in": START}, START + 3),
        event(5, "shift_start", {"shift_id": "s1", "guard": "guard",
                                 "opening_float_fen": 0, "at": START}, START + 4),
    ]
    store.store_events(BOOTH, records, journal_id=JOURNAL)
    counts = BoothRecordProjection(desk, [store]).run_once()
    assert (counts.applied, counts.conflicts, counts.skipped) == (1, 0, 4)
    assert count(desk, BoothShift) == 1 and count(desk, VisitorRegistration) == 0
    assert count(desk, BoothParkingCharge) == 0
    (shown,) = booth_records(desk, staff.guard, store, DAY).booths
    notes = {p.seq: p.note for p in shown.problems}
    assert notes == {1: "malformed: name: missing", 2: "unknown kind",
                     3: "malformed: fee_fen: not a whole number >= 0",
                     4: "guard 'nobody' has no desk account"}
    # The ID number never goes into a note.
    assert not any(VISITOR_ID in n for n in notes.values())


def test_a_slip_let_out_twice_keeps_the_first_and_records_the_conflict(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    number = issue(desk, staff)
    at_desk = let_out(desk, staff, number)  # the desk's own page, while the booth was offline
    store.store_events(BOOTH, [event(1, "goods_slip_out", {
        "number": number, "gate": "main-gate", "left_at": START + 99, "guard": "guard"},
        START)], journal_id=JOURNAL)
    counts = BoothRecordProjection(desk, [store]).run_once()
    assert (counts.applied, counts.conflicts) == (0, 1)
    with desk.sessions() as s:
        slip = s.scalars(select(GoodsReleaseSlip).where(GoodsReleaseSlip.number == number)).one()
        assert slip.left_at == at_desk
        (exit_row,) = s.scalars(select(BoothSlipExit)).all()
        assert exit_row.outcome is BoothRecordOutcome.CONFLICT
        assert exit_row.note.startswith(f"slip {number} already left at")
    (shown,) = booth_records(desk, staff.guard, store, DAY).booths
    assert [(s.number, s.outcome) for s in shown.slips] == [(number,
                                                             BoothRecordOutcome.CONFLICT)]


def test_G5_the_visitor_id_is_masked_but_to_the_director_and_never_in_the_events(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    store.store_events(BOOTH, a_shift(START, issue(desk, staff)), journal_id=JOURNAL)
    BoothRecordProjection(desk, [store]).run_once()
    (as_guard,) = booth_records(desk, staff.guard, store, DAY).booths
    (as_director,) = booth_records(desk, staff.director, store, DAY).booths
    assert [v.id_number for v in as_guard.visits] == ["110***********1234"]
    assert [v.id_number for v in as_director.visits] == [VISITOR_ID]
    for who in (staff.guard, staff.director):
        page = gate_events(desk, who, store, EventFilter(device=BOOTH))
        (visitor_in,) = [e.event for e in page.events if e.event["kind"] == "visitor_in"]
        assert "id_number" not in visitor_in["data"] and "name" not in visitor_in["data"]
        assert visitor_in["data"]["visit_id"] == "v1"
        assert VISITOR_ID not in repr([e.event for e in page.events])
    # The store keeps the record as the booth sent it: only the desk's reads leave it out.
    assert store.events_for(BOOTH, kinds={"visitor_in"})[0]["data"]["id_number"] == VISITOR_ID


def test_the_booth_page_lists_a_days_records_newest_first(desk: Desk, staff: Staffs,
                                                          store: CentralStore) -> None:
    store.store_events(BOOTH, a_shift(START, issue(desk, staff)), journal_id=JOURNAL)
    BoothRecordProjection(desk, [store]).run_once()
    (booth,) = booth_records(desk, staff.front_desk_lead, store, DAY).booths
    assert booth.booth == BOOTH and not booth.has_gap and booth.problems == ()
    assert [s.shift_id for s in booth.shifts] == ["s2", "s1"]
    assert booth.paid_fen == 1_500
    assert [(c.kind, c.gate, c.reason or c.comment) for c in booth.controls] == [
        ("alarm_ack", "main-gate", "风吹开门，已关好"), ("gate_control", "main-gate", "快递车辆")]
    assert booth.name("guard") == "guard" and booth.name("someone") == "someone"
    assert booth_records(desk, staff.guard, store, date(2026, 6, 10)).booths[0].shifts == ()


def test_P6_a_float_over_the_limit_is_a_gates_alarm_until_paid_in(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    records = a_shift(START, issue(desk, staff))
    store.store_events(BOOTH, records[:10], journal_id=JOURNAL)

    def alarms() -> list[AlarmCategory]:
        found = site_gates(desk, staff.guard, store, None)
        (booth,) = [g for g in found.gates if g.device == BOOTH]
        return [a.category for a in booth.alarms]

    assert alarms() == [AlarmCategory.FLOAT_OVER_LIMIT]
    store.store_events(BOOTH, records[10:], journal_id=JOURNAL)
    assert alarms() == []


def test_the_desk_service_projects_by_itself_every_few_seconds(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    projection = BoothRecordProjection(desk, [store], interval_s=0.05)
    projection.start()
    try:
        store.store_events(BOOTH, a_shift(START, issue(desk, staff)), journal_id=JOURNAL)
        deadline = time.monotonic() + 10
        while count(desk, BoothRecordApplied) < 10:
            assert time.monotonic() < deadline, "the projection did not run"
            time.sleep(0.05)
    finally:
        projection.stop()
    assert count(desk, BoothRecordApplied) == 10


class CountingSource:
    """The store, counting by device how often a pass reads a journal's events."""

    def __init__(self, store: CentralStore) -> None:
        self.store = store
        self.site = store.site
        self.reads: dict[str, int] = {}

    def journals(self) -> list[dict[str, Any]]:
        return self.store.journals()

    def events_for(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        return self.store.events_for(*args, **kwargs)

    def journal_events(self, device: str, journal_id: str, after_seq: int, upto_seq: int,
                       **kwargs: Any) -> list[dict[str, Any]]:
        self.reads[device] = self.reads.get(device, 0) + 1
        return self.store.journal_events(device, journal_id, after_seq, upto_seq, **kwargs)


def test_the_gates_journals_are_looked_through_only_now_and_then_the_listed_booths_always(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    """A company's two thousand gates: looking through every gate's new events for booth
    records at every pass cost a desk worker more than storing them. The site's booths (the
    desk's list) are projected at every pass; other devices are looked through every
    ``others_interval_s``, so a booth the desk does not list still gets there."""
    number = issue(desk, staff)
    source = CountingSource(store)
    now = [0.0]
    projection = BoothRecordProjection(desk, [source], others_interval_s=30.0,
                                       clock=lambda: now[0])

    def tap(seq: int) -> dict[str, Any]:
        return event(seq, "tap", {}, START + seq)

    store.store_events("main-gate", [tap(1), tap(2)], journal_id="g1")
    assert projection.run_once().applied == 0
    assert source.reads == {"main-gate": 1}
    now[0] = 10.0
    store.store_events("main-gate", [tap(3)], journal_id="g1")
    # BOOTH is the site's listed booth (central/examples/site.toml); booth-west is not.
    listed = a_shift(START, number)
    store.store_events(BOOTH, listed[:1], journal_id=JOURNAL)
    store.store_events("booth-west", [{**listed[0], "data": {**listed[0]["data"],
                                                             "shift_id": "x1"}}],
                       journal_id="w1")
    assert projection.run_once().applied == 1  # the listed booth's shift
    assert source.reads["main-gate"] == 1
    assert "booth-west" not in source.reads
    now[0] = 31.0
    assert projection.run_once().applied == 1  # the unlisted booth's, at the next look
    assert source.reads["main-gate"] == 2


def test_of_a_companys_workers_only_the_one_publishing_a_site_projects_it(
        desk: Desk, staff: Staffs, store: CentralStore) -> None:
    """Every desk worker of a company holds every site's store; only the one publishing the
    site (sync.hub.bridge.CentralSync.publishing) projects its booths' records — each going
    through every site's did the work twice — and it takes them up when the site becomes
    its own. A site with no link of this process is its own."""
    store.store_events(BOOTH, a_shift(START, issue(desk, staff)), journal_id=JOURNAL)

    class Link:
        site = SITE
        publishing = False

    link = Link()
    projection = BoothRecordProjection(desk, [store], projects=published_here({SITE: link}))
    assert projection.run_once().applied == 0
    assert count(desk, BoothRecordApplied) == 0
    link.publishing = True
    assert projection.run_once().applied == 10
    assert published_here({})(SITE)


def test_a_round_reads_the_desk_once_for_all_its_sites(
        desk: Desk, store: CentralStore, tmp_path: Path, clock: FixedClock) -> None:
    """A company's worker projects dozens of sites every 2 s: what the desk holds of them
    (site ids, cursors, listed booths) is read in one go, not three queries per site."""
    other = "moonlight-court"
    load_second_site(desk, other)
    other_store = CentralStore(tmp_path / "other.db", other, clock=clock.wall)
    statements: list[str] = []

    def executed(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    sql_event.listen(desk.engine, "before_cursor_execute", executed)
    try:
        projection = BoothRecordProjection(desk, [store, other_store])
        assert projection.run_once().applied == 0
        assert len([s for s in statements if s.startswith("SELECT")]) == 3, statements
    finally:
        sql_event.remove(desk.engine, "before_cursor_execute", executed)
        other_store.close()
