"""Change of owner (房屋转让), rule H8: the old owner's fees settled first; the old
household's cards stop the day the new owner moves in."""

from __future__ import annotations

from fastapi import Request
from pydantic import BaseModel

from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.state import api_state
from central.services import ownership

router = protected_router("households")
TRANSFER_BODY = Body(ownership.TransferOwnership, name="TransferBody")


class TransferOut(BaseModel):
    """The new household and owner; the old household's cards that were stopped."""

    household_id: int
    owner_person_id: int
    cards_stopped: list[str]


@router.post("/ownership-transfers", status_code=201,
             responses=error_responses(404, 409, 413, 415), openapi_extra=TRANSFER_BODY.openapi)
def transfer_ownership(request: Request, actor: ActorDep, body: BodyDep) -> TransferOut:
    """Register a unit's new owner (H8). Refused while the old owner has unpaid fees; a
    tenancy of the unit is not ended by the sale."""
    inp = TRANSFER_BODY.read(body)
    result = ownership.transfer_ownership(api_state(request).desk, actor, inp)
    return TransferOut(household_id=result.household_id, owner_person_id=result.owner_person_id,
                       cards_stopped=list(result.cards_stopped))
