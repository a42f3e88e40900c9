"""Rule H7 (temporary passes at most 3 days, parking permits at most 7, a resident's visitor
confirmed by that resident) and G5's visitor register at the gate."""

# Tests are named after the rule they pin (test_H7_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from central.models import ConfirmationMethod, HolderKind, VisitorPass
from central.refusals import ConflictError, InvalidInputError, RuleRefused
from central.services.context import Desk
from central.services.visitors import (
    IssueParkingPermit,
    IssueVisitorPass,
    RegisterVisitor,
    issue_parking_permit,
    issue_visitor_pass,
    record_visitor_exit,
    register_visitor,
    return_parking_permit,
    visitor_register,
)
from edge.decision import Reason

from .conftest import NOW, Staffs, card, groups_of, person, register, row_counts, signed
from .helpers import Gate

VISITOR = {"name": "访客甲", "id_number": "110101199003071234"}


def pass_form(desk: Desk, until: str = "2026-06-11", **extra: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"visitor": VISITOR, "valid_from": "2026-06-09", "valid_until": until,
                            "invited_by_person_id": person(desk, "王建国").id,
                            "confirmation": {"person_id": person(desk, "王建国").id,
                                             "method": "phone",
                                             "confirmed_at": "2026-06-09T09:55:00+08:00"}}
    form.update(extra)
    return {k: v for k, v in form.items() if v is not None}


def issue(desk: Desk, staff: Staffs, **extra: Any) -> Any:
    return issue_visitor_pass(desk, staff.clerk, IssueVisitorPass.from_form(pass_form(desk,
                                                                                     **extra)))


# ------------------------------------------------------------------ H7: passes


def test_H7_temporary_pass_at_most_three_days(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        issue(desk, staff, until="2026-06-12")  # 9, 10, 11, 12: four days
    assert refused.value.rule_id == "H7" and refused.value.field == "valid_until"
    assert row_counts(desk) == before
    issued = issue(desk, staff, until="2026-06-11")
    assert (issued.valid_from, issued.valid_until) == (date(2026, 6, 9), date(2026, 6, 11))


def test_H7_invited_visitor_is_confirmed_by_that_resident(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as missing:
        issue(desk, staff, confirmation=None)
    assert missing.value.rule_id == "H7"
    someone_else = {"person_id": person(desk, "李明").id, "method": "phone",
                    "confirmed_at": "2026-06-09T09:55:00+08:00"}
    with pytest.raises(RuleRefused) as other:
        issue(desk, staff, confirmation=someone_else)
    assert other.value.rule_id == "H7" and "王建国" in other.value.message_zh
    assert row_counts(desk) == before
    issued = issue(desk, staff)
    with desk.sessions() as s:
        row = s.get(VisitorPass, issued.pass_id)
        assert row is not None
        assert row.confirmed_by_person_id == person(desk, "王建国").id
        assert row.confirmation_method is ConfirmationMethod.PHONE
        assert row.confirmed_at == datetime(2026, 6, 9, 1, 55, tzinfo=UTC)


def test_H7_uninvited_visitor_needs_no_resident(desk: Desk, staff: Staffs) -> None:
    issued = issue(desk, staff, invited_by_person_id=None, confirmation=None)
    assert person(desk, "访客甲").holder_kind is HolderKind.VISITOR
    assert issued.card_uid is None


def test_H7_pass_card_valid_only_for_the_pass(desk: Desk, staff: Staffs,
                                             tmp_path: Path) -> None:
    issued = issue(desk, staff, card_uid="0E0E0E01", signoff=signed("访客甲"))
    assert issued.card_uid == "0E0E0E01"
    assert card(desk, "0E0E0E01").valid_until == date(2026, 6, 11)
    assert groups_of(desk, "0E0E0E01") == ["b1", "common"]  # the host's building
    assert register(desk)[-1].holder_name == "访客甲"
    gate = Gate(desk, tmp_path / "auth.db")
    assert gate.tap("0E0E0E01", datetime(2026, 6, 11, 23, 0)) is Reason.GRANTED
    assert gate.tap("0E0E0E01", datetime(2026, 6, 12, 0, 1)) is Reason.EXPIRED
    with pytest.raises(RuleRefused) as unsigned:
        issue(desk, staff, card_uid="0E0E0E02")
    assert unsigned.value.rule_id == "I1"


def test_H7_pass_never_starts_in_the_past(desk: Desk, staff: Staffs) -> None:
    with pytest.raises(InvalidInputError):
        issue(desk, staff, **{"valid_from": "2026-06-08", "until": "2026-06-09"})


# ------------------------------------------------------------------ H7: parking permits


def permit(desk: Desk, staff: Staffs, until: str) -> int:
    return issue_parking_permit(desk, staff.clerk, IssueParkingPermit.from_form({
        "plate": "粤A 00001", "host_person_id": person(desk, "王建国").id,
        "valid_from": "2026-06-09", "valid_until": until}))


def test_H7_temporary_parking_permit_at_most_seven_days(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        permit(desk, staff, "2026-06-16")  # 9..16: eight days
    assert refused.value.rule_id == "H7"
    assert row_counts(desk) == before
    permit_id = permit(desk, staff, "2026-06-15")
    return_parking_permit(desk, staff.clerk, permit_id)
    with pytest.raises(ConflictError):
        return_parking_permit(desk, staff.clerk, permit_id)


def test_H7_parking_permit_for_a_resident_only(desk: Desk, staff: Staffs) -> None:
    with pytest.raises(RuleRefused) as refused:
        issue_parking_permit(desk, staff.clerk, IssueParkingPermit.from_form({
            "plate": "粤A00001", "host_person_id": person(desk, "周静").id,  # a merchant
            "valid_from": "2026-06-09", "valid_until": "2026-06-10"}))
    assert (refused.value.rule_id, refused.value.field) == ("H7", "host_person_id")


# ------------------------------------------------------------------ G5: the register


def registration(**extra: Any) -> RegisterVisitor:
    form = {"name": "访客乙", "id_number": "440301199512121234", "plate": "粤b·54321",
            "items": "笔记本电脑一台", "gate_code": "main-gate"}
    form.update(extra)
    return RegisterVisitor.from_form({k: v for k, v in form.items() if v is not None})


def test_G5_visitor_registered_with_name_id_plate_time_and_items(desk: Desk,
                                                                  staff: Staffs) -> None:
    view = register_visitor(desk, staff.guard, registration())
    assert (view.name, view.plate, view.items) == ("访客乙", "粤B54321", "笔记本电脑一台")
    assert view.time_in == NOW and view.time_out is None
    assert view.id_number == "440***********1234"  # what the guard sees back
    record_visitor_exit(desk, staff.guard, view.registration_id)
    [listed] = visitor_register(desk, staff.director, date(2026, 6, 9))
    assert listed.id_number == "440301199512121234" and listed.time_out == NOW
    assert visitor_register(desk, staff.guard, date(2026, 6, 10)) == ()


def test_G5_no_registration_without_the_id_number(desk: Desk, staff: Staffs) -> None:
    before = row_counts(desk)
    with pytest.raises(RuleRefused) as refused:
        register_visitor(desk, staff.guard, registration(id_number=None))
    assert refused.value.rule_id == "G5" and refused.value.field == "id_number"
    assert row_counts(desk) == before
