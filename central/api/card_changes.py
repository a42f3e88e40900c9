"""A card after issue: its grants, renewal, revocation and formatting (I6). Each writes the
register (I1) and, in the same transaction, the card's new record for the gates; and
whether that record has reached the gates."""

from __future__ import annotations

from datetime import date, datetime

from fastapi import Request
from pydantic import BaseModel, Field

from central.api.body import query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.gates import sync_source
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.shapes import IdPath, UidPath
from central.api.state import api_state
from central.models import CardState
from central.services import card_changes, gate_status

router = protected_router("cards")
CARD_ERRORS = error_responses(404, 409, 413, 415)
GRANTS_BODY = Body(card_changes.SetCardGrants, path=("uid",), name="GrantsBody")
CARD_ACTION_BODY = Body(card_changes.CardAction, path=("uid",))


class GrantsOut(BaseModel):
    """What changed."""

    uid: str
    added: list[str]
    removed: list[str]


class RenewOut(BaseModel):
    """The card's new last valid day."""

    uid: str
    valid_until: date | None = Field(description="inclusive, site-local; null: no expiry")


class CardStateOut(BaseModel):
    """The card's state after the action."""

    uid: str
    state: CardState


@router.put("/cards/{uid}/grants", responses=CARD_ERRORS, openapi_extra=GRANTS_BODY.openapi)
def set_card_grants(request: Request, actor: ActorDep, uid: UidPath,
                    body: BodyDep) -> GrantsOut:
    """Make an active card's access groups exactly these (staff cards: leads only, H4)."""
    inp = GRANTS_BODY.read(body, uid=uid)
    added, removed = card_changes.set_card_grants(api_state(request).desk, actor, inp)
    return GrantsOut(uid=inp.uid, added=added, removed=removed)


@router.post("/cards/{uid}/renew", responses=CARD_ERRORS, openapi_extra=CARD_ACTION_BODY.openapi)
def renew_card(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> RenewOut:
    """Extend a card by its holder kind's validity, from the day after its current end,
    never past a tenancy's lease end (H1–H5; staff cards: leads only, H4)."""
    inp = CARD_ACTION_BODY.read(body, uid=uid)
    until = card_changes.renew_card(api_state(request).desk, actor, inp)
    return RenewOut(uid=inp.uid, valid_until=until)


@router.post("/cards/{uid}/revoke", responses=CARD_ERRORS,
             openapi_extra=CARD_ACTION_BODY.openapi)
def revoke_card(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> CardStateOut:
    """Withdraw a card at every gate (it must be formatted before re-use, I6)."""
    inp = CARD_ACTION_BODY.read(body, uid=uid)
    card_changes.revoke_card(api_state(request).desk, actor, inp)
    return CardStateOut(uid=inp.uid, state=CardState.REVOKED)


@router.post("/cards/{uid}/format", responses=CARD_ERRORS,
             openapi_extra=CARD_ACTION_BODY.openapi)
def format_card(request: Request, actor: ActorDep, uid: UidPath, body: BodyDep) -> CardStateOut:
    """Format a card for re-use: every grant cleared, holder removed (I6). Refused while it
    holds a balance or a running parking subscription."""
    inp = CARD_ACTION_BODY.read(body, uid=uid)
    card_changes.format_card(api_state(request).desk, actor, inp)
    return CardStateOut(uid=inp.uid, state=CardState.FORMATTED)


class GateAppliedOut(BaseModel):
    """One gate and a card change."""

    device: str
    applied: bool
    applied_at: datetime | None = Field(description="when the desk learnt the gate had "
                                                    "applied it (its status said so)")


class ChangeSyncOut(BaseModel):
    """A card change at the gates: ``applied`` of ``total`` gates hold it (已同步 4/4)."""

    change_id: int = Field(description="the desk's number of the change")
    uid: str
    made_at: datetime
    relayed: bool = Field(description="false while the change has not yet left the desk for "
                                      "the site's list")
    applied: int
    total: int = Field(description="the gate controllers the site knows")
    gates: list[GateAppliedOut]


class CardSyncOut(BaseModel):
    """Whether a card's newest change has reached the gates."""

    uid: str
    change: ChangeSyncOut | None = Field(description="null: nothing of this card has been "
                                                     "sent to the gates")


def _change_out(sync: gate_status.ChangeSync) -> ChangeSyncOut:
    return ChangeSyncOut(change_id=sync.change_id, uid=sync.uid, made_at=sync.made_at,
                         relayed=sync.relayed, applied=sync.applied, total=sync.total,
                         gates=[GateAppliedOut(device=g.device, applied=g.applied,
                                               applied_at=g.applied_at) for g in sync.gates])


@router.get("/cards/{uid}/sync", responses=error_responses(503))
def get_card_sync(request: Request, actor: ActorDep, uid: UidPath) -> CardSyncOut:
    """Which gates have applied the card's newest change, and when ("已同步 4/4")."""
    q = query_reader({"uid": uid})
    card = q.uid("uid")
    q.finish()
    found = gate_status.cards_sync(api_state(request).desk, actor,
                                   sync_source(request, actor), [card])
    sync = found.get(card)
    return CardSyncOut(uid=card, change=None if sync is None else _change_out(sync))


@router.get("/card-changes/{change_id}/sync", responses=error_responses(503))
def get_change_sync(request: Request, actor: ActorDep, change_id: IdPath) -> ChangeSyncOut:
    """Which gates have applied one card change of the desk, and when."""
    q = query_reader({"change_id": change_id})
    number = q.integer("change_id", 1)
    q.finish()
    return _change_out(gate_status.change_sync(api_state(request).desk, actor,
                                               sync_source(request, actor), number))
