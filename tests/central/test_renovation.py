"""Rules H6 and G6: renovation filings, the workers' temporary cards (valid with the filing,
only in working hours, "延期至 DATE" on extension), and the deposits refunded only after
every card is back."""

# Tests are named after the rule they pin (test_H6_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from central.clock import FixedClock
from central.models import CardState, ReceiptItem, RegisterAction
from central.refusals import ConflictError, RuleRefused
from central.services.context import Desk
from central.services.renovation import (
    ExtendRenovation,
    FileRenovation,
    IssueWorkerCards,
    extend_renovation,
    file_renovation,
    filing_summary,
    issue_worker_cards,
)
from central.services.renovation_approval import approve_renovation
from central.services.renovation_deposits import (
    RefundDeposit,
    ReturnWorkerCards,
    refund_deposit,
    return_worker_cards,
)
from edge.decision import Reason

from .conftest import (
    Staffs,
    auth_log,
    card,
    household_of,
    person,
    receipts,
    register,
    row_counts,
    signed,
)
from .helpers import Gate

SCHEDULE = "Mon-Sat 08:00-12:00 14:00-18:00"
CONTRACTOR = {"name": "美家装饰公司", "lead_name": "黄师傅", "lead_phone": "13900000001"}


def filing_form(desk: Desk, ends_on: str = "2026-09-08", **extra: Any) -> dict[str, Any]:
    form = {"household_id": household_of(desk, "王建国"),
            "applicant_person_id": person(desk, "王建国").id, "starts_on": "2026-06-09",
            "ends_on": ends_on, "contractor": CONTRACTOR}
    form.update(extra)
    return form


def file(desk: Desk, staff: Staffs, *, approved: bool = True, **extra: Any) -> Any:
    """A filing by the clerk and, unless ``approved`` is false, the director's approval."""
    filed = file_renovation(desk, staff.clerk, FileRenovation.from_form(filing_form(desk,
                                                                                    **extra)))
    if approved:
        approve_renovation(desk, staff.director, filed.filing_id)
    return filed


def worker(uid: str, name: str, id_number: str = "360102199001011234") -> dict[str, Any]:
    return {"uid": uid, "worker": {"name": name, "id_number": id_number},
            "signoff": signed(name)}


def lend(desk: Desk, staff: Staffs, filing_id: int, *lines: dict[str, Any]) -> Any:
    return issue_worker_cards(desk, staff.clerk, IssueWorkerCards.from_form(
        {"filing_id": filing_id, "lines": list(lines)}))


def extend(desk: Desk, staff: Staffs, filing_id: int, new_end: str) -> Any:
    return extend_renovation(desk, staff.clerk, ExtendRenovation.from_form(
        {"filing_id": filing_id, "new_end": new_end, "signoff": signed("黄师傅")}))


def give_back(desk: Desk, staff: Staffs, filing_id: int, *uids: str) -> int:
    return return_worker_cards(desk, staff.clerk, ReturnWorkerCards.from_form(
        {"filing_id": filing_id, "uids": list(uids), "signoff": signed("黄师傅")}))


def refund(desk: Desk, staff: Staffs, filing_id: int, number: int, signer: str) -> Any:
    return refund_deposit(desk, staff.clerk, RefundDeposit.from_form(
        {"filing_id": filing_id, "receipt_number": number, "signoff": signed(signer)}))


# ------------------------------------------------------------------ H6


def test_H6_filing_lasts_at_most_three_months(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        file(desk, staff, ends_on="2026-09-09")  # 9 June + 3 months ends on 8 September
    assert refused.value.rule_id == "H6" and refused.value.field == "ends_on"
    assert "2026-09-08" in refused.value.message_zh
    assert row_counts(desk) == before
    filed = file(desk, staff, ends_on="2026-09-08")
    assert filed.ends_on == date(2026, 9, 8)


def test_H6_worker_cards_follow_the_filing_in_working_hours_only(desk: Desk, staff: Staffs,
                                                                  tmp_path: Path) -> None:
    filed = file(desk, staff)
    [view] = lend(desk, staff, filed.filing_id, worker("0D0D0D01", "刘工"))
    assert view.valid_until == date(2026, 9, 8) and view.schedule == SCHEDULE
    stored = card(desk, "0D0D0D01")
    assert stored.valid_until == date(2026, 9, 8)
    gate = Gate(desk, tmp_path / "auth.db")
    assert gate.tap("0D0D0D01", datetime(2026, 6, 9, 10, 0)) is Reason.GRANTED  # Tuesday
    assert gate.tap("0D0D0D01", datetime(2026, 6, 9, 12, 30)) is Reason.OUTSIDE_SCHEDULE
    assert gate.tap("0D0D0D01", datetime(2026, 6, 9, 19, 0)) is Reason.OUTSIDE_SCHEDULE
    assert gate.tap("0D0D0D01", datetime(2026, 6, 14, 10, 0)) is Reason.OUTSIDE_SCHEDULE  # Sun
    assert gate.tap("0D0D0D01", datetime(2026, 9, 9, 10, 0)) is Reason.EXPIRED
    assert register(desk)[-1].action is RegisterAction.ISSUE


def test_H6_extension_at_most_three_months_and_the_cards_follow(desk: Desk, staff: Staffs,
                                                                tmp_path: Path) -> None:
    filed = file(desk, staff)
    lend(desk, staff, filed.filing_id, worker("0D0D0D01", "刘工"), worker("0D0D0D02", "陈工"))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        extend(desk, staff, filed.filing_id, "2026-12-09")  # from 9 Sep: at most 8 Dec
    assert refused.value.rule_id == "H6"
    assert row_counts(desk) == before
    extended = extend(desk, staff, filed.filing_id, "2026-12-08")
    assert extended.marking == "延期至 2026-12-08"
    assert extended.cards == ("0D0D0D01", "0D0D0D02")
    assert card(desk, "0D0D0D02").valid_until == date(2026, 12, 8)
    assert "延期至 2026-12-08" in register(desk)[-1].detail
    gate = Gate(desk, tmp_path / "auth.db")
    assert gate.tap("0D0D0D01", datetime(2026, 12, 8, 15, 0)) is Reason.GRANTED
    # Extended again: three more months from 9 December.
    assert extend(desk, staff, filed.filing_id, "2027-03-08").new_end == date(2027, 3, 8)
    assert filing_summary(desk, staff.clerk, filed.filing_id).extensions == 2


def test_H6_no_card_on_a_filing_that_ran_out(desk: Desk, staff: Staffs,
                                            clock: FixedClock) -> None:
    filed = file(desk, staff, ends_on="2026-06-30")
    clock.set(datetime(2026, 7, 1, 2, 0, tzinfo=UTC))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        lend(desk, staff, filed.filing_id, worker("0D0D0D01", "刘工"))
    assert refused.value.rule_id == "H6"
    assert row_counts(desk) == before


def test_H6_cards_lent_early_open_from_the_filings_first_day(desk: Desk, staff: Staffs) -> None:
    filed = file(desk, staff, starts_on="2026-06-15", ends_on="2026-09-14")
    lend(desk, staff, filed.filing_id, worker("0D0D0D01", "刘工"))
    assert card(desk, "0D0D0D01").valid_from == date(2026, 6, 15)


# ------------------------------------------------------------------ G6


def test_G6_deposits_owner_and_contractor_each_or_self_renovating_owner(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    filed = file(desk, staff)
    assert [(d.payer.value, d.payer_name, d.amount_fen) for d in filed.deposits] == [
        ("owner", "王建国", 100_000), ("contractor", "美家装饰公司", 100_000)]
    taken = receipts(desk)
    assert [(r.payer_name, r.amount_fen) for r in taken] == [("王建国", 100_000),
                                                              ("美家装饰公司", 100_000)]
    assert {line.item for r in taken for line in r.lines} == {ReceiptItem.RENOVATION_DEPOSIT}
    clock.advance(timedelta(days=1))
    alone = file_renovation(desk, staff.clerk, FileRenovation.from_form({
        "household_id": household_of(desk, "李明"), "applicant_person_id": person(desk, "李明").id,
        "starts_on": "2026-06-10", "ends_on": "2026-07-10", "self_renovation": True}))
    assert [(d.payer.value, d.amount_fen) for d in alone.deposits] == [
        ("self_renovating_owner", 200_000)]


def test_G6_refunded_only_after_every_worker_card_is_returned(desk: Desk,
                                                              staff: Staffs) -> None:
    filed = file(desk, staff)
    owner_receipt, contractor_receipt = (d.receipt_number for d in filed.deposits)
    lend(desk, staff, filed.filing_id, worker("0D0D0D01", "刘工"), worker("0D0D0D02", "陈工"))
    assert give_back(desk, staff, filed.filing_id, "0d:0d:0d:01") == 1
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        refund(desk, staff, filed.filing_id, owner_receipt, "王建国")
    assert refused.value.rule_id == "G6" and "0D0D0D02" in refused.value.message_en
    assert row_counts(desk) == before
    assert give_back(desk, staff, filed.filing_id, "0D0D0D02") == 0
    with pytest.raises(RuleRefused) as wrong_signer:
        refund(desk, staff, filed.filing_id, contractor_receipt, "王建国")
    assert wrong_signer.value.rule_id == "G6"
    assert refund(desk, staff, filed.filing_id, owner_receipt, "王建国").refunded
    assert refund(desk, staff, filed.filing_id, contractor_receipt, "美家装饰公司").refunded
    with pytest.raises(ConflictError):
        refund(desk, staff, filed.filing_id, owner_receipt, "王建国")
    assert all(d.refunded for d in filing_summary(desk, staff.clerk, filed.filing_id).deposits)


def test_G6_a_returned_card_is_formatted_for_the_next_filing(desk: Desk, staff: Staffs,
                                                             tmp_path: Path) -> None:
    filed = file(desk, staff)
    lend(desk, staff, filed.filing_id, worker("0D0D0D01", "刘工"))
    give_back(desk, staff, filed.filing_id, "0D0D0D01")
    returned = card(desk, "0D0D0D01")
    assert returned.state is CardState.FORMATTED and returned.valid_until is None
    gate = Gate(desk, tmp_path / "auth.db")
    assert gate.tap("0D0D0D01", datetime(2026, 6, 9, 10, 0)) is Reason.REVOKED
    entries = [e for e in auth_log(desk) if e.uid == "0D0D0D01"]
    assert len(entries) == 2  # lent, then withdrawn at every gate
    with pytest.raises(ConflictError):  # already back
        give_back(desk, staff, filed.filing_id, "0D0D0D01")
