"""The desk's first page: the one search box (for the roles that search), and the day's
work each role starts from."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from central.pages.page_request import PageDep
from central.pages.templating import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(ctx: PageDep) -> HTMLResponse:
    """The home page."""
    return render(ctx, "home.html")
