"""The desk's reads (the pages' and the API's alike) run in a read session: they answer
while an action holds the write lock, instead of queueing behind it as a write transaction
would (and failing once the lock's timeout runs out)."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import text

from central.services.card_changes import card_summary
from central.services.context import Desk, action
from central.services.household_record import household_record, person_record
from central.services.loss import ReportLoss, loss_reports, replacement_preview, report_lost
from central.services.parking_report_signoff import current_parking_report
from central.services.receipt_book import ReceiptFilter, find_receipts
from central.services.register_book import RegisterFilter, find_register
from central.services.resident_cards import IssueResidentCards, issue_resident_cards

from .conftest import Staffs, application, household_of, owner_line, person, sign

UID = "04A1B2C3"


def test_reads_answer_while_an_action_holds_the_write_lock(desk: Desk, staff: Staffs) -> None:
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(
        application(desk, "李明", [owner_line(desk, UID, "李明")])))
    report_lost(desk, staff.clerk, ReportLoss(UID, person(desk, "李明").id, True, 0, True,
                                              sign("李明")))
    clerk, started = staff.clerk, time.monotonic()
    with action(desk) as writer:
        writer.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is held
        assert card_summary(desk, clerk, UID).uid == UID
        assert [r.uid for r in loss_reports(desk, clerk)] == [UID]
        assert replacement_preview(desk, clerk, UID).holder_name == "李明"
        assert find_receipts(desk, clerk, ReceiptFilter())[0].person_id is not None
        assert [line.action.value for line in find_register(desk, clerk, RegisterFilter())] \
            == ["report_lost", "issue"]
        assert household_record(desk, clerk, household_of(desk, "李明")).cards[0].uid == UID
        assert person_record(desk, clerk, person(desk, "李明").id).cards[0].uid == UID
        assert current_parking_report(desk, clerk, date(2026, 5, 1), None).stamps is None
    # A write transaction would have waited out the lock's timeout (15 s) for each.
    assert time.monotonic() - started < 10
