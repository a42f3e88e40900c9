"""The IC card issue / anomaly register (IC卡发行/异常情况登记表, rule I1), read-only: the
API has no way to change it, and the database refuses anyone who tries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from central.api.body import query_reader
from central.api.reader_uids import CARD_QUERY
from central.api.routing import protected_router
from central.api.security import ActorDep
from central.api.shapes import INTEGER_DOC
from central.api.state import api_state
from central.models import HolderKind, RegisterAction
from central.services import register_book

router = protected_router("register")
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000


class RegisterEntryOut(BaseModel):
    """One line of the register, as written (names copied at the time)."""

    id: int
    entry_on: date
    entry_at: datetime
    action: RegisterAction
    card_uid: str
    holder_person_id: int | None
    holder_name: str
    holder_kind: HolderKind | None
    staff: str
    signed_by: str | None
    signoff_ref: str
    receipt_number: int | None
    related_card_uid: str | None
    detail: str


@router.get("/register")
def list_register(
        *, request: Request, actor: ActorDep,
        card: Annotated[str | None, CARD_QUERY],
        action: Annotated[str | None, Query(json_schema_extra={
            "enum": [a.value for a in RegisterAction]})] = None,
        since: Annotated[str | None, Query(json_schema_extra={"format": "date"},
                                           description="entries on or after")] = None,
        until: Annotated[str | None, Query(json_schema_extra={"format": "date"},
                                           description="entries on or before")] = None,
        before_id: Annotated[str | None, Query(json_schema_extra=INTEGER_DOC,
                                               description="page: entries older than this "
                                               "id")] = None,
        limit: Annotated[str | None, Query(json_schema_extra={
            "type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            description=f"at most this many (default {DEFAULT_LIMIT})")] = None,
) -> list[RegisterEntryOut]:
    """The register of the site, newest first; page with ``before_id``. ``card``: the
    card's lines, those of a replacement naming it included."""
    q = query_reader({"card": card, "action": action, "since": since, "until": until,
                      "before_id": before_id, "limit": limit})
    uid = q.uid("card") if q.present("card") else None
    what = q.opt_enum("action", RegisterAction)
    first, last = q.opt_date("since"), q.opt_date("until")
    before = q.opt_integer("before_id", 1)
    count = q.opt_integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    q.finish()
    wanted = register_book.RegisterFilter(since=first, until=last, action=what, card_uid=uid,
                                          before=before)
    return [RegisterEntryOut(
        id=e.id, entry_on=e.entry_on, entry_at=e.entry_at, action=e.action,
        card_uid=e.card_uid, holder_person_id=e.holder_person_id,
        holder_name=e.holder_name, holder_kind=e.holder_kind, staff=e.clerk_username,
        signed_by=e.signed_by, signoff_ref=e.signoff_ref, receipt_number=e.receipt_number,
        related_card_uid=e.related_card_uid, detail=e.detail)
        for e in register_book.find_register(api_state(request).desk, actor, wanted, count)]
