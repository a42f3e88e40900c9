"""Every compound's gates at a glance, for the staff of a company who watch several (the
office's duty manager, a director of two compounds): one line a site, the sites in trouble
first, refreshing itself; "详情" switches to that site and opens its gates page, where each
gate and its alarms are. Read through the same service as ``GET /api/v1/sites/gates``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from central.api.state import api_state
from central.pages.gates import POLL
from central.pages.page_request import requires
from central.pages.templating import PageContext, render
from central.services import site_overview
from central.services.site_overview import SiteGatesSummary

router = APIRouter()


def _sites(request: Request, ctx: PageContext) -> list[SiteGatesSummary]:
    assert ctx.caller is not None
    state = api_state(request)
    return site_overview.sites_gates(state.desk, ctx.caller.principal.staff_id,
                                     state.device_states, state.links)


@router.get("/sites/gates", response_class=HTMLResponse)
async def sites_gates(request: Request,
                      ctx: Annotated[PageContext, Depends(requires("list_sites_gates"))],
                      ) -> HTMLResponse:
    """Every site whose gates the caller watches, counted; refreshing itself."""
    sites = await run_in_threadpool(_sites, request, ctx)
    return render(ctx, "gates/sites.html", {"sites": sites, "poll": POLL})


@router.get("/sites/gates/rows", response_class=HTMLResponse)
async def sites_gates_rows(request: Request,
                           ctx: Annotated[PageContext, Depends(requires("list_sites_gates"))],
                           ) -> HTMLResponse:
    """The table alone (the page's htmx poll)."""
    sites = await run_in_threadpool(_sites, request, ctx)
    return render(ctx, "gates/_sites.html", {"sites": sites})
