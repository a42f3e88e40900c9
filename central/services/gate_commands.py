"""Remote commands from the desk to a gate: open once, hold open (optionally until a time),
lock down, release. Each needs a reason; the desk keeps who asked and why
(``GateCommand``, append-only), and the gate journals the signed command with who asked
(``issued_by``) and its nonce, which the desk's row names too.

Who may (the permission matrix's entries carry the same sets):

- **open once**: rule G3 lets a guard open a gate by hand, logged with the guard and the
  reason; a remote open is that same act from the guard room. Guards, and the leads and
  the director who answer for the gates. Not clerks: they do not watch the gates (they do
  not read the gate events either) and cannot see who stands at one.
- **hold open, lock down, release**: the rules name no role. The gate already lets the
  guard on duty hold it open or lock it down at the post, with their name and a reason
  (``menwei-edge mode``, edge/gate.py ``set_local_mode``); refusing the same guard from
  the desk would only send them running to the post in the emergencies these are for
  (an evacuation, an intruder). So the same roles as open once; every use is recorded
  here and journalled at the gate, and ends by itself when an end time is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from sqlalchemy import select

from central.form_fields import Instant, Text
from central.form_input import FormInput
from central.models import GateCommand, GateCommandKind, Staff
from central.refusals import ConflictError, InvalidInputError, NotFoundError, UnavailableError
from central.refusals import FieldError as Problem
from central.services.context import Actor, Desk, action
from central.services.gate_sources import GateLink, GateSyncSource
from central.services.gate_status import GATE_WATCH_ROLES

COMMAND_ROLES = GATE_WATCH_ROLES
MODE_ROLES = GATE_WATCH_ROLES
# The longest a hold-open or lockdown may be set to end by itself (sync/wire/command.py
# MAX_MODE_DURATION_S, repeated here because the desk's rules do not import the wire).
MAX_MODE_DAYS = 7
# How long the signed command may wait for the broker: a guard who pressed "open" expects
# the gate to open now, not half a minute later when a link comes back.
COMMAND_LIFETIME_S = 10.0
REASON_DOC = "why (required): kept at the desk with who asked, e.g. 快递车辆临时放行"


@dataclass(frozen=True)
class GateCommandInput(FormInput):
    """A remote open-once or release of one gate, and why."""

    device: Annotated[str, Text(max=64, doc="the gate controller (its device name)")]
    reason: Annotated[str, Text(max=200, doc=REASON_DOC)]


@dataclass(frozen=True)
class GateModeInput(FormInput):
    """Hold one gate open, or lock it down, until released or until a time; and why."""

    device: Annotated[str, Text(max=64, doc="the gate controller (its device name)")]
    reason: Annotated[str, Text(max=200, doc=REASON_DOC)]
    until: Annotated[datetime | None, Instant(
        doc=f"ends by itself then (at most {MAX_MODE_DAYS} days ahead); omit: until "
            "released")] = None


@dataclass(frozen=True)
class CommandSent:
    """What the desk sent: the command's row, and the nonce the gate journals with it."""

    id: int
    device: str
    command: GateCommandKind
    until: datetime | None
    nonce: str
    issued_by: str
    issued_at: datetime


def send_command(desk: Desk, actor: Actor, command: GateCommandKind,
                 inp: GateCommandInput | GateModeInput, *, source: GateSyncSource | None,
                 link: GateLink | None) -> CommandSent:
    """Send ``command`` to ``inp.device`` with who asked and why. Refused while the desk has
    no link to the site's broker or has lost it (the command would expire unsent), for a
    gate the site has never heard of, and for a gate that says it is offline (it would not
    receive it); a hold-open or lockdown's end time must lie ahead, within a week."""
    until = inp.until if isinstance(inp, GateModeInput) else None
    roles = COMMAND_ROLES if command is GateCommandKind.OPEN_ONCE else MODE_ROLES
    with action(desk) as act:
        staff, site = act.authorise(actor, roles)
        if until is not None:
            ahead = (until - act.now).total_seconds()
            if not 0 < ahead <= MAX_MODE_DAYS * 86400:
                raise InvalidInputError([Problem(
                    "until", f"结束时间须在现在之后、{MAX_MODE_DAYS} 天之内",
                    f"must lie ahead, within {MAX_MODE_DAYS} days")])
        if link is None or source is None:
            raise UnavailableError("本小区的门禁未接入，无法远程控制",
                                   "this site's gates are not linked to the desk")
        if not link.connected:
            raise UnavailableError("与门禁的连接已断开，指令无法送达",
                                   "the desk has lost its link to the gates; the command "
                                   "cannot be delivered")
        known = {str(d["device"]): d for d in source.device_status()}
        if inp.device not in known:
            raise NotFoundError(f"没有名为 {inp.device} 的门禁设备",
                                f"no gate controller {inp.device!r}", "device")
        if known[inp.device].get("online") is False:
            raise ConflictError(f"门禁设备 {inp.device} 离线，指令无法送达",
                                f"gate controller {inp.device} is offline", "device")
        issued_by = f"desk:{staff.username}"
        hold_for = None if until is None else (until - act.now).total_seconds()
        # Sent inside the transaction: a command the link refuses leaves no row behind.
        nonce = link.issue_command(inp.device, command.value, issued_by, COMMAND_LIFETIME_S,
                                   hold_for_s=hold_for)
        row = GateCommand(site_id=site.id, device=inp.device, command=command,
                          reason=inp.reason, until=until, staff_id=staff.id,
                          issued_by=issued_by, nonce=nonce, issued_at=act.now)
        act.session.add(row)
        act.session.flush()
        return CommandSent(row.id, row.device, command, until, nonce, issued_by, act.now)


@dataclass(frozen=True)
class CommandRecord:
    """A remote command as the desk recorded it."""

    sent: CommandSent
    reason: str
    staff_name: str


def recent_commands(desk: Desk, actor: Actor, *, device: str | None = None,
                    limit: int = 50) -> list[CommandRecord]:
    """The site's remote commands, newest first (gate watchers): who asked, why, when."""
    with action(desk) as act:
        _staff, site = act.authorise(actor, GATE_WATCH_ROLES)
        query = (select(GateCommand, Staff.display_name)
                 .join(Staff, Staff.id == GateCommand.staff_id)
                 .where(GateCommand.site_id == site.id))
        if device is not None:
            query = query.where(GateCommand.device == device)
        rows = act.session.execute(
            query.order_by(GateCommand.issued_at.desc(), GateCommand.id.desc()).limit(limit))
        return [CommandRecord(CommandSent(c.id, c.device, c.command, c.until, c.nonce,
                                          c.issued_by, c.issued_at), c.reason, name)
                for c, name in rows]
