"""The read functions the desk pages list from: a unit's households for the choosers, the
goods slips with the overdue ones (G4), the parking permits out and the passes of a day
(H7, ID numbers masked by G5), the renovation ledger (H6, G6)."""

# Tests are named after the rule they pin (test_G4_...), as the issue asks.
# ruff: noqa: N802

from __future__ import annotations

from datetime import timedelta

import pytest

from central.clock import FixedClock
from central.models import HolderKind, HouseholdKind
from central.refusals import NotFoundError, PermissionDeniedError
from central.services.context import Desk
from central.services.desk_choices import site_gates, unit_households, unit_key
from central.services.goods import goods_slip, recent_goods_slips
from central.services.renovation import filing_summary, renovation_ledger
from central.services.renovation_approval import approve_renovation
from central.services.visitors import passes_valid_on, permits_out, return_parking_permit

from .conftest import NOW, Staffs, person
from .test_goods import issue as issue_slip
from .test_goods import let_out
from .test_renovation import file, lend, worker
from .test_visitors import issue as issue_pass
from .test_visitors import permit


@pytest.mark.parametrize(("text", "key"), [
    ("1-1201", ("1", "1201")), (" 1栋1201室 ", ("1", "1201")), ("S-01", ("S", "01")),
    ("1201", None), ("", None)])
def test_a_unit_is_typed_as_the_desk_writes_it(text: str, key: tuple[str, str] | None) -> None:
    assert unit_key(text) == key


def test_a_units_households_list_the_owners_one_first(desk: Desk, staff: Staffs) -> None:
    found = unit_households(desk, staff.clerk, unit="1-1202")
    assert [h.kind for h in found] == [HouseholdKind.OWNERSHIP, HouseholdKind.TENANCY]
    assert [p.name for p in found[0].owners] == ["陈国强"]
    assert [p.holder_kind for p in found[1].people] == [HolderKind.TENANT]
    by_household = unit_households(desk, staff.guard,
                                   household_id=found[1].household_id)
    assert by_household[0].household_id == found[1].household_id  # the one asked, first
    with pytest.raises(NotFoundError):
        unit_households(desk, staff.clerk, unit="9-999")
    with pytest.raises(PermissionDeniedError):
        unit_households(desk, staff.admin, unit="1-1202")
    assert [g.code for g in site_gates(desk, staff.guard)][:1] == ["main-gate"]


def test_G4_the_slips_list_marks_a_used_slip_not_filed_in_time(
        desk: Desk, staff: Staffs, clock: FixedClock) -> None:
    used = issue_slip(desk, staff)
    waiting = issue_slip(desk, staff, approved=False)
    let_out(desk, staff, used)
    listed = {s.number: s for s in recent_goods_slips(desk, staff.guard)}
    assert listed[waiting].approved_at is None and not listed[waiting].overdue
    assert listed[used].left_at is not None and not listed[used].overdue
    clock.set(NOW + timedelta(days=1, hours=1))  # 11:00 the next day: past 08:30
    late = goods_slip(desk, staff.clerk, used)
    assert late.overdue and late.unit == "1-1201"
    with pytest.raises(NotFoundError):
        goods_slip(desk, staff.clerk, 999)


def test_H7_permits_out_until_returned_and_passes_of_a_day_masked(
        desk: Desk, staff: Staffs) -> None:
    permit_id = permit(desk, staff, "2026-06-12")
    out = permits_out(desk, staff.guard)
    assert [(p.permit_id, p.host_name, p.unit) for p in out] == [(permit_id, "王建国",
                                                                  "1-1201")]
    return_parking_permit(desk, staff.guard, permit_id)
    assert permits_out(desk, staff.guard) == ()
    issue_pass(desk, staff)
    on_day = passes_valid_on(desk, staff.clerk, NOW.date())
    assert len(on_day) == 1 and on_day[0].invited_by == "王建国"
    assert "*" in on_day[0].id_number
    assert passes_valid_on(desk, staff.clerk, NOW.date() + timedelta(days=30)) == ()


def test_H6_the_ledger_counts_cards_out_and_deposits_held(desk: Desk, staff: Staffs) -> None:
    filed = file(desk, staff, approved=False)
    (line,) = renovation_ledger(desk, staff.guard)
    assert not line.approved and line.running and line.deposits_held == 2
    summary = filing_summary(desk, staff.clerk, filed.filing_id)
    assert not summary.approved and summary.contractor
    approve_renovation(desk, staff.director, filed.filing_id)
    lend(desk, staff, filed.filing_id, worker("04BB0001", "施工甲"))
    (line,) = renovation_ledger(desk, staff.clerk)
    assert line.approved and line.cards_out == 1
    assert person(desk, "王建国").household_id == summary.household_id
