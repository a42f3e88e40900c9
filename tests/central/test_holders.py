"""Rules H1–H5 and H8: who may hold a card, on what evidence, and for how long."""

# Tests are named after the rule they pin (test_I4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from central.clock import FixedClock
from central.models import (
    CardState,
    ConfirmationMethod,
    Evidence,
    EvidenceKind,
    Household,
    HouseholdKind,
    SiteSettings,
)
from central.refusals import RuleRefused
from central.services.card_changes import CardAction, renew_card
from central.services.context import Desk
from central.services.fees import ChargeFee, PayFees, charge_fee, pay_fees
from central.services.other_cards import (
    IssueMerchantCard,
    IssueStaffCard,
    issue_merchant_card,
    issue_staff_card,
)
from central.services.ownership import TransferOwnership, transfer_ownership
from central.services.resident_cards import IssueResidentCards, issue_resident_cards

from .conftest import (
    Staffs,
    application,
    auth_log,
    card,
    confirmation,
    new_line,
    owner_line,
    person,
    receipts,
    register,
    row_counts,
    signed,
)


def issue(desk: Desk, staff: Staffs, form: dict[str, object]) -> object:
    return issue_resident_cards(desk, staff.clerk, IssueResidentCards.from_form(form))


# ------------------------------------------------------------------ H1


def test_H1_owner_and_family_cards_valid_two_years(desk: Desk, staff: Staffs) -> None:
    result = issue(desk, staff, application(desk, "王建国", [
        owner_line(desk, "04A1B2C3", "王建国"),
        owner_line(desk, "04A1B2C4", "张丽", "spouse")]))
    assert result.cards[0].valid_until == date(2028, 6, 8)  # type: ignore[attr-defined]
    assert card(desk, "04A1B2C4").valid_until == date(2028, 6, 8)
    assert card(desk, "04A1B2C4").valid_from == date(2026, 6, 9)


def test_H1_identity_checked_against_owner_record(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    wrong_id = owner_line(desk, "04A1B2C3", "张丽", "spouse",
                          id_number_presented="440301199999999999")
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, application(desk, "王建国", [wrong_id]))
    assert refused.value.rule_id == "H1"
    assert refused.value.field == "lines[0].id_number_presented"
    before["id_check_failures"] += 1  # the mismatch is kept for the director (id_checks.py)
    no_id = owner_line(desk, "04A1B2C3", "张丽", "spouse", id_number_presented=None)
    with pytest.raises(RuleRefused, match="check the holder's ID") as refused:
        issue(desk, staff, application(desk, "王建国", [no_id]))
    # Someone of another household is not on this owner's record.
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, application(desk, "王建国", [owner_line(desk, "04A1B2C3", "李明",
                                                                    "other_relative")]))
    assert refused.value.rule_id == "H1"
    assert "not on this household's record" in refused.value.message_en
    assert row_counts(desk) == before


def test_H1_family_without_record_needs_owner_confirmation(desk: Desk, staff: Staffs) -> None:
    form = application(desk, "王建国", [new_line("04A1B2C5", "王奶奶", "parent")])
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, form)
    assert (refused.value.rule_id, refused.value.field) == ("H1", "owner_confirmation")
    assert "phoning the owner" in refused.value.message_en
    assert "致电业主核实" in refused.value.message_zh
    # A "confirmation" from someone who is not an owner of this household does not count.
    with pytest.raises(RuleRefused, match="owner of this household"):
        issue(desk, staff, {**form, "owner_confirmation": confirmation(desk, "张丽")})
    assert row_counts(desk) == before

    issue(desk, staff, {**form, "owner_confirmation": confirmation(desk, "王建国")})
    with desk.sessions() as s:
        evidence = s.scalars(select(Evidence).where(
            Evidence.kind == EvidenceKind.OWNER_CONFIRMATION)).one()
        # Who confirmed, how, when — and which clerk recorded it.
        assert evidence.confirmed_by_person_id == person(desk, "王建国").id
        assert evidence.method is ConfirmationMethod.PHONE
        assert evidence.confirmed_at == datetime.fromisoformat("2026-06-09T09:50:00+08:00")
        assert evidence.recorded_by_staff_id == staff.clerk.staff_id
    grandma = person(desk, "王奶奶")
    assert grandma.household_id == person(desk, "王建国").household_id
    assert card(desk, "04A1B2C5").holder_person_id == grandma.id


# ------------------------------------------------------------------ H2


def test_H2_tenant_needs_lease_contract_and_id_copy(desk: Desk, staff: Staffs) -> None:
    form = application(desk, "赵磊", [owner_line(desk, "0A0B0C01", "赵磊")])
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, form)
    assert (refused.value.rule_id, refused.value.field) == ("H2", "tenant_documents")
    assert "lease contract" in refused.value.message_en
    assert row_counts(desk) == before
    # Half a set of documents is an input error naming the missing one.
    with pytest.raises(Exception, match="id_copy_ref"):
        issue(desk, staff, {**form, "tenant_documents": {"lease_contract_ref": "合同 118"}})
    issue(desk, staff, {**form, "tenant_documents": {"lease_contract_ref": "合同 118",
                                                     "id_copy_ref": "身份证复印件 118"}})
    with desk.sessions() as s:
        kinds = {e.kind for e in s.scalars(select(Evidence))}
    assert {EvidenceKind.LEASE_CONTRACT, EvidenceKind.ID_COPY} <= kinds


def test_H2_tenant_validity_one_year_never_past_lease_end(desk: Desk, staff: Staffs,
                                                          clock: FixedClock) -> None:
    docs = {"lease_contract_ref": "合同 118", "id_copy_ref": "身份证复印件 118"}
    issue(desk, staff, application(desk, "赵磊", [owner_line(desk, "0A0B0C01", "赵磊")],
                                   tenant_documents=docs))
    # One year would be 8 June 2027; the lease ends on 31 March 2027.
    assert card(desk, "0A0B0C01").valid_until == date(2027, 3, 31)
    # A lease longer than a year: one year it is.
    with desk.sessions.begin() as s:
        tenancy = s.get(Household, person(desk, "赵磊").household_id)
        assert tenancy is not None and tenancy.kind is HouseholdKind.TENANCY
        tenancy.lease_end = date(2029, 1, 1)
    issue(desk, staff, application(desk, "赵磊", [new_line("0A0B0C02", "赵小雨", "child")],
                                   tenant_documents=docs))
    assert card(desk, "0A0B0C02").valid_until == date(2027, 6, 8)
    # A lease that has ended: no card at all.
    clock.advance(timedelta(days=1000))
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, application(desk, "赵磊", [new_line("0A0B0C03", "赵小风", "child")],
                                       tenant_documents=docs))
    assert refused.value.rule_id == "H2"
    assert "lease ended" in refused.value.message_en


# ------------------------------------------------------------------ H3


def merchant_form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "uid": "0B0B0B01", "new_holder": {"name": "周强", "organisation": "好邻居便利店"},
        "seal_application_ref": "申请书（公章）2026-07",
        "shop_manager": {"name": "店长 吴", "reference": "申请表 07"},
        "department_head": {"name": "部门负责人 郑", "reference": "签字 07"},
        "holder_signoff": signed("周强"), "access_groups": ["common", "shops"]}
    form.update(overrides)
    return form


@pytest.mark.parametrize(("missing", "field"), [
    ("seal_application_ref", "seal_application_ref"),
    ("shop_manager", "shop_manager"),
    ("department_head", "department_head"),
])
def test_H3_merchant_needs_seal_manager_and_department_head(
        desk: Desk, staff: Staffs, missing: str, field: str) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue_merchant_card(desk, staff.clerk,
                            IssueMerchantCard.from_form(merchant_form(**{missing: None})))
    assert (refused.value.rule_id, refused.value.field) == ("H3", field)
    assert row_counts(desk) == before


def test_H3_merchant_card_one_year_with_evidence(desk: Desk, staff: Staffs) -> None:
    result = issue_merchant_card(desk, staff.clerk, IssueMerchantCard.from_form(merchant_form()))
    assert result.cards[0].valid_until == date(2027, 6, 8)
    assert result.total_fen == 2000
    with desk.sessions() as s:
        kinds = {e.kind: e for e in s.scalars(select(Evidence))}
    assert kinds[EvidenceKind.DEPARTMENT_HEAD_SIGNOFF].confirmed_by_name == "部门负责人 郑"
    assert EvidenceKind.SHOP_MANAGER_VERIFICATION in kinds
    assert EvidenceKind.COMPANY_SEAL_APPLICATION in kinds


# ------------------------------------------------------------------ H4


def staff_form(**overrides: object) -> dict[str, object]:
    form: dict[str, object] = {
        "uid": "0C0C0C01", "holder_person_id": None, "new_holder": None,
        "written_application_ref": "工程部申请 2026-06-01",
        "department_head": {"name": "工程部经理 钱"},
        "holder_signoff": signed("孙伟"), "access_groups": ["common", "b1", "b2"]}
    form.update(overrides)
    return form


def test_H4_staff_card_authorised_only_by_leads(desk: Desk, staff: Staffs) -> None:
    form = staff_form(holder_person_id=person(desk, "孙伟").id)
    before = row_counts(desk)
    for actor in (staff.clerk, staff.director, staff.guard, staff.admin):
        with pytest.raises(RuleRefused) as refused:
            issue_staff_card(desk, actor, IssueStaffCard.from_form(form))
        assert refused.value.rule_id == "H4"
        assert "front-desk lead or the customer-service lead" in refused.value.message_en
    assert row_counts(desk) == before
    result = issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form(form))
    # Free (rule I2): no money, no receipt.
    assert (result.total_fen, result.receipt_number) == (0, None)
    assert receipts(desk) == []
    issue_staff_card(desk, staff.customer_service_lead, IssueStaffCard.from_form(
        staff_form(uid="0C0C0C02", holder_person_id=None,
                   new_holder={"name": "钱多", "organisation": "保洁部"},
                   holder_signoff=signed("钱多"))))
    assert card(desk, "0C0C0C02").state is CardState.ACTIVE


def test_H4_staff_card_needs_written_application_approved(desk: Desk, staff: Staffs) -> None:
    base = staff_form(holder_person_id=person(desk, "孙伟").id)
    for missing in ("written_application_ref", "department_head"):
        with pytest.raises(RuleRefused) as refused:
            issue_staff_card(desk, staff.front_desk_lead,
                             IssueStaffCard.from_form({**base, missing: None}))
        assert (refused.value.rule_id, refused.value.field) == ("H4", missing)


def test_H4_staff_card_renewal_also_leads_only(desk: Desk, staff: Staffs) -> None:
    issue_staff_card(desk, staff.front_desk_lead, IssueStaffCard.from_form(
        staff_form(holder_person_id=person(desk, "孙伟").id)))
    renewal = CardAction("0C0C0C01", "yearly", signoff=None)
    with pytest.raises(RuleRefused) as refused:
        renew_card(desk, staff.clerk, CardAction.from_form(
            {"uid": "0C0C0C01", "signoff": signed("孙伟")}))
    assert refused.value.rule_id == "H4"
    with pytest.raises(RuleRefused) as refused:
        renew_card(desk, staff.front_desk_lead, renewal)
    assert refused.value.rule_id == "I1"


# ------------------------------------------------------------------ H5


def test_H5_site_setting_no_expiry(desk: Desk, staff: Staffs) -> None:
    with desk.sessions.begin() as s:
        settings = s.scalars(select(SiteSettings)).one()
        settings.validity_owner_months = None  # 一经办理均为永久性
        settings.validity_family_months = 36
        settings.validity_tenant_months = None
    issue(desk, staff, application(desk, "王建国", [
        owner_line(desk, "04A1B2C3", "王建国"),
        owner_line(desk, "04A1B2C4", "张丽", "spouse")]))
    assert card(desk, "04A1B2C3").valid_until is None
    assert card(desk, "04A1B2C4").valid_until == date(2029, 6, 8)
    # On the wire: no end date, so the gates never expire it.
    assert '"valid_until":null' in auth_log(desk)[0].card
    # A tenant's card still never outlives the lease (H2 over H5).
    issue(desk, staff, application(desk, "赵磊", [owner_line(desk, "0A0B0C01", "赵磊")],
                                   tenant_documents={"lease_contract_ref": "合同",
                                                     "id_copy_ref": "复印件"}))
    assert card(desk, "0A0B0C01").valid_until == date(2027, 3, 31)


# ------------------------------------------------------------------ H8


def sale(desk: Desk, moved_in_on: str) -> dict[str, object]:
    return {"unit_id": _unit_of(desk, "王建国"), "new_owner": {"name": "马新", "id_number": "1"},
            "purchase_contract_ref": "购房合同 2026-55", "moved_in_on": moved_in_on}


def _unit_of(desk: Desk, name: str) -> int:
    with desk.sessions() as s:
        household = s.get(Household, person(desk, name).household_id)
        assert household is not None
        return household.unit_id


def test_H8_change_of_owner_refused_while_fees_unpaid(desk: Desk, staff: Staffs) -> None:
    household_id = person(desk, "王建国").household_id
    fee_id = charge_fee(desk, staff.clerk, ChargeFee.from_form({
        "household_id": household_id, "kind": "management", "amount_yuan": "356.40",
        "due_on": "2026-05-31", "description": "2026-05 物业费"}))
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        transfer_ownership(desk, staff.clerk, TransferOwnership.from_form(sale(desk, "2026-06-20")))
    assert refused.value.rule_id == "H8"
    assert "356.40" in refused.value.message_en and "未结清" in refused.value.message_zh
    assert row_counts(desk) == before
    pay_fees(desk, staff.clerk, PayFees.from_form(
        {"household_id": household_id, "fee_ids": [fee_id], "payer_name": "王建国"}))
    result = transfer_ownership(desk, staff.clerk,
                                TransferOwnership.from_form(sale(desk, "2026-06-20")))
    assert person(desk, "马新").household_id == result.household_id


def test_H8_old_household_cards_stop_when_new_owner_moves_in(desk: Desk, staff: Staffs,
                                                              clock: FixedClock) -> None:
    issue(desk, staff, application(desk, "王建国", [
        owner_line(desk, "04A1B2C3", "王建国"), owner_line(desk, "04A1B2C4", "张丽", "spouse")]))
    issue(desk, staff, application(desk, "赵磊", [owner_line(desk, "0A0B0C01", "赵磊")],
                                   tenant_documents={"lease_contract_ref": "合同",
                                                     "id_copy_ref": "复印件"}))
    seq_before = auth_log(desk)[-1].seq
    # Moving in on 20 June: the cards work through 19 June, at every gate.
    result = transfer_ownership(desk, staff.clerk,
                                TransferOwnership.from_form(sale(desk, "2026-06-20")))
    assert set(result.cards_stopped) == {"04A1B2C3", "04A1B2C4"}
    for uid in ("04A1B2C3", "04A1B2C4"):
        assert card(desk, uid).valid_until == date(2026, 6, 19)
    published = [e for e in auth_log(desk) if e.seq > seq_before]
    assert {e.uid for e in published} == {"04A1B2C3", "04A1B2C4"}
    assert all('"valid_until":"2026-06-19"' in e.card for e in published)
    # Another unit's cards are untouched (the tenant of 1202 lives elsewhere).
    assert card(desk, "0A0B0C01").state is CardState.ACTIVE

    # A sale registered after the move-in day revokes the cards at once.
    issue(desk, staff, application(desk, "李明", [owner_line(desk, "04A1B2D1", "李明")]))
    clock.advance(timedelta(days=2))
    transfer_ownership(desk, staff.clerk, TransferOwnership.from_form(
        {**sale(desk, "2026-06-10"), "unit_id": _unit_of(desk, "李明")}))
    assert card(desk, "04A1B2D1").state is CardState.REVOKED
    assert '"status":"revoked"' in auth_log(desk)[-1].card
    assert [e.action.value for e in register(desk)][-1] == "revoke"
