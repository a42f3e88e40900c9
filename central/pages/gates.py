"""The gates as the guards and their leads watch them: every gate's state (and a banner
when the desk itself has lost the broker, so that nothing is read as "online"), how far
behind the site's list, its journal backlog and its open alarms, and each car park's free
spaces per class as its lanes count them (with a warning while a lane is not heard, and the
last guard correction), refreshed every few seconds; one gate's page with the remote
commands (open once, hold open, lock down, release, each with a reason, for the roles the
matrix allows); and the small "已同步 3/4" fragment that card and household pages include
for a card's newest change.

Everything is read and sent through the same services as the API (gate_status,
gate_commands, car_parks) over the application's sync store and live link."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from central.api.body import query_reader
from central.api.state import api_state
from central.models import GateCommandKind
from central.pages.form_view import form_view
from central.pages.i18n import N_
from central.pages.page_request import PageDep, Refused, requires, see_other, submit
from central.pages.templating import PageContext, render
from central.refusals import DeskError, NotFoundError
from central.services import car_parks, gate_commands, gate_status
from central.services.car_parks import CarPark
from central.services.gate_commands import GateCommandInput, GateModeInput
from central.services.gate_sources import LotSource
from central.services.gate_status import GateState, GateStatus, LinkState, SiteGates
from edge.site_rules import SpaceClass

router = APIRouter()
# How often an open gates page asks again (htmx ``every``): a guard sees a gate drop off
# within a few seconds, and a page left open all night costs the desk little.
POLL = "every 5s"


@dataclass(frozen=True)
class CommandForm:
    """One remote command as a form on a gate's page."""

    command: GateCommandKind
    slug: str  # the action's path under /gates/{device}/
    operation: str  # the API operation (permission matrix)
    input: type[GateCommandInput] | type[GateModeInput]
    question: str  # the confirmation asked before it is sent (English source)
    button: str  # the class of its button: primary, danger or plain
    summary: str  # what its action does (the handler's docstring)


COMMANDS = (
    CommandForm(GateCommandKind.OPEN_ONCE, "open-once", "open_gate_once", GateCommandInput,
                N_("Open this gate once now?"), "primary",
                "Open the gate once (G3's manual open, from the desk), with the reason typed."),
    CommandForm(GateCommandKind.HOLD_OPEN, "hold-open", "hold_gate_open", GateModeInput,
                N_("Hold this gate open? Anyone can pass until it is released."), "",
                "Hold the gate open until released or until the time typed, with the reason."),
    CommandForm(GateCommandKind.LOCKDOWN, "lockdown", "lock_gate_down", GateModeInput,
                N_("Lock this gate down? Every card will be refused until it is released."),
                "danger",
                "Lock the gate down until released or until the time typed, with the reason."),
    CommandForm(GateCommandKind.RELEASE, "release", "release_gate", GateCommandInput,
                N_("Put this gate back to normal?"), "",
                "Put the gate back to normal, with the reason typed."),
)
BY_SLUG = {c.slug: c for c in COMMANDS}


@dataclass(frozen=True)
class GateRow:
    """One gate as the page lists it: its name from the site, its status (None when the
    gate never reported to the desk)."""

    code: str
    name: str
    status: GateStatus | None


@dataclass(frozen=True)
class GatesView:
    """The gates page's data; ``found`` is None when the site's gates are not linked."""

    found: SiteGates | None
    rows: tuple[GateRow, ...]

    @property
    def lost(self) -> bool:
        """The desk has lost its broker: every state is unknown."""
        return self.found is not None and self.found.link is LinkState.DISCONNECTED


def _gates(request: Request, ctx: PageContext) -> GatesView:
    assert ctx.caller is not None
    state, actor = api_state(request), ctx.caller.actor
    names = gate_status.gate_names(state.desk, actor)
    source = state.devices.get(actor.site)
    if source is None:
        return GatesView(None, tuple(GateRow(c, n, None) for c, n in names.items()))
    found = gate_status.site_gates(state.desk, actor, source, state.links.get(actor.site))
    reported = {g.device: g for g in found.gates}
    rows = [GateRow(code, name, reported.pop(code, None)) for code, name in names.items()]
    # A controller the site file does not name still reports: list it under its own name.
    rows += [GateRow(code, code, g) for code, g in reported.items()]
    return GatesView(found, tuple(rows))


# How the car-park line names each space class ("临时车位 余12/共30 · 月租 ...").
CLASS_NAMES = {SpaceClass.TEMPORARY: N_("Spaces for temporary cars"),
               SpaceClass.MONTHLY: N_("Spaces for monthly cars"),
               SpaceClass.FIXED: N_("Spaces for fixed-space cars")}


def _car_parks(request: Request, ctx: PageContext) -> list[CarPark]:
    """The site's car parks as the link hears their lanes; none without a link (the page
    already says the gates are not connected)."""
    assert ctx.caller is not None
    state, actor = api_state(request), ctx.caller.actor
    link: object = state.links.get(actor.site)
    if not isinstance(link, LotSource):
        return []
    return car_parks.site_car_parks(state.desk, actor, link)


def _page_data(request: Request, ctx: PageContext) -> dict[str, Any]:
    return {"view": _gates(request, ctx), "poll": POLL, "GateState": GateState,
            "lots": _car_parks(request, ctx), "class_names": CLASS_NAMES}


@router.get("/gates", response_class=HTMLResponse)
async def gates(request: Request,
                ctx: Annotated[PageContext, Depends(requires("list_devices"))]) -> HTMLResponse:
    """Every gate of the site, refreshing itself; the recent remote commands below."""
    data = await run_in_threadpool(_page_data, request, ctx)
    if ctx.can("list_gate_commands"):
        assert ctx.caller is not None
        data["commands"] = await run_in_threadpool(
            gate_commands.recent_commands, api_state(request).desk, ctx.caller.actor,
            limit=20)
    return render(ctx, "gates/index.html", data)


@router.get("/gates/status", response_class=HTMLResponse)
async def gates_status(request: Request,
                       ctx: Annotated[PageContext, Depends(requires("list_devices"))],
                       ) -> HTMLResponse:
    """The gates table alone (the page's htmx poll)."""
    data = await run_in_threadpool(_page_data, request, ctx)
    return render(ctx, "gates/_status.html", data)


def _one_gate(request: Request, ctx: PageContext, device: str) -> GateRow:
    view = _gates(request, ctx)
    row = next((r for r in view.rows if r.code == device), None)
    if row is None:
        raise NotFoundError(f"没有名为 {device} 的门禁", f"no gate {device!r}", "device")
    return row


def _gate_page(request: Request, ctx: PageContext, device: str, *,
               values: Mapping[str, Mapping[str, Any]] | None = None,
               errors: Mapping[str, list[Any]] | None = None, error: DeskError | None = None,
               done: str | None = None, status_code: int = 200) -> HTMLResponse:
    assert ctx.caller is not None
    row = _one_gate(request, ctx, device)
    view = _gates(request, ctx)
    forms = []
    for c in COMMANDS:
        if not ctx.can(c.operation):
            continue
        drawn = form_view(c.input, (values or {}).get(c.slug), (errors or {}).get(c.slug, ()),
                          leave_out={"device"})
        forms.append((c, drawn))
    commands = (gate_commands.recent_commands(api_state(request).desk, ctx.caller.actor,
                                              device=device, limit=20)
                if ctx.can("list_gate_commands") else [])
    return render(ctx, "gates/gate.html", {
        "row": row, "view": view, "forms": forms, "commands": commands, "done": done,
        "error": error, "poll": POLL, "GateState": GateState,
        "done_command": BY_SLUG[done].command if done in BY_SLUG else None,
    }, status_code=status_code)


@router.get("/gates/{device}", response_class=HTMLResponse)
async def gate(request: Request, device: str,
               ctx: Annotated[PageContext, Depends(requires("list_devices"))],
               done: str | None = None) -> HTMLResponse:
    """One gate: its state and alarms, the remote commands the caller may send, and the
    commands sent to it."""
    return await run_in_threadpool(partial(_gate_page, request, ctx, device, done=done))


def _command_handler(spec: CommandForm) -> Callable[..., Any]:
    async def send(request: Request, device: str, ctx: PageDep) -> Response:
        state = api_state(request)
        site = ctx.actor.site
        sent = await submit(request, ctx, spec.input, lambda desk, actor, inp: (
            gate_commands.send_command(desk, actor, spec.command, inp,
                                       source=state.devices.get(site),
                                       link=state.links.get(site))),
            given={"device": device})
        if isinstance(sent, Refused):
            return await run_in_threadpool(partial(
                _gate_page, request, ctx, device, values={spec.slug: sent.values},
                errors={spec.slug: sent.errors}, error=sent.error,
                status_code=sent.error.http_status))
        return see_other(f"/gates/{device}?done={spec.slug}")
    send.__doc__ = spec.summary
    return send


for _spec in COMMANDS:
    router.add_api_route(f"/gates/{{device}}/{_spec.slug}", _command_handler(_spec),
                         methods=["POST"], response_class=HTMLResponse,
                         dependencies=[Depends(requires(_spec.operation))])


# ---------------------------------------------------------------- a card's change at the gates


@router.get("/cards/{uid}/sync", response_class=HTMLResponse)
async def card_sync(request: Request, uid: str,
                    ctx: Annotated[PageContext, Depends(requires("get_card_sync"))],
                    ) -> HTMLResponse:
    """Whether the card's newest change has reached the gates: "已同步 3/4", each gate's
    time on expanding (an htmx fragment, refreshing itself until every gate has it)."""
    assert ctx.caller is not None
    q = query_reader({"uid": uid})
    card = q.uid("uid")
    try:
        q.finish()
    except DeskError as exc:
        return render(ctx, "gates/_card_sync.html", {"uid": uid, "sync": None, "error": exc,
                                                     "linked": True, "poll": POLL},
                      status_code=exc.http_status)
    state, actor = api_state(request), ctx.caller.actor
    source = state.devices.get(actor.site)
    sync = None
    if source is not None:
        found = await run_in_threadpool(gate_status.cards_sync, state.desk, actor, source,
                                        [card])
        sync = found.get(card)
    return render(ctx, "gates/_card_sync.html", {"uid": card, "sync": sync,
                                                 "linked": source is not None, "poll": POLL})
