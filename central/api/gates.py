"""What the gates reported: their events (every tap, granted or denied, with its reason —
rule G1) and the controllers' last status, read from the sync side's store of the caller's
site through the ports of central/api/ports.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, Field

from central.api.body import query_reader
from central.api.errors import error_responses
from central.api.reader_uids import CARD_QUERY
from central.api.routing import protected_router
from central.api.security import ActorDep, reading
from central.api.state import api_state
from central.refusals import UnavailableError

router = protected_router("gates")
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000


class EventOut(BaseModel):
    """One gate event as the device journalled it."""

    device: str = Field(description="the gate controller (its MQTT name)")
    journal_id: str = Field(description="the device's journal that wrote it: a new one (a "
                                        "replaced SD card) numbers from 1 again; empty for "
                                        "events stored before journals had ids")
    seq: int = Field(description="the journal's sequence number, without gaps")
    at: datetime | None = Field(description="the device's clock (see clock_trusted); null "
                                            "when that clock gave nonsense")
    kind: str
    uid: str | None
    granted: bool | None
    reason: str | None = Field(description="why granted or denied, one named reason")
    alarm: bool
    clock_trusted: bool
    data: dict[str, Any]
    received_at: datetime | None


class EventsOut(BaseModel):
    """The events matching the filters, oldest first."""

    events: list[EventOut]
    limit: int
    truncated: bool = Field(description="more events match: narrow the time window")


class HubAlarmOut(BaseModel):
    """Something the desk's link to the gates noticed about a device (a replaced journal,
    a device over its quota)."""

    kind: str = Field(description="what happened, one word")
    detail: dict[str, Any]
    raised_at: datetime | None


class DeviceOut(BaseModel):
    """A gate controller's last known status."""

    device: str
    online: bool | None
    applied_seq: int | None = Field(description="the authorisation log entry it has applied")
    behind: int | None = Field(description="entries of the log it has not applied yet")
    backlog: int | None = Field(description="its journal's events not yet acknowledged")
    clock_trusted: bool | None
    last_seen: datetime | None
    journal_id: str | None = Field(default=None,
                                   description="its current journal (the newest seen)")
    events_upto: int | None = Field(description="every event of its current journal up to "
                                                "this seq is stored here")
    alarms: list[HubAlarmOut] = Field(default_factory=list,
                                      description="the newest alarms about it, newest first")


def _instant(epoch: Any) -> datetime | None:
    """An epoch time from a device as an instant; None for what no clock says."""
    if isinstance(epoch, bool) or not isinstance(epoch, int | float):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON cannot carry) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _event(e: dict[str, Any]) -> EventOut:
    return EventOut(device=str(e["device"]), journal_id=str(e.get("journal_id") or ""),
                    seq=int(e["seq"]), at=_instant(e.get("wall")),
                    kind=str(e["kind"]), uid=e.get("uid"), granted=e.get("granted"),
                    reason=e.get("reason"), alarm=bool(e.get("alarm")),
                    clock_trusted=bool(e.get("clock_trusted")),
                    data=_finite(e.get("data") or {}), received_at=_instant(e.get("received_at")))


def _unavailable(what_zh: str, what_en: str) -> UnavailableError:
    return UnavailableError(f"本小区的{what_zh}未接入", f"this site's {what_en} is not connected")


@router.get("/events", responses=error_responses(503))
def list_events(
        *, request: Request, actor: ActorDep,
        card: Annotated[str | None, CARD_QUERY],
        gate: Annotated[str | None, Query(description="the gate controller (device name)")]
        = None,
        since: Annotated[str | None, Query(json_schema_extra={"format": "date-time"},
                                           description="at or after, with its UTC offset")]
        = None,
        until: Annotated[str | None, Query(json_schema_extra={"format": "date-time"},
                                           description="before, with its UTC offset")] = None,
        outcome: Annotated[str | None, Query(json_schema_extra={
            "enum": ["granted", "denied"]})] = None,
        limit: Annotated[str | None, Query(json_schema_extra={
            "type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            description=f"at most this many (default {DEFAULT_LIMIT})")] = None,
) -> EventsOut:
    """Gate events of the caller's site by card, gate, time window and outcome, oldest
    first (by the device's clock)."""
    q = query_reader({"card": card, "gate": gate, "since": since, "until": until,
                      "outcome": outcome, "limit": limit})
    uid = q.uid("card") if q.present("card") else None
    device = q.opt_text("gate", 64)
    first, last = q.opt_instant("since"), q.opt_instant("until")
    wanted = q.opt_text("outcome", 16)
    if wanted not in (None, "granted", "denied"):
        q.fail("outcome", "应为 granted 或 denied", "granted or denied")
    count = q.opt_integer("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    q.finish()
    with reading(request, actor) as act:
        source = api_state(request).events.get(act.site.code)
    if source is None:
        raise _unavailable("门禁事件库", "gate event store")
    # One more than asked tells whether the answer was cut short.
    found = source.events_for(device, uid=uid,
                              since=first.timestamp() if first is not None else None,
                              until=last.timestamp() if last is not None else None,
                              granted=None if wanted is None else wanted == "granted",
                              limit=count + 1)
    return EventsOut(events=[_event(e) for e in found[:count]], limit=count,
                     truncated=len(found) > count)


@router.get("/devices", responses=error_responses(503))
def list_devices(request: Request, actor: ActorDep) -> list[DeviceOut]:
    """The gate controllers of the caller's site: online, how far behind the authorisation
    log, journal backlog, clock trust, last seen."""
    with reading(request, actor) as act:
        source = api_state(request).devices.get(act.site.code)
    if source is None:
        raise _unavailable("门禁设备状态", "device status")
    return [DeviceOut(device=str(d["device"]), online=d.get("online"),
                      applied_seq=d.get("applied_seq"), behind=d.get("behind"),
                      backlog=d.get("backlog"), clock_trusted=d.get("clock_trusted"),
                      last_seen=_instant(d.get("last_seen")), journal_id=d.get("journal_id"),
                      events_upto=d.get("events_upto"),
                      alarms=[HubAlarmOut(kind=str(a["kind"]), detail=_finite(a["detail"]),
                                          raised_at=_instant(a.get("raised_at")))
                              for a in d.get("alarms") or ()])
            for d in source.device_status()]
