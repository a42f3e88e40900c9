"""The desk's one search box: a unit, a name, a phone, a card number in any spelling (the
desk reader's decimal too) or a plate. As the clerk types, ``/search/hits`` answers the
list (an htmx fragment under the box); Enter opens ``/search``, the same list as a page,
or the one thing found when the text named exactly one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.pages.page_request import requires, see_other
from central.pages.templating import PageContext, render
from central.services.search import MAX_QUERY, Hit, LinkKind, Match, search_desk

router = APIRouter()

SearchPage = Annotated[PageContext, Depends(requires("search"))]
TEXT = Annotated[str, Query(max_length=MAX_QUERY * 4)]
PATHS = {LinkKind.HOUSEHOLD: "/households/", LinkKind.PERSON: "/people/",
         LinkKind.CARD: "/cards/"}


def href(hit: Hit) -> str | None:
    """The page a hit opens."""
    link = hit.link
    return None if link is None else PATHS[link.kind] + link.target


async def _hits(request: Request, ctx: PageContext, q: str) -> list[Hit]:
    assert ctx.caller is not None
    text = q.strip()[:MAX_QUERY]
    if not text:
        return []
    return await run_in_threadpool(search_desk, api_state(request).desk, ctx.caller.actor,
                                   text)


@router.get("/search/hits", response_class=HTMLResponse)
async def search_hits(request: Request, ctx: SearchPage, q: TEXT = "") -> HTMLResponse:
    """The hits of the text typed so far (a fragment)."""
    hits = await _hits(request, ctx, q)
    return render(ctx, "search/_hits.html", {"hits": hits, "q": q.strip(), "href": href})


@router.get("/search", response_class=HTMLResponse)
async def search_page(request: Request, ctx: SearchPage, q: TEXT = "") -> Response:
    """The hits as a page; straight to the thing when exactly one matched exactly."""
    hits = await _hits(request, ctx, q)
    exact = [h for h in hits if h.match is Match.EXACT]
    if len(exact) == 1 and (target := href(exact[0])) is not None:
        return see_other(target)
    return render(ctx, "search/page.html", {"hits": hits, "q": q.strip(), "href": href})
