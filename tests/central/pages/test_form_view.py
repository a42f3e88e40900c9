"""A desk input's one declaration as a page form: drawn from the declaration, and a posted
form read back through the same reader the API uses."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from central.form_input import read_input
from central.models import PaymentMethod, Relationship
from central.pages.form_view import GroupView, form_view, posted_values, unplaced_errors
from central.refusals import FieldError, InvalidInputError
from central.services.resident_cards import IssueResidentCards
from central.services.stored_value import TopUpCard

TZ = "Asia/Shanghai"


def test_a_form_is_drawn_from_its_declaration() -> None:
    view = form_view(TopUpCard, {"amount_yuan": "20.5"},
                     [FieldError("amount_yuan", "金额有误", "bad amount")])
    by_name = {f.name: f for f in view if not isinstance(f, GroupView)}
    assert by_name["uid"].widget == "uid" and by_name["uid"].required
    assert by_name["amount_yuan"].widget == "money"
    assert by_name["amount_yuan"].value == "20.5"
    assert by_name["amount_yuan"].errors[0].message_zh == "金额有误"
    assert by_name["method"].widget == "select"
    assert ("cash", "Cash") in by_name["method"].options


def test_list_of_nested_inputs_draws_numbered_rows() -> None:
    view = form_view(IssueResidentCards, rows={"lines": 3}, leave_out={"household_id"})
    lines = next(v for v in view if isinstance(v, GroupView) and v.name == "lines")
    assert len(lines.rows) == 3
    names = [f.name for f in lines.rows[2] if not isinstance(f, GroupView)]
    assert "lines[2].uid" in names


def test_posted_rows_are_read_by_the_api_reader() -> None:
    form = FormData([
        ("csrf", "x"), ("household_id", "7"), ("applicant_person_id", "3"),
        ("applicant_in_person", "true"),
        ("lines[0].uid", "04:a1:b2:c3"), ("lines[0].relationship", "self"),
        ("lines[0].holder_person_id", "3"), ("lines[0].holder_signoff.signer_name", "张伟"),
        # A row left blank is no card.
        ("lines[1].uid", ""), ("lines[1].relationship", ""),
        ("payment_method", "cash")])
    inp = read_input(IssueResidentCards, posted_values(IssueResidentCards, form, TZ))
    assert inp.household_id == 7 and inp.applicant_in_person is True
    assert len(inp.lines) == 1
    assert inp.lines[0].uid == "04A1B2C3"
    assert inp.lines[0].relationship is Relationship.SELF
    assert inp.payment_method is PaymentMethod.CASH


def test_a_half_filled_form_reports_every_field() -> None:
    form = FormData([("lines[0].uid", "zz"), ("payment_method", "cash")])
    with pytest.raises(InvalidInputError) as caught:
        read_input(IssueResidentCards, posted_values(IssueResidentCards, form, TZ))
    fields = {e.field for e in caught.value.errors}
    assert {"household_id", "lines[0].uid"} <= fields
    view = form_view(IssueResidentCards, posted_values(IssueResidentCards, form, TZ),
                     caught.value.errors)
    assert not [e for e in unplaced_errors(view, caught.value.errors)
                if e.field in {"household_id", "lines[0].uid"}]


def test_a_local_time_gets_the_site_offset() -> None:
    from central.services.visitors import RegisterVisitor
    values = posted_values(RegisterVisitor, {"time_in": "2026-06-09T10:30"}, TZ)
    assert values["time_in"] == "2026-06-09T10:30:00+08:00"
