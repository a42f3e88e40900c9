"""Remote commands to a gate from the desk: open once, hold open, lock down, release; each
with a required reason, recorded at the desk with who asked (central/services/
gate_commands.py says who may, and why) and journalled by the gate."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from central.api.body import query_reader
from central.api.body_schema import Body
from central.api.errors import error_responses
from central.api.routing import BodyDep, protected_router
from central.api.security import ActorDep
from central.api.state import api_state
from central.models import GateCommandKind
from central.services import gate_commands
from central.services.context import Actor

router = protected_router("gates")
COMMAND_BODY = Body(gate_commands.GateCommandInput, path=("device",))
MODE_BODY = Body(gate_commands.GateModeInput, path=("device",))
COMMAND_ERRORS = error_responses(409, 413, 415, 503)
# Read with the body, by the input's own declaration (one validation path).
DevicePath = Annotated[str, Path(description="the gate controller (its device name)")]


class CommandOut(BaseModel):
    """A command sent: the gate journals it with ``issued_by`` and ``nonce``."""

    id: int
    device: str
    command: GateCommandKind
    until: datetime | None = Field(description="a hold-open or lockdown ends by itself then")
    nonce: str
    issued_by: str
    issued_at: datetime


class CommandRecordOut(CommandOut):
    """A command as the desk recorded it."""

    reason: str
    staff_name: str


def _out(sent: gate_commands.CommandSent) -> CommandOut:
    return CommandOut(id=sent.id, device=sent.device, command=sent.command, until=sent.until,
                      nonce=sent.nonce, issued_by=sent.issued_by, issued_at=sent.issued_at)


def _send(request: Request, actor: Actor, command: GateCommandKind,
          inp: gate_commands.GateCommandInput | gate_commands.GateModeInput) -> CommandOut:
    state = api_state(request)
    return _out(gate_commands.send_command(
        state.desk, actor, command, inp, source=state.devices.get(actor.site),
        link=state.links.get(actor.site)))


@router.post("/devices/{device}/open-once", status_code=202, responses=COMMAND_ERRORS,
             openapi_extra=COMMAND_BODY.openapi)
def open_gate_once(request: Request, actor: ActorDep, device: DevicePath,
                   body: BodyDep) -> CommandOut:
    """Open the gate once, as a guard's manual open (G3), with why."""
    inp = COMMAND_BODY.read(body, device=device)
    return _send(request, actor, GateCommandKind.OPEN_ONCE, inp)


@router.post("/devices/{device}/hold-open", status_code=202, responses=COMMAND_ERRORS,
             openapi_extra=MODE_BODY.openapi)
def hold_gate_open(request: Request, actor: ActorDep, device: DevicePath,
                   body: BodyDep) -> CommandOut:
    """Hold the gate open (door unlocked, barrier up) until released or ``until``."""
    inp = MODE_BODY.read(body, device=device)
    return _send(request, actor, GateCommandKind.HOLD_OPEN, inp)


@router.post("/devices/{device}/lockdown", status_code=202, responses=COMMAND_ERRORS,
             openapi_extra=MODE_BODY.openapi)
def lock_gate_down(request: Request, actor: ActorDep, device: DevicePath,
                   body: BodyDep) -> CommandOut:
    """Lock the gate down (every card refused; a door's exit button still opens) until
    released or ``until``."""
    inp = MODE_BODY.read(body, device=device)
    return _send(request, actor, GateCommandKind.LOCKDOWN, inp)


@router.post("/devices/{device}/release", status_code=202, responses=COMMAND_ERRORS,
             openapi_extra=COMMAND_BODY.openapi)
def release_gate(request: Request, actor: ActorDep, device: DevicePath,
                 body: BodyDep) -> CommandOut:
    """End a hold-open or lockdown: the gate back to normal."""
    inp = COMMAND_BODY.read(body, device=device)
    return _send(request, actor, GateCommandKind.RELEASE, inp)


@router.get("/gate-commands")
def list_gate_commands(
        request: Request, actor: ActorDep,
        gate: Annotated[str | None, Query(description="one gate controller only")] = None,
        limit: Annotated[str | None, Query(json_schema_extra={
            "type": "integer", "minimum": 1, "maximum": 500},
            description="at most this many (default 50)")] = None) -> list[CommandRecordOut]:
    """The remote commands sent from the desk, newest first: who asked, why, when."""
    q = query_reader({"gate": gate, "limit": limit})
    device = q.opt_text("gate", 64)
    count = q.opt_integer("limit", 1, 500) or 50
    q.finish()
    found = gate_commands.recent_commands(api_state(request).desk, actor, device=device,
                                          limit=count)
    return [CommandRecordOut(**_out(r.sent).model_dump(), reason=r.reason,
                             staff_name=r.staff_name) for r in found]
