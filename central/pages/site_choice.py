"""Choosing the site an account acts at, when it serves more than one (company-wide, or given
a role at another site): the chooser in the page header posts here, and the choice is kept by
this browser (``menwei_site`` cookie, read by central/pages/page_session.py). An account that
serves one site has nothing to choose."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from central.pages.login import safe_next
from central.pages.page_request import PageDep, posted_form, see_other
from central.pages.page_session import SITE_COOKIE
from central.refusals import NotFoundError

router = APIRouter()


@router.post("/site")
async def choose_site(request: Request, ctx: PageDep) -> RedirectResponse:
    """Act at another of the sites the account serves, from the next page on."""
    assert ctx.caller is not None
    form = await posted_form(request, ctx)
    code = str(form.get("site") or "")
    if code not in {s.code for s in ctx.caller.sites}:
        raise NotFoundError(f"没有代码为 {code} 的小区", f"no site {code!r}", "site")
    response = see_other(safe_next(str(form.get("back") or "/")))
    response.set_cookie(SITE_COOKIE, code, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", max_age=365 * 24 * 3600,
                        path="/")
    return response
