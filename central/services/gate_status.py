"""The gates as the desk watches them: each gate's state (online, offline, or unknown while
the desk itself has lost the broker), how far behind the site's list it is, its journal
backlog and its open alarms in plain categories; and, for a card change, which gates have
applied it and when ("已同步 4/4").

Read from the site's sync store and link (central/services/gate_sources.py); the desk
database only authorises the caller and names the card changes."""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from central.clock import epoch_instant
from central.models import AuthLogEntry, Gate, Role
from central.refusals import NotFoundError
from central.services.context import DESK_ROLES, LEADS, Action, Actor, Desk, action
from central.services.gate_sources import GateLink, GateSyncSource

# Who watches the gates: the guards, and the leads and director who answer for them (the
# permission matrix's GATE_WATCH); the administrator sees the devices' health too.
GATE_WATCH_ROLES = frozenset({Role.GUARD, Role.DIRECTOR}) | LEADS
STATUS_ROLES = GATE_WATCH_ROLES | {Role.ADMIN}
# A card page or a household page shows whether a change reached the gates: the desk and
# the guards who answer a resident's "my card does not open".
CHANGE_ROLES = DESK_ROLES | {Role.GUARD}
# A one-off alarm (a refused message, a tailgate) stays on the gates view this long after
# it reached the desk; a standing one (a forced door) until the gate reports it ended.
RECENT = timedelta(hours=24)


class LinkState(enum.StrEnum):
    """The desk's own link to the site's broker."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"  # what the store says is as of the outage: "unknown"
    NOT_LINKED = "not_linked"  # the desk reads a store another process feeds


class GateState(enum.StrEnum):
    """What the desk can say of a gate now."""

    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"  # the desk lost the broker, or the gate never reported


class AlarmCategory(enum.StrEnum):
    """An alarm as a guard names it; a page translates the word."""

    FORCED_DOOR = "forced_door"
    HELD_OPEN = "held_open"
    STUCK_BARRIER = "stuck_barrier"
    TAILGATE = "tailgate"
    JOURNAL_OVERFLOW = "journal_overflow"
    STORAGE = "storage"
    SECURITY = "security"
    CLOCK = "clock"
    GATE_FAULT = "gate_fault"
    OVER_QUOTA = "over_quota"
    JOURNAL_REPLACED = "journal_replaced"
    FLOAT_OVER_LIMIT = "float_over_limit"  # a booth's cash float: pay in to the desk (P6)
    OTHER = "other"


# The gate's alarm event kinds (edge/door.py, edge/barrier.py, edge/journal.py,
# edge/journal_guard.py, edge/gate_storage.py, edge/gate.py, sync/agent/journal.py) and the
# hub's (sync/hub/store.py raise_alarm), by category.
CATEGORY_OF_KIND: dict[str, AlarmCategory] = {
    "door_forced_open": AlarmCategory.FORCED_DOOR,
    "door_held_open": AlarmCategory.HELD_OPEN,
    "barrier_stuck": AlarmCategory.STUCK_BARRIER,
    "barrier_state": AlarmCategory.STUCK_BARRIER,  # into stuck or an unknown position
    "tailgate": AlarmCategory.TAILGATE,
    "journal_overflow": AlarmCategory.JOURNAL_OVERFLOW,
    "journal_unavailable": AlarmCategory.STORAGE,
    "storage_damaged": AlarmCategory.STORAGE,
    "storage_fault": AlarmCategory.STORAGE,
    "security": AlarmCategory.SECURITY,
    "security_suppressed": AlarmCategory.SECURITY,
    "clock_trust": AlarmCategory.CLOCK,
    "manual_open_failed": AlarmCategory.GATE_FAULT,
    "remote_command_failed": AlarmCategory.GATE_FAULT,
    "remote_command_undelivered": AlarmCategory.GATE_FAULT,
    "mode_not_applied": AlarmCategory.GATE_FAULT,
    "mode_file_unreadable": AlarmCategory.GATE_FAULT,
    "quota_exceeded": AlarmCategory.OVER_QUOTA,
    "journal_replaced": AlarmCategory.JOURNAL_REPLACED,
    "float_over_limit": AlarmCategory.FLOAT_OVER_LIMIT,  # booth/ (docs/booth.md)
}
# Standing alarms, and the ordinary events that end them: the door closed; the barrier moved
# on to a normal state (a guard's reset that worked); the clock trusted again; the storage
# recovered. Every other alarm is one-off.
CLEARED_BY: dict[str, frozenset[str]] = {
    "door_forced_open": frozenset({"door_closed"}),
    "door_held_open": frozenset({"door_closed"}),
    "barrier_stuck": frozenset({"barrier_state"}),
    "barrier_state": frozenset({"barrier_state"}),
    "clock_trust": frozenset({"clock_trust"}),
    "storage_fault": frozenset({"storage_recovered"}),
    # A booth's float stays over the limit until the guard pays in to the desk.
    "float_over_limit": frozenset({"float_paid_in"}),
}


@dataclass(frozen=True)
class GateAlarm:
    """One open alarm of a gate."""

    category: AlarmCategory
    kind: str  # the event kind as journalled, for the engineer
    source: str  # "gate" (its journal), "hub" (the desk's link noticed), "status"
    raised_at: datetime | None  # by the gate's clock when it trusted it, else on arrival
    standing: bool  # lasts until the gate reports it ended; else shown for RECENT
    recent: int  # how many of this kind arrived within RECENT
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateStatus:
    """A gate controller as the desk sees it now. With the desk's link down, ``state`` is
    unknown and ``online``, ``behind`` and ``backlog`` are None: what the store holds is
    as of the outage. ``applied_seq`` and ``last_seen`` stay: they are facts of the past."""

    device: str
    state: GateState
    online: bool | None
    last_seen: datetime | None
    applied_seq: int | None
    behind: int | None
    backlog: int | None
    clock_trusted: bool | None
    journal_id: str | None
    events_upto: int | None
    alarms: tuple[GateAlarm, ...]


@dataclass(frozen=True)
class SiteGates:
    """Every gate of a site, with the desk's own link."""

    link: LinkState
    site_seq: int  # the newest entry of the site's list
    gates: tuple[GateStatus, ...]


def _raised(event: Mapping[str, Any]) -> datetime | None:
    at = event.get("wall") if event.get("clock_trusted") else event.get("received_at")
    return epoch_instant(at)


def open_alarms(source: GateSyncSource, device: Mapping[str, Any],
                now: datetime) -> list[GateAlarm]:
    """``device``'s open alarms: standing ones not yet ended, one-off ones of the last
    RECENT, the hub's own about it, and an untrusted clock its status reports; standing
    first, then newest first."""
    since = (now - RECENT).timestamp()
    out: list[GateAlarm] = []
    name = str(device["device"])
    for event in source.journal_alarms(name, since, CLEARED_BY):
        kind = str(event["kind"])
        data = event.get("data") or {}
        # A clock mark reset while the clock stays trusted is news, not a standing state.
        standing = kind in CLEARED_BY and not (kind == "clock_trust" and data.get("trusted"))
        if standing and event.get("cleared_by") is not None:
            continue
        if not standing and not event.get("recent"):
            continue
        out.append(GateAlarm(CATEGORY_OF_KIND.get(kind, AlarmCategory.OTHER), kind, "gate",
                             _raised(event), standing, int(event.get("recent") or 0),
                             dict(data)))
    hub: dict[str, list[Mapping[str, Any]]] = {}
    for alarm in device.get("alarms") or ():
        raised = alarm.get("raised_at")
        if isinstance(raised, int | float) and raised >= since:
            hub.setdefault(str(alarm["kind"]), []).append(alarm)
    for kind, alarms in hub.items():
        newest = alarms[0]  # the store lists them newest first
        out.append(GateAlarm(CATEGORY_OF_KIND.get(kind, AlarmCategory.OTHER), kind, "hub",
                             epoch_instant(newest.get("raised_at")), False, len(alarms),
                             dict(newest.get("detail") or {})))
    if device.get("clock_trusted") is False and not any(
            a.category is AlarmCategory.CLOCK and a.standing for a in out):
        out.append(GateAlarm(AlarmCategory.CLOCK, "clock_untrusted", "status", None, True, 0))
    epoch = datetime.min.replace(tzinfo=UTC)
    # One standing alarm per category: a stuck barrier journals its state and the fault.
    by_category: dict[AlarmCategory, GateAlarm] = {}
    for alarm in (a for a in out if a.standing):
        seen = by_category.get(alarm.category)
        if seen is None:
            by_category[alarm.category] = alarm
            continue
        newer = (alarm.raised_at or epoch) >= (seen.raised_at or epoch)
        by_category[alarm.category] = replace(alarm if newer else seen,
                                              recent=alarm.recent + seen.recent)
    out = [*by_category.values(), *(a for a in out if not a.standing)]
    out.sort(key=lambda a: a.raised_at or epoch, reverse=True)
    out.sort(key=lambda a: not a.standing)
    return out


def link_state(link: GateLink | None) -> LinkState:
    """The desk's link to the site's broker, as the gates view shows it."""
    if link is None:
        return LinkState.NOT_LINKED
    return LinkState.CONNECTED if link.connected else LinkState.DISCONNECTED


def _status(source: GateSyncSource, d: Mapping[str, Any], link: LinkState,
            now: datetime) -> GateStatus:
    online = d.get("online")
    lost = link is LinkState.DISCONNECTED
    if lost or online is None:
        state = GateState.UNKNOWN
    else:
        state = GateState.ONLINE if online else GateState.OFFLINE
    return GateStatus(
        device=str(d["device"]), state=state, online=None if lost else online,
        last_seen=epoch_instant(d.get("last_seen")), applied_seq=d.get("applied_seq"),
        behind=None if lost else d.get("behind"), backlog=None if lost else d.get("backlog"),
        clock_trusted=d.get("clock_trusted"), journal_id=d.get("journal_id"),
        events_upto=d.get("events_upto"), alarms=tuple(open_alarms(source, d, now)))


def site_gates(desk: Desk, actor: Actor, source: GateSyncSource,
               link: GateLink | None) -> SiteGates:
    """Every gate controller of the caller's site (gate watchers and the administrator)."""
    with action(desk) as act:
        act.authorise(actor, STATUS_ROLES)
        now = act.now
    state = link_state(link)
    # The link first: a status read after it cannot be newer than what the link knew.
    gates = tuple(_status(source, d, state, now) for d in source.device_status())
    return SiteGates(state, source.head_seq(), gates)


def gate_names(desk: Desk, actor: Actor) -> dict[str, str]:
    """The site's gates by code (a gate controller's device name is its gate's code) with
    their names, in the order the site file lists them: the gates view names each gate as
    the staff call it, and lists the gates that never reported."""
    with action(desk) as act:
        act.authorise(actor, STATUS_ROLES | CHANGE_ROLES)
        rows = act.session.execute(select(Gate.code, Gate.name)
                                   .where(Gate.site_id == act.site.id).order_by(Gate.id))
        return {str(code): str(name) for code, name in rows}


# ---------------------------------------------------------------- card changes at the gates


@dataclass(frozen=True)
class GateApplied:
    """Whether one gate has applied a card change, and when the desk learnt it had."""

    device: str
    applied: bool
    applied_at: datetime | None


@dataclass(frozen=True)
class ChangeSync:
    """One card change (an entry of the desk's auth log) at the gates: ``applied`` of
    ``total`` known gates hold it (the page's "已同步 4/4"). ``relayed`` is False while
    the change has not yet left the desk for the site's list."""

    change_id: int
    uid: str
    made_at: datetime
    relayed: bool
    applied: int
    total: int
    gates: tuple[GateApplied, ...]


def _change_sync(act: Action, source: GateSyncSource,
                 entries: Iterable[AuthLogEntry]) -> list[ChangeSync]:
    rows = list(entries)
    found = source.change_sync([e.seq for e in rows]) if rows else {}
    out = []
    for entry in rows:
        at_gates = found.get(entry.seq, {"seq": None, "gates": []})
        gates = tuple(GateApplied(str(g["device"]), bool(g["applied"]),
                                  epoch_instant(g.get("applied_at")))
                      for g in at_gates["gates"])
        out.append(ChangeSync(entry.seq, entry.uid, entry.created_at,
                              at_gates["seq"] is not None, sum(g.applied for g in gates),
                              len(gates), gates))
    return out


def change_sync(desk: Desk, actor: Actor, source: GateSyncSource,
                change_id: int) -> ChangeSync:
    """Which gates applied the desk's card change ``change_id``, and when."""
    with action(desk) as act:
        act.authorise(actor, CHANGE_ROLES)
        entry = act.session.get(AuthLogEntry, change_id)
        if entry is None or entry.site != act.site.code:
            raise NotFoundError(f"没有编号为 {change_id} 的卡变更",
                                f"no card change {change_id}", "change_id")
        (out,) = _change_sync(act, source, [entry])
        return out


def cards_sync(desk: Desk, actor: Actor, source: GateSyncSource,
               uids: Collection[str]) -> dict[str, ChangeSync | None]:
    """For each card, whether its newest change has reached the gates (None: the card has
    never been sent to a gate). One look-up per page of cards: a household's or a card's."""
    with action(desk) as act:
        act.authorise(actor, CHANGE_ROLES)
        newest = (select(func.max(AuthLogEntry.seq))
                  .where(AuthLogEntry.site == act.site.code, AuthLogEntry.uid.in_(set(uids)))
                  .group_by(AuthLogEntry.uid))
        entries = act.session.scalars(select(AuthLogEntry).where(
            AuthLogEntry.seq.in_(newest.scalar_subquery()))).all()
        by_uid: dict[str, ChangeSync | None] = dict.fromkeys(uids)
        for sync in _change_sync(act, source, entries):
            by_uid[sync.uid] = sync
        return by_uid
