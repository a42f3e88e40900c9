"""What the desk pages show before a card action, computed by the services without
writing: a household's quota (I4) and fee (I2) before its cards are issued, rule H4's
refusal before a staff card form, the loss queue (L2) and a replacement's fee (I3)."""

from __future__ import annotations

import pytest

from central.models import HolderKind, Relationship, Role
from central.refusals import ConflictError
from central.services.card_changes import site_access_groups
from central.services.context import Desk
from central.services.loss import (
    ReportLoss,
    ReviewLoss,
    loss_reports,
    replacement_preview,
    report_lost,
    review_loss,
)
from central.services.other_cards import card_fee, people_of_kind, staff_card_refusal
from central.services.resident_cards import (
    IssueResidentCards,
    PlannedLine,
    current_households,
    issue_resident_cards,
    resident_issue_preview,
)

from .conftest import Staffs, application, household_of, owner_line, person, row_counts, sign


def test_the_preview_computes_quota_and_fee_as_the_issue_does(desk: Desk,
                                                               staff: Staffs) -> None:
    household = household_of(desk, "李明")  # 89.5 m²: at most 4 once a holder is not direct
    before = row_counts(desk)
    direct = resident_issue_preview(desk, staff.clerk, household,
                                    [PlannedLine(Relationship.SPOUSE, None)] * 5)
    assert (direct.cards_in_use, direct.quota, direct.quota_applies) == (0, 4, False)
    assert direct.quota_refusal is None and direct.total_fee_fen == 5 * 2000
    assert [m.name for m in direct.members] == ["李明", "王芳"]
    over = resident_issue_preview(desk, staff.clerk, household,
                                  [PlannedLine(Relationship.FRIEND, None)] * 5)
    assert over.quota_applies and over.quota_refusal is not None
    assert over.quota_refusal.rule_id == "I4"
    assert row_counts(desk) == before  # nothing written

    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(
        application(desk, "李明", [owner_line(desk, "04A1B2C3", "李明")])))
    after = resident_issue_preview(desk, staff.clerk, household,
                                   [PlannedLine(Relationship.FRIEND, None)] * 3)
    assert after.cards_in_use == 1 and after.quota_refusal is None
    assert after.fee_per_card_fen == (2000, 2000, 2000)


def test_the_household_chooser_lists_current_households_with_their_householder(
        desk: Desk, staff: Staffs) -> None:
    listed = {h.unit_label: h.householder for h in current_households(desk, staff.clerk)}
    assert listed["1-1201"] == "王建国" and listed["1-101"] == "李明"


def test_rule_h4_refuses_all_but_the_two_leads() -> None:
    for role in Role:
        refusal = staff_card_refusal(role)
        if role in (Role.FRONT_DESK_LEAD, Role.CUSTOMER_SERVICE_LEAD):
            assert refusal is None
        else:
            assert refusal is not None and refusal.rule_id == "H4"
            assert "前台负责人或客服负责人" in refusal.message_zh


def test_fees_people_and_groups_for_the_other_forms(desk: Desk, staff: Staffs) -> None:
    assert card_fee(desk, staff.clerk, HolderKind.MERCHANT) == 2000
    assert card_fee(desk, staff.clerk, HolderKind.STAFF) == 0
    assert [p.name for p in people_of_kind(desk, staff.clerk, HolderKind.MERCHANT)] == ["周静"]
    assert [g.name for g in site_access_groups(desk, staff.clerk)] == [
        "b1", "b2", "carpark", "common", "shops"]


def test_the_loss_queue_and_the_replacement_preview(desk: Desk, staff: Staffs) -> None:
    issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(
        application(desk, "李明", [owner_line(desk, "04A1B2C3", "李明")])))
    with pytest.raises(ConflictError):
        replacement_preview(desk, staff.clerk, "04A1B2C3")  # not reported
    report = report_lost(desk, staff.clerk, ReportLoss(
        "04A1B2C3", person(desk, "李明").id, True, 0, True, sign("李明")))
    queue = loss_reports(desk, staff.clerk, pending_only=True)
    assert [(r.id, r.uid, r.holder_name) for r in queue] == [
        (report.report_id, "04A1B2C3", "李明")]
    preview = replacement_preview(desk, staff.clerk, "04A1B2C3")
    assert not preview.reviewed and preview.fee_fen == 2000  # lost: never free (I3)
    review_loss(desk, staff.director, ReviewLoss(report.report_id, True))
    assert loss_reports(desk, staff.clerk, pending_only=True) == []
    assert len(loss_reports(desk, staff.clerk, open_only=True)) == 1
    assert replacement_preview(desk, staff.clerk, "04A1B2C3").approved
