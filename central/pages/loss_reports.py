"""The loss and damage reports (L1, L2): the queue of those awaiting the office director's
review, which only the director approves or refuses (the other desk roles see it
read-only), and from an approved report, the way to its replacement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.state import api_state
from central.pages.form_view import form_view
from central.pages.page_request import Refused, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError
from central.services import loss
from central.services.context import Actor, Desk

router = APIRouter()

ListDep = Annotated[PageContext, Depends(requires("list_loss_reports"))]
ReviewDep = Annotated[PageContext, Depends(requires("review_loss"))]


async def _queue(ctx: PageContext, request: Request, *, show_all: bool,
                 error: DeskError | None = None, done: str | None = None,
                 status_code: int = 200) -> HTMLResponse:
    assert ctx.caller is not None
    reports = await run_in_threadpool(loss.loss_reports, api_state(request).desk,
                                      ctx.caller.actor, open_only=not show_all)
    return render(ctx, "cards/loss_reports.html", {
        "reports": reports,
        "review_fields": form_view(loss.ReviewLoss, leave_out=("report_id", "approved")),
        "show_all": show_all, "error": error, "done": done,
    }, status_code=status_code)


@router.get("/loss-reports", response_class=HTMLResponse)
async def loss_report_queue(ctx: ListDep, request: Request, show: str = "",
                            done: str | None = None) -> HTMLResponse:
    """Reports awaiting the director's review (``show=all``: every report, newest first)."""
    return await _queue(ctx, request, show_all=show == "all", done=done)


def _review(desk: Desk, actor: Actor, inp: loss.ReviewLoss) -> str:
    loss.review_loss(desk, actor, inp)
    return "approved" if inp.approved else "refused"


@router.post("/loss-reports/{report_id}/review", response_class=HTMLResponse)
async def review(ctx: ReviewDep, request: Request, report_id: str) -> Response:
    """The director approves or refuses a report (L2); the queue comes back."""
    sent = await submit(request, ctx, loss.ReviewLoss, _review, given={"report_id": report_id})
    if isinstance(sent, Refused):
        return await _queue(ctx, request, show_all=False, error=sent.error,
                            status_code=sent.error.http_status)
    return see_other(f"/loss-reports?done={sent.result}")
