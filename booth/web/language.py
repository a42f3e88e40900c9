"""The language switch: Chinese first, English for whoever asks; kept in a cookie of this
screen (a booth is one screen shared by the guards of a post)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from booth.web.guard_session import LOCALE_COOKIE
from booth.web.i18n import chosen_locale

router = APIRouter()


@router.get("/language/{code}")
def switch_language(code: str, request: Request) -> RedirectResponse:
    """Switch this screen's language and go back to where the guard was."""
    back = request.query_params.get("next", "/")
    if not back.startswith("/") or back.startswith("//"):
        back = "/"
    response = RedirectResponse(back, status_code=303)
    response.set_cookie(LOCALE_COOKIE, chosen_locale(code), max_age=365 * 86400,
                        httponly=True, samesite="strict")
    return response
