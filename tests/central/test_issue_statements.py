"""What one resident card issue asks of the database (issue 13: bench.desk_issue showed 20
clerks over their p99 goal, the desk's CPU per issue 20 times the bare write's). Each
statement through the ORM costs the desk CPU: these pin the ones the issue path gave up,
so none creeps back unnoticed, and check that the first gate record of a card new to the
desk is written without looking for an earlier one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from central.models import AuthLogEntry
from central.services.card_changes import CardAction, format_card
from central.services.context import Desk
from central.services.resident_cards import IssueResidentCards, issue_resident_cards

from .conftest import Staffs, application, confirmation, new_line, signed

# BEGIN; staff; site with its settings; household with unit and building; applicant; the
# new holder; the card looked up, inserted and activated; the building's default groups;
# the cards in use (I4); application and evidence; last receipt, receipt, its line (I2);
# register (I1); two grants; the gate record (auth_log) with its site's next number.
# On PostgreSQL: no BEGIN statement (the driver begins), the two grants in one INSERT, the
# site row locked for the gate record's number (SQLite's IMMEDIATE transaction already
# holds the write lock), and the desk workers told of the change (pg_notify).
STATEMENTS_FOR_ONE_NEW_CARD = {"sqlite": 21, "postgresql": 21}


@contextmanager
def statements(desk: Desk) -> Iterator[list[str]]:
    """Every SQL statement the desk's engine runs meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(desk.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(desk.engine, "before_cursor_execute", record)


def _new_child(desk: Desk, uid: str, name: str) -> IssueResidentCards:
    return IssueResidentCards.from_form(application(
        desk, "王建国", [new_line(uid, name, "child")],
        owner_confirmation=confirmation(desk, "王建国")))


def _issue_new_child(desk: Desk, staff: Staffs, uid: str, name: str) -> None:
    issue_resident_cards(desk, staff.clerk, _new_child(desk, uid, name))


def _auth_log(desk: Desk, uid: str) -> list[str]:
    with desk.sessions() as s:
        return list(s.scalars(select(AuthLogEntry.card).where(AuthLogEntry.uid == uid)
                              .order_by(AuthLogEntry.seq)))


def test_one_new_family_members_card_takes_a_fixed_number_of_statements(
        desk: Desk, staff: Staffs) -> None:
    _issue_new_child(desk, staff, "04C0FFEE000001", "王小一")  # the first: caches warm
    form = _new_child(desk, "04C0FFEE000002", "王小二")
    with statements(desk) as seen:
        issue_resident_cards(desk, staff.clerk, form)
    expected = STATEMENTS_FOR_ONE_NEW_CARD[desk.engine.dialect.name]
    assert len(seen) == expected, "\n".join(seen)
    # A card new to the desk: nothing to look up before its first gate record.
    assert not any(s.lstrip().upper().startswith("SELECT") and "FROM auth_log" in s for s in seen)
    assert not any("FROM grants" in s or "FROM parking_subscriptions" in s for s in seen)
    [entry] = _auth_log(desk, "04C0FFEE000002")
    assert '"status":"active"' in entry.replace(" ", "")


def test_a_reissued_formatted_card_still_appends_after_its_last_record(
        desk: Desk, staff: Staffs) -> None:
    _issue_new_child(desk, staff, "04C0FFEE000003", "王小三")
    format_card(desk, staff.clerk, CardAction.from_form({
        "uid": "04C0FFEE000003", "reason": "返还", "signoff": signed("王小三")}))
    form = _new_child(desk, "04C0FFEE000003", "王小四")
    with statements(desk) as seen:
        issue_resident_cards(desk, staff.clerk, form)
    # Not new to the desk: its last gate record is read before the new one is written.
    assert any(s.lstrip().upper().startswith("SELECT") and "FROM auth_log" in s for s in seen)
    issued, formatted, reissued = _auth_log(desk, "04C0FFEE000003")
    assert formatted not in (issued, reissued)
    assert '"status":"active"' in reissued.replace(" ", "")
