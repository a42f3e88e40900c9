"""The desk's one search box: ``GET /search?q=...`` finds households (by unit), people (by
name or phone), cards (by UID in any spelling, the desk reader's decimal included) and
vehicles (by plate), best first (central/services/search.py). Typed as the clerk types,
so every answer is a short list with what it takes to pick the right one, and where the
pick leads."""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Annotated, Literal

from fastapi import Query, Request
from pydantic import BaseModel, Field

from central.api.body import query_reader
from central.api.routing import protected_router
from central.api.security import ActorDep, reading
from central.models import CardState, HolderKind, HouseholdKind
from central.services.search import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_QUERY,
    CardHit,
    Hit,
    HouseholdHit,
    Link,
    LinkKind,
    Match,
    MatchedOn,
    PersonHit,
    VehicleHit,
)
from central.services.search import search as find

router = protected_router("search")


class LinkOut(BaseModel):
    """Where picking the hit leads: a household or person by id, a card by UID."""

    kind: LinkKind
    target: str = Field(description="the household's or person's id, or the card's UID")


class _HitOut(BaseModel):
    match: Match = Field(description="ranked exact, prefix / last_digits, contains")
    matched_on: MatchedOn = Field(description="what the text matched; `reader_decimal_other_"
                                  "order`: a desk reader's decimal read in the byte order "
                                  "the site's setting does not name")
    link: LinkOut | None


class HouseholdHitOut(_HitOut):
    """A unit and a household living in it now (none: the unit is vacant)."""

    kind: Literal["household"] = "household"
    unit_id: int
    unit: str = Field(description="building-number, e.g. `1-1201`")
    household_id: int | None
    household_kind: HouseholdKind | None
    members: list[str] = Field(description="names, the householder first")


class PersonHitOut(_HitOut):
    """Someone on record (visitors are not searched, G5)."""

    kind: Literal["person"] = "person"
    person_id: int
    name: str
    holder_kind: HolderKind
    phone: str = Field(description="masked, `138****0001`")
    household_id: int | None
    unit: str | None
    organisation: str


class CardHitOut(_HitOut):
    """A card, its state and holder."""

    kind: Literal["card"] = "card"
    uid: str
    state: CardState
    valid_until: date | None = Field(description="inclusive, site-local; null: no expiry")
    holder_person_id: int | None
    holder_name: str | None
    holder_kind: HolderKind | None
    household_id: int | None
    unit: str | None


class VehicleHitOut(_HitOut):
    """A vehicle, its owner and the card its monthly parking runs on."""

    kind: Literal["vehicle"] = "vehicle"
    vehicle_id: int
    plate: str
    owner_person_id: int | None
    owner_name: str | None
    household_id: int | None
    unit: str | None
    card_uid: str | None = Field(description="the card of its running monthly parking")
    paid_until: date | None


HitOut = Annotated[HouseholdHitOut | PersonHitOut | CardHitOut | VehicleHitOut,
                   Field(discriminator="kind")]


class SearchOut(BaseModel):
    """The hits for one text, best first."""

    q: str
    hits: list[HitOut]


def _link(link: Link | None) -> LinkOut | None:
    return None if link is None else LinkOut(kind=link.kind, target=link.target)


_OUT: dict[type, type[HouseholdHitOut | PersonHitOut | CardHitOut | VehicleHitOut]] = {
    HouseholdHit: HouseholdHitOut, PersonHit: PersonHitOut, CardHit: CardHitOut,
    VehicleHit: VehicleHitOut}


def _hit(hit: Hit) -> HouseholdHitOut | PersonHitOut | CardHitOut | VehicleHitOut:
    # The answer's fields are the service's, by the same names, and the link.
    values = {f.name: getattr(hit, f.name) for f in fields(hit)}
    return _OUT[type(hit)].model_validate({**values, "link": _link(hit.link)})


@router.get("/search")
def search(
        request: Request, actor: ActorDep,
        q: Annotated[str | None, Query(
            description="what the clerk typed: a unit (`1栋2单元301`, `1-2-301`), a name, a "
                        "phone (whole or its last digits), a card UID (hex in any spelling, "
                        "or the desk reader's 10 digits), a plate; blank finds nothing",
            json_schema_extra={"maxLength": MAX_QUERY})] = None,
        limit: Annotated[str | None, Query(json_schema_extra={
            "type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            description=f"at most this many hits (default {DEFAULT_LIMIT})")] = None,
) -> SearchOut:
    """Households, people, cards and vehicles the text names, exact matches first, then
    those starting with it, then those containing it. ID numbers are never searched (G5)."""
    r = query_reader({"q": q, "limit": limit})
    text = r.opt_text("q", MAX_QUERY) or ""
    count = r.opt_integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    r.finish()
    with reading(request, actor) as act:
        return SearchOut(q=text, hits=[_hit(h) for h in find(act, text, count)])
