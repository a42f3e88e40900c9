"""Rules I1–I7: the register, fees and receipts, the household quota, applying in person,
formatting before re-use."""

# Tests are named after the rule they pin (test_I4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update

from central.clock import FixedClock
from central.db import ImmutableRecordError
from central.models import (
    CardState,
    Receipt,
    ReceiptItem,
    RegisterAction,
    RegisterEntry,
    Role,
    SiteSettings,
)
from central.refusals import InvalidInputError, NotFoundError, PermissionDeniedError, RuleRefused
from central.services.card_changes import (
    CardAction,
    SetCardGrants,
    format_card,
    revoke_card,
    set_card_grants,
)
from central.services.context import Actor, Desk
from central.services.fees import ChargeFee, PayFees, charge_fee, pay_fees
from central.services.loss import (
    ReplaceCard,
    ReportLoss,
    ReviewLoss,
    replace_card,
    report_lost,
    review_loss,
)
from central.services.other_cards import IssueStaffCard, issue_staff_card
from central.services.receipts import VoidReceipt, void_receipt
from central.services.resident_cards import IssueResidentCards, issue_resident_cards
from central.services.sites import load_site
from central.services.staff import NewStaff, create_staff
from central.site_file import read_site_file

from .conftest import (
    EXAMPLES,
    PASSWORD,
    Staffs,
    application,
    card,
    confirmation,
    groups_of,
    new_line,
    owner_line,
    person,
    receipts,
    register,
    row_counts,
    sign,
    signed,
)


def issue(desk: Desk, actor: Actor, form: dict[str, Any]) -> Any:
    return issue_resident_cards(desk, actor, IssueResidentCards.from_form(form))


def family_of_wang(desk: Desk, *lines: dict[str, Any]) -> dict[str, Any]:
    return application(desk, "王建国", list(lines),
                       owner_confirmation=confirmation(desk, "王建国", "in_person"))


# ------------------------------------------------------------------ I1


def test_I1_every_card_action_in_register_with_signoff(desk: Desk, staff: Staffs) -> None:
    issue(desk, staff.clerk, family_of_wang(desk, owner_line(desk, "04A1B2C3", "王建国")))
    report_lost(desk, staff.clerk, ReportLoss("04A1B2C3", person(desk, "王建国").id, True, 0,
                                              True, sign("王建国")))
    report = register(desk)[-1]
    review_loss(desk, staff.director, ReviewLoss(1, True))
    replace_card(desk, staff.clerk, ReplaceCard("04A1B2C3", "04A1B2C9", 0, sign("王建国")))
    revoke_card(desk, staff.clerk, CardAction("04A1B2C9", "moved out", sign("王建国")))
    format_card(desk, staff.clerk, CardAction("04A1B2C9", "for re-use", sign("王建国")))
    entries = register(desk)
    assert [(e.action, e.card_uid) for e in entries] == [
        (RegisterAction.ISSUE, "04A1B2C3"), (RegisterAction.REPORT_LOST, "04A1B2C3"),
        (RegisterAction.REPLACE, "04A1B2C9"), (RegisterAction.REVOKE, "04A1B2C9"),
        (RegisterAction.FORMAT, "04A1B2C9")]
    assert report.action is RegisterAction.REPORT_LOST
    for entry in entries:
        # The holder's name is copied: it still reads right after the format.
        assert entry.holder_name == "王建国"
        assert entry.signed_by == "王建国" and entry.signoff_ref == "登记表 p.12"
        assert entry.staff_id == staff.clerk.staff_id
        assert entry.entry_on == date(2026, 6, 9)
    assert entries[2].related_card_uid == "04A1B2C3"
    # No sign-off, no entry and no action.
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        revoke_card(desk, staff.clerk, CardAction("04A1B2C3", "no signature", None))
    assert (refused.value.rule_id, refused.value.field) == ("I1", "signoff")
    assert row_counts(desk) == before


def test_I1_register_cannot_be_updated_or_deleted(desk: Desk, staff: Staffs) -> None:
    issue(desk, staff.clerk, family_of_wang(desk, owner_line(desk, "04A1B2C3", "王建国")))
    # Through the ORM: an edit, a delete, a bulk update, a bulk delete.
    with desk.sessions() as s, pytest.raises(ImmutableRecordError):
        s.scalars(select(RegisterEntry)).one().holder_name = "someone else"
        s.flush()
    with desk.sessions() as s, pytest.raises(ImmutableRecordError):
        s.delete(s.scalars(select(RegisterEntry)).one())
        s.flush()
    with desk.sessions() as s, pytest.raises(ImmutableRecordError):
        s.execute(update(RegisterEntry).values(holder_name="x"))
    with desk.sessions() as s, pytest.raises(ImmutableRecordError):
        s.execute(delete(RegisterEntry))
    # Raw SQL on the file: the SQLite triggers refuse too.
    with desk.engine.connect() as conn:
        for sql in ("UPDATE register_entries SET holder_name = 'x'",
                    "DELETE FROM register_entries"):
            with pytest.raises(Exception, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
    assert [e.holder_name for e in register(desk)] == ["王建国"]


# ------------------------------------------------------------------ I2


def test_I2_card_fee_20_with_receipt_naming_each_card(desk: Desk, staff: Staffs) -> None:
    result = issue(desk, staff.clerk, family_of_wang(
        desk, owner_line(desk, "04A1B2C3", "王建国"), owner_line(desk, "04A1B2C4", "张丽",
                                                                 "spouse")))
    assert result.total_fen == 4000
    [receipt] = receipts(desk)
    assert receipt.number == result.receipt_number and receipt.amount_fen == 4000
    assert [(line.item, line.card_uid, line.amount_fen) for line in receipt.lines] == [
        (ReceiptItem.CARD_FEE, "04A1B2C3", 2000), (ReceiptItem.CARD_FEE, "04A1B2C4", 2000)]
    assert receipt.payer_name == "王建国"
    assert {e.receipt_number for e in register(desk)} == {receipt.number}


def test_I2_staff_cards_are_free(desk: Desk, staff: Staffs) -> None:
    result = issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form({
        "uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
        "written_application_ref": "申请", "department_head": {"name": "经理"},
        "holder_signoff": signed("孙伟")}))
    assert result.total_fen == 0 and receipts(desk) == []
    assert register(desk)[0].receipt_number is None


# ------------------------------------------------------------------ I4


def test_I4_quota_non_direct_relative_small_home(desk: Desk, staff: Staffs) -> None:
    # 1-1201 is 128.5 m²: under 130, so at most 4 cards once a non-relative holds one.
    lines = [owner_line(desk, "04000001", "王建国"), owner_line(desk, "04000002", "张丽", "spouse"),
             owner_line(desk, "04000003", "王小明", "child"),
             new_line("04000004", "保姆 刘阿姨", "nanny"), new_line("04000005", "侄子 王磊",
                                                                   "other_relative")]
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff.clerk, family_of_wang(desk, *lines))
    assert (refused.value.rule_id, refused.value.field) == ("I4", "lines")
    assert "at most 4 cards" in refused.value.message_en
    assert "最多 4 张" in refused.value.message_zh
    assert row_counts(desk) == before
    issue(desk, staff.clerk, family_of_wang(desk, *lines[:4]))
    assert card(desk, "04000004").state is CardState.ACTIVE


def test_I4_quota_large_home_allows_five(desk: Desk, staff: Staffs) -> None:
    # 2-301 is exactly 130 m²: "130 or more" gives 5.
    lines = [owner_line(desk, "05000001", "刘洋")] + [
        new_line(f"0500000{i}", f"租客{i}", "friend") for i in range(2, 7)]
    confirm = confirmation(desk, "刘洋", "in_person")
    with pytest.raises(RuleRefused, match="at most 5 cards"):
        issue(desk, staff.clerk, application(desk, "刘洋", lines, owner_confirmation=confirm))
    issue(desk, staff.clerk, application(desk, "刘洋", lines[:5], owner_confirmation=confirm))


def test_I4_all_direct_relatives_no_limit(desk: Desk, staff: Staffs) -> None:
    lines = [owner_line(desk, "04000001", "王建国"), owner_line(desk, "04000002", "张丽", "spouse"),
             owner_line(desk, "04000003", "王小明", "child"),
             new_line("04000004", "王爷爷", "parent"), new_line("04000005", "王奶奶", "parent"),
             new_line("04000006", "王小小", "grandchild")]
    result = issue(desk, staff.clerk, family_of_wang(desk, *lines))
    assert len(result.cards) == 6


def test_I4_cards_in_use_of_a_non_relative_bring_the_quota(desk: Desk, staff: Staffs) -> None:
    issue(desk, staff.clerk, family_of_wang(desk, new_line("04000001", "保姆", "nanny"),
                                            owner_line(desk, "04000002", "王建国"),
                                            owner_line(desk, "04000003", "张丽", "spouse")))
    issue(desk, staff.clerk, family_of_wang(desk, owner_line(desk, "04000004", "王小明",
                                                             "child")))
    # Only direct relatives now, but the household already has a nanny's card: 4 is the cap.
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff.clerk, family_of_wang(desk, new_line("04000005", "王爷爷", "parent")))
    assert refused.value.rule_id == "I4"
    # A card no longer in use frees a place.
    revoke_card(desk, staff.clerk, CardAction("04000001", "nanny left", sign("王建国")))
    issue(desk, staff.clerk, family_of_wang(desk, new_line("04000005", "王爷爷", "parent")))


# ------------------------------------------------------------------ I5


def test_I5_applicant_in_person_states_each_relationship(desk: Desk, staff: Staffs) -> None:
    good = family_of_wang(desk, owner_line(desk, "04A1B2C3", "王建国"),
                          owner_line(desk, "04A1B2C4", "张丽", "spouse"))
    before = row_counts(desk)
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "applicant_in_person": False}, "applicant_in_person"),
        ({**good, "applicant_person_id": person(desk, "李明").id}, "applicant_person_id"),
        ({**good, "lines": [good["lines"][0], {**good["lines"][1], "relationship": None}]},
         "lines[1].relationship"),
    ]
    for form, field in cases:
        with pytest.raises(RuleRefused) as refused:
            issue(desk, staff.clerk, form)
        assert (refused.value.rule_id, refused.value.field) == ("I5", field)
    assert row_counts(desk) == before
    issue(desk, staff.clerk, good)
    assert card(desk, "04A1B2C4").relation_to_applicant.value == "spouse"  # type: ignore[union-attr]


def test_I5_card_handed_over_only_after_holder_signs(desk: Desk, staff: Staffs) -> None:
    line = owner_line(desk, "04A1B2C4", "张丽", "spouse")
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff.clerk, family_of_wang(desk, {**line, "holder_signoff": None}))
    assert (refused.value.rule_id, refused.value.field) == ("I5", "lines[0].holder_signoff")
    assert "only after its holder signs" in refused.value.message_en
    # The applicant signing for someone else is not the holder signing.
    with pytest.raises(RuleRefused, match="signs, not 王建国"):
        issue(desk, staff.clerk, family_of_wang(desk, {**line,
                                                       "holder_signoff": signed("王建国")}))
    assert row_counts(desk) == before


# ------------------------------------------------------------------ I6


def test_I6_format_clears_every_grant_before_reuse(desk: Desk, staff: Staffs) -> None:
    form = {"uid": "0C0C0C01", "holder_person_id": person(desk, "孙伟").id,
            "written_application_ref": "申请", "department_head": {"name": "经理"},
            "holder_signoff": signed("孙伟"), "access_groups": ["common", "b1", "carpark"]}
    issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form(form))
    assert groups_of(desk, "0C0C0C01") == ["b1", "carpark", "common"]
    handed_on = {**form, "holder_person_id": None,
                 "new_holder": {"name": "新员工 钱", "organisation": "保安部"},
                 "holder_signoff": signed("新员工 钱"), "access_groups": ["common"]}
    # Handed to someone else without a format: refused, whatever its state.
    with pytest.raises(RuleRefused) as refused:
        issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form(handed_on))
    assert (refused.value.rule_id, refused.value.field) == ("I6", "uid")
    revoke_card(desk, staff.clerk, CardAction("0C0C0C01", "left", sign("孙伟")))
    with pytest.raises(RuleRefused, match="formatted"):
        issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form(handed_on))
    format_card(desk, staff.clerk, CardAction("0C0C0C01", "re-use", sign("孙伟")))
    formatted = card(desk, "0C0C0C01")
    assert formatted.state is CardState.FORMATTED and formatted.holder_person_id is None
    assert groups_of(desk, "0C0C0C01") == []
    issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form(handed_on))
    # Only the new authorisation: nothing of the old holder's survives.
    assert groups_of(desk, "0C0C0C01") == ["common"]
    assert card(desk, "0C0C0C01").holder_person_id == person(desk, "新员工 钱").id


def test_I6_grant_changes_are_registered(desk: Desk, staff: Staffs) -> None:
    issue(desk, staff.clerk, family_of_wang(desk, owner_line(desk, "04A1B2C3", "王建国")))
    added, removed = set_card_grants(desk, staff.clerk, SetCardGrants.from_form(
        {"uid": "04a1b2c3", "access_groups": ["common", "carpark"]}))
    assert (added, removed) == (["carpark"], ["b1"])
    assert register(desk)[-1].action is RegisterAction.GRANTS_CHANGED


# ------------------------------------------------------------------ I7


def _pay(desk: Desk, actor: Actor, household_id: int, yuan: str) -> int:
    fee_id = charge_fee(desk, actor, ChargeFee.from_form({
        "household_id": household_id, "kind": "management", "amount_yuan": yuan,
        "due_on": "2026-06-30"}))
    return pay_fees(desk, actor, PayFees.from_form(
        {"household_id": household_id, "fee_ids": [fee_id], "payer_name": "payer"}))


def test_I7_receipts_numbered_in_sequence_per_site(desk: Desk, staff: Staffs) -> None:
    load_site(desk, read_site_file(EXAMPLES / "site.csv"))
    lakeside = Actor(create_staff(desk, NewStaff("lake-clerk", "湖畔 clerk", Role.CLERK,
                                                 PASSWORD, "lakeside")), "lakeside")
    wang = person(desk, "王建国").household_id
    huang = person(desk, "黄海").household_id
    assert wang is not None and huang is not None
    numbers = [_pay(desk, staff.clerk, wang, "100"), _pay(desk, lakeside, huang, "80"),
               _pay(desk, staff.clerk, wang, "100.50"), _pay(desk, lakeside, huang, "80")]
    assert numbers == [1, 1, 2, 2]
    # An account serves its own site only, and another site's households are not seen.
    with pytest.raises(PermissionDeniedError):
        _pay(desk, Actor(lakeside.staff_id, "sunrise-garden"), wang, "1")
    with pytest.raises(NotFoundError):
        _pay(desk, lakeside, wang, "1")


def test_I7_receipt_dates_never_go_backwards(desk: Desk, staff: Staffs,
                                             clock: FixedClock) -> None:
    wang = household = person(desk, "王建国").household_id
    assert household is not None and wang is not None
    _pay(desk, staff.clerk, household, "10")
    clock.advance(-timedelta(days=1))
    fee_id = charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household, "kind": "other", "amount_yuan": "5", "due_on": "2026-06-01"}))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        pay_fees(desk, staff.clerk, PayFees(household, (fee_id,), "payer"))
    assert refused.value.rule_id == "I7" and "never go backwards" in refused.value.message_en
    assert row_counts(desk) == before
    clock.advance(timedelta(days=1))
    assert pay_fees(desk, staff.clerk, PayFees(household, (fee_id,), "payer")) == 2


def test_I7_wrong_receipt_voided_and_rewritten_never_altered(desk: Desk, staff: Staffs) -> None:
    household = person(desk, "王建国").household_id
    assert household is not None
    fee_id = charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household, "kind": "management", "amount_yuan": "300",
        "due_on": "2026-06-30"}))
    number = pay_fees(desk, staff.clerk, PayFees(household, (fee_id,), "王建国"))
    # Amounts are never altered: not through the ORM, not in SQL.
    with desk.sessions() as s, pytest.raises(ImmutableRecordError):
        s.scalars(select(Receipt)).one().amount_fen = 30000 + 1
        s.flush()
    with desk.engine.connect() as conn, pytest.raises(Exception, match="voided, never altered"):
        conn.execute(text("UPDATE receipts SET amount_fen = 1"))
    # A clerk may not void; a lead voids and writes the right one.
    correction = VoidReceipt.from_form({"number": number, "reason": "wrong amount", "corrected": [
        {"item": "fee_settlement", "amount_yuan": "350", "fee_id": fee_id}]})
    with pytest.raises(PermissionDeniedError):
        void_receipt(desk, staff.clerk, correction)
    result = void_receipt(desk, staff.front_desk_lead, correction)
    assert (result.voided, result.replacement) == (1, 2)
    old, new = receipts(desk)
    assert old.amount_fen == 30000 and old.is_void and old.void_reason == "wrong amount"
    assert new.amount_fen == 35000 and new.replaces_receipt_id == old.id and not new.is_void
    with desk.sessions() as s:
        from central.models import Fee

        fee = s.get(Fee, fee_id)
        assert fee is not None and fee.settled_by_receipt_id == new.id


def test_I7_no_money_without_a_receipt(desk: Desk, staff: Staffs) -> None:
    issue(desk, staff.clerk, family_of_wang(desk, owner_line(desk, "04A1B2C3", "王建国")))
    # Every fen the desk took is on a receipt line naming what it was for.
    [receipt] = receipts(desk)
    assert sum(line.amount_fen for line in receipt.lines) == receipt.amount_fen == 2000
    with desk.sessions.begin() as s:
        s.scalars(select(SiteSettings)).one().card_fee_fen = 0
    # A free card takes no money and writes no receipt.
    issue(desk, staff.clerk, family_of_wang(desk, owner_line(desk, "04A1B2C4", "张丽",
                                                             "spouse")))
    assert len(receipts(desk)) == 1


def test_forms_report_every_missing_field_and_write_nothing(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(InvalidInputError) as invalid:
        IssueResidentCards.from_form({"household_id": "x", "lines": [
            {"uid": "zz", "relationship": "cousin"}, {"uid": "04A1B2C3", "holder_person_id": 1,
                                                      "new_holder": {"name": "a"}}]})
    fields = {e.field for e in invalid.value.errors}
    assert fields == {"household_id", "applicant_person_id", "lines[0].uid",
                      "lines[0].relationship", "lines[0].holder_person_id",
                      "lines[1].holder_person_id"}
    body = invalid.value.as_dict()
    assert body["error"] == "input" and len(body["errors"]) == 6
    assert all(e["message_zh"] and e["message_en"] for e in body["errors"])
    assert row_counts(desk) == before
