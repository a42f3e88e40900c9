"""Checking an ID number presented at the desk against a person's record, without turning
the check into a way to read the record.

A clerk sees ``440***********1234`` (central/services/privacy.py); if every guess were
answered "matches" or "does not match" at once, the middle digits could be guessed. So:

- every mismatch is written to ``id_check_failures`` (in its own transaction, after the
  action's rollback) — the alarm the director reads at ``GET /api/v1/id-check-failures``;
- after ``PERSON_LIMIT`` mismatches on one person within ``WINDOW``, checks of that person
  are suspended (for every staff member); after ``STAFF_LIMIT`` mismatches by one staff
  member, that member's checks are suspended;
- a suspended check is refused even when the number is right, with the very answer a
  mismatch gets (same status, rule, field and words): the answer tells nothing more.

Rule G5 (严禁泄露登记信息) is why the number is masked; this keeps the mask meaningful.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from central.models import Person, Staff
from central.models.staff import IdCheckFailure
from central.refusals import RuleRefused
from central.services.context import Action, Desk, action

WINDOW = timedelta(hours=24)
PERSON_LIMIT = 3
STAFF_LIMIT = 5


@dataclass(frozen=True)
class _Failure:
    site_id: int
    person_id: int
    staff_id: int
    at: datetime
    operation: str
    while_suspended: bool


def same_id_number(a: str, b: str) -> bool:
    """Whether two written ID numbers are the same (spacing and the case of X aside)."""
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


@dataclass
class IdChecks:
    """The ID checks of one action; its failures are written when the action has ended."""

    operation: str
    failures: list[_Failure] = field(default_factory=list)

    def check(self, act: Action, person: Person, presented: str, rule: str,
              field_name: str) -> None:
        """Refuse under ``rule`` unless ``presented`` matches ``person``'s record and checks
        are not suspended; a person with no ID number on record passes (nothing to
        compare)."""
        if not person.id_number:
            return
        suspended = self._suspended(act, person.id)
        if not suspended and same_id_number(person.id_number, presented):
            return
        self.failures.append(_Failure(act.site.id, person.id, act.staff.id, act.now,
                                      self.operation, suspended))
        raise RuleRefused(
            rule, "所出示证件未通过与登记资料的核对（多次不符将暂停核对并通知管理处主任）",
            "the ID shown did not pass the check against the record (repeated mismatches "
            "suspend checks and alert the director)", field_name)

    def _suspended(self, act: Action, person_id: int) -> bool:
        since = act.now - WINDOW
        counted = (IdCheckFailure.at > since) & ~IdCheckFailure.while_suspended
        by_person = act.session.scalar(select(func.count()).select_from(IdCheckFailure).where(
            counted, IdCheckFailure.person_id == person_id)) or 0
        by_staff = act.session.scalar(select(func.count()).select_from(IdCheckFailure).where(
            counted, IdCheckFailure.staff_id == act.staff.id)) or 0
        return by_person >= PERSON_LIMIT or by_staff >= STAFF_LIMIT


@contextmanager
def checking_ids(desk: Desk, operation: str) -> Iterator[IdChecks]:
    """``with checking_ids(desk, "issue_goods_pass") as ids, action(desk) as act:`` — the
    action's refusal rolls its own writes back; the failed checks are then written here."""
    checks = IdChecks(operation)
    try:
        yield checks
    finally:
        if checks.failures:
            with action(desk) as act:
                act.session.add_all(IdCheckFailure(
                    site_id=f.site_id, person_id=f.person_id, staff_id=f.staff_id, at=f.at,
                    operation=f.operation, while_suspended=f.while_suspended)
                    for f in checks.failures)


@dataclass(frozen=True)
class IdCheckFailureView:
    """One failed check as the director reads it (no ID number: neither one is stored)."""

    at: datetime
    operation: str
    staff_username: str
    person_id: int
    person_name: str
    while_suspended: bool


def list_id_check_failures(act: Action, since: datetime | None = None
                           ) -> tuple[IdCheckFailureView, ...]:
    """The site's failed ID checks, newest first (after ``since``, when given)."""
    query = (select(IdCheckFailure, Staff.username, Person.name)
             .join(Staff, Staff.id == IdCheckFailure.staff_id)
             .join(Person, Person.id == IdCheckFailure.person_id)
             .where(IdCheckFailure.site_id == act.site.id)
             .order_by(IdCheckFailure.at.desc(), IdCheckFailure.id.desc()))
    if since is not None:
        query = query.where(IdCheckFailure.at > since)
    return tuple(IdCheckFailureView(row.at, row.operation, username, row.person_id, name,
                                    row.while_suspended)
                 for row, username, name in act.session.execute(query))
