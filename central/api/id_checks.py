"""The director's alarm for ID numbers that did not pass the desk's check
(central/services/id_checks.py): who tried, on whom, in which operation, when."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from pydantic import BaseModel

from central.api.routing import protected_router
from central.api.security import ActorDep, reading
from central.services import id_checks

router = protected_router("id checks")


class IdCheckFailureOut(BaseModel):
    """One failed check (neither the presented nor the stored number is kept)."""

    at: datetime
    operation: str
    staff: str
    person_id: int
    person_name: str
    while_suspended: bool


@router.get("/id-check-failures")
def list_id_check_failures(request: Request, actor: ActorDep) -> list[IdCheckFailureOut]:
    """The site's failed ID-number checks, newest first: several on one person, or by one
    staff member, suspend further checks and are worth a question."""
    with reading(request, actor) as act:
        return [IdCheckFailureOut(at=f.at, operation=f.operation, staff=f.staff_username,
                                  person_id=f.person_id, person_name=f.person_name,
                                  while_suspended=f.while_suspended)
                for f in id_checks.list_id_check_failures(act)]
