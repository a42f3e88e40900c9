"""Small pieces the parking services share: plates as the desk writes them, the site's
car-park access group, a card's running subscription."""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import select

from central.form_fields import Text
from central.models import AccessGroup, Card, Gate, GateRole, ParkingSubscription
from central.refusals import ConflictError
from central.services.context import Action

BARRIER_ROLES = frozenset({GateRole.BARRIER_ENTRY, GateRole.BARRIER_EXIT})
# Separators people write inside a plate (粤B·12345, 粤B 12345, 粤B-12345).
_PLATE_NOISE = str.maketrans("", "", " \t·•.-_")


def normalize_plate(text: str) -> str:
    """A plate as stored: upper case, no spaces or separators (``粤b·123 45`` → ``粤B12345``)."""
    return text.translate(_PLATE_NOISE).upper()


PLATE_DOC = "the plate as written (`粤B·12345`); stored upper case, separators dropped"
# A plate in a form, stored as normalize_plate writes it.
Plate = Annotated[str, Text(max=16, then=normalize_plate, doc=PLATE_DOC)]


def carpark_group(act: Action) -> AccessGroup:
    """The access group the site's car-park barriers accept: what a paid subscription adds
    to its card. Taken from the gates themselves, so a site needs no extra setting; a site
    whose barriers accept several groups must be told apart by hand (refused here)."""
    groups = {g.id: g for g in act.session.scalars(
        select(AccessGroup).join(AccessGroup.gates).where(
            Gate.site_id == act.site.id, Gate.role.in_(BARRIER_ROLES)))}
    if len(groups) != 1:
        names = ", ".join(sorted(g.name for g in groups.values())) or "none"
        raise ConflictError(f"无法确定停车场门禁组（道闸接受：{names}）",
                            f"cannot tell the car-park access group (barriers accept: {names})")
    return next(iter(groups.values()))


def running_subscription(card: Card) -> ParkingSubscription | None:
    """The card's subscription that has not been ended, if any (one per card)."""
    return next((s for s in card.parking_subscriptions if s.ended_on is None), None)
