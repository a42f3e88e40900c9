"""Rule G5: personal ID numbers are never disclosed — one masking function, one role
policy, and every service output that carries an ID number goes through them."""

# Tests are named after the rule they pin (test_G5_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from central.models import Evidence, EvidenceKind, Role
from central.services.context import Actor, Desk
from central.services.privacy import FULL_ID_ROLES, id_number_for, mask_id_number
from central.services.renovation import (
    FileRenovation,
    IssueWorkerCards,
    file_renovation,
    filing_summary,
    issue_worker_cards,
)
from central.services.renovation_approval import approve_renovation
from central.services.visitors import (
    IssueVisitorPass,
    RegisterVisitor,
    issue_visitor_pass,
    register_visitor,
    visitor_register,
)

from .conftest import Staffs, household_of, person, signed
from .helpers import issue_wang

ID = "110101199003071234"
MASKED = "110***********1234"


def strings_in(value: Any) -> list[str]:
    """Every string inside a (nested) service result."""
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in strings_in(getattr(value, f.name))]
    if isinstance(value, tuple | list):
        return [s for item in value for s in strings_in(item)]
    return []


@pytest.mark.parametrize(("id_number", "shown"), [
    (ID, MASKED),
    ("11010119900307123X", "110***********123X"),
    ("440301900101123", "440********1123"),  # 15-digit (first generation) card
    ("E12345678", "*******78"),  # short (a passport): only the last two
    ("7", "*"),
    ("", ""),
    (None, ""),
])
def test_G5_mask_id_number(id_number: str | None, shown: str) -> None:
    assert mask_id_number(id_number) == shown
    if id_number:
        assert len(shown) == len(id_number)


@pytest.mark.parametrize("role", list(Role))
def test_G5_role_policy(role: Role) -> None:
    expected = ID if role in (Role.DIRECTOR, Role.ADMIN) else MASKED
    assert id_number_for(role, ID) == expected
    assert (role in FULL_ID_ROLES) == (role in (Role.DIRECTOR, Role.ADMIN))


def visitor_pass(desk: Desk, actor: Actor) -> Any:
    return issue_visitor_pass(desk, actor, IssueVisitorPass.from_form({
        "visitor": {"name": "访客甲", "id_number": ID}, "valid_from": "2026-06-09",
        "valid_until": "2026-06-09"}))


def test_G5_visitor_outputs_masked_except_for_the_director(desk: Desk, staff: Staffs) -> None:
    for actor in (staff.clerk, staff.front_desk_lead, staff.guard):
        assert ID not in strings_in(visitor_pass(desk, actor))
        assert MASKED in strings_in(visitor_pass(desk, actor))
    assert visitor_pass(desk, staff.director).id_number == ID
    register_visitor(desk, staff.guard, RegisterVisitor.from_form({"name": "访客乙",
                                                                   "id_number": ID}))
    for actor in (staff.guard, staff.clerk, staff.customer_service_lead):
        listed = visitor_register(desk, actor, date(2026, 6, 9))
        assert ID not in strings_in(listed) and MASKED in strings_in(listed)
    assert visitor_register(desk, staff.admin, date(2026, 6, 9))[0].id_number == ID


def test_G5_renovation_worker_outputs_masked_except_for_the_director(desk: Desk,
                                                                     staff: Staffs) -> None:
    filed = file_renovation(desk, staff.clerk, FileRenovation.from_form({
        "household_id": household_of(desk, "王建国"),
        "applicant_person_id": person(desk, "王建国").id, "starts_on": "2026-06-09",
        "ends_on": "2026-07-08", "self_renovation": True}))
    approve_renovation(desk, staff.director, filed.filing_id)
    cards = issue_worker_cards(desk, staff.clerk, IssueWorkerCards.from_form({
        "filing_id": filed.filing_id, "lines": [{"uid": "0D0D0D01", "signoff": signed("刘工"),
                                                  "worker": {"name": "刘工", "id_number": ID}}]}))
    assert ID not in strings_in(cards) and cards[0].id_number == MASKED
    assert ID not in strings_in(filing_summary(desk, staff.guard, filed.filing_id))
    assert filing_summary(desk, staff.director, filed.filing_id).workers[0].id_number == ID


def test_G5_the_paper_trail_keeps_only_the_masked_number(desk: Desk, staff: Staffs) -> None:
    issue_wang(desk, staff)  # the ID shown is noted on the application's evidence
    with desk.sessions() as s:
        evidence = s.scalars(select(Evidence).where(
            Evidence.kind == EvidenceKind.ID_CHECKED)).one()
    assert evidence.reference == "ID 440***********3456"
