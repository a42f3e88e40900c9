"""The household, person and card pages: what the desk knows of them on one screen, with
the actions the caller's role may take from there."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from central.api.body import path_integer, path_uid
from central.api.state import api_state
from central.pages.page_request import requires
from central.pages.templating import PageContext, render
from central.services.household_record import card_record, household_record, person_record

router = APIRouter()

HouseholdPage = Annotated[PageContext, Depends(requires("get_household"))]
PersonPage = Annotated[PageContext, Depends(requires("get_person"))]
CardPage = Annotated[PageContext, Depends(requires("get_card"))]


@router.get("/households/{household_id}", response_class=HTMLResponse)
async def household_page(request: Request, ctx: HouseholdPage, household_id: str,
                         done: str | None = None) -> HTMLResponse:
    """A household: its people, cards, parking, fees owed, renovations, goods slips and
    register lines."""
    assert ctx.caller is not None
    record = await run_in_threadpool(household_record, api_state(request).desk,
                                     ctx.caller.actor, path_integer("household_id",
                                                                    household_id))
    return render(ctx, "directory/household.html", {"h": record, "done": done})


@router.get("/people/{person_id}", response_class=HTMLResponse)
async def person_page(request: Request, ctx: PersonPage, person_id: str) -> HTMLResponse:
    """A person and the cards they hold or held."""
    assert ctx.caller is not None
    record = await run_in_threadpool(person_record, api_state(request).desk,
                                     ctx.caller.actor, path_integer("person_id", person_id))
    return render(ctx, "directory/person.html", {"p": record})


@router.get("/cards/{uid}", response_class=HTMLResponse)
async def card_page(request: Request, ctx: CardPage, uid: str,
                    done: str | None = None) -> HTMLResponse:
    """A card: its state, holder, validity, where it opens, balance, parking, history."""
    assert ctx.caller is not None
    record = await run_in_threadpool(card_record, api_state(request).desk, ctx.caller.actor,
                                     path_uid("uid", uid))
    return render(ctx, "directory/card.html", {"c": record, "done": done})
