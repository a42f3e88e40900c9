"""What the gates reported: their events (every tap, granted or denied, with its reason —
rule G1, with the card's holder), the controllers' status and open alarms, and the car
parks' occupancy as their lanes count it, read from the sync side's store and link of the
caller's site through the ports of central/api/ports.py and
central/services/gate_sources.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, Field

from central.api.body import query_input
from central.api.errors import error_responses
from central.api.reader_uids import CARD_QUERY
from central.api.routing import protected_router
from central.api.security import ActorDep, CallerDep, reading
from central.api.state import api_state
from central.clock import epoch_instant
from central.form_fields import Integer
from central.refusals import UnavailableError
from central.services import car_parks, gate_events, gate_status, site_overview
from central.services.context import Actor
from central.services.gate_sources import GateSyncSource, LotSource
from central.services.gate_status import AlarmCategory, GateState, LinkState

router = protected_router("gates")
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000


class HolderOut(BaseModel):
    """Who holds the card now, by the desk's records."""

    person_id: int
    name: str
    unit: str | None = Field(description="the household's unit, e.g. 3-1201; null for a card "
                                         "outside a household (staff, merchant)")


class EventOut(BaseModel):
    """One gate event as the device journalled it, with its card's holder."""

    device: str = Field(description="the gate controller (its MQTT name)")
    journal_id: str = Field(description="the device's journal that wrote it: a new one (a "
                                        "replaced SD card) numbers from 1 again; empty for "
                                        "events stored before journals had ids")
    seq: int = Field(description="the journal's sequence number, without gaps")
    at: datetime | None = Field(description="the device's clock (see clock_trusted); null "
                                            "when that clock gave nonsense")
    at_local: datetime | None = Field(description="``at`` in the site's time zone")
    kind: str
    uid: str | None
    holder: HolderOut | None = Field(description="the card's holder now; null for an event "
                                                 "without a card or a card the desk does "
                                                 "not know")
    granted: bool | None
    reason: str | None = Field(description="why granted or denied, one named reason")
    alarm: bool
    clock_trusted: bool
    data: dict[str, Any]
    received_at: datetime | None


class EventsOut(BaseModel):
    """The events matching the filters, newest first unless asked otherwise."""

    events: list[EventOut]
    limit: int
    truncated: bool = Field(description="more events match: narrow the time window")


class AlarmOut(BaseModel):
    """One open alarm of a gate, in a plain category."""

    category: AlarmCategory = Field(description="what a guard calls it")
    kind: str = Field(description="the event kind as journalled (or the hub's alarm kind)")
    source: str = Field(description="gate: its journal; hub: the desk's link noticed; status: "
                                    "its reported status")
    raised_at: datetime | None = Field(description="by the gate's clock when it trusted it, "
                                                   "else when it reached the desk")
    standing: bool = Field(description="true: open until the gate reports it ended (a "
                                       "door closed, a barrier reset); false: a one-off, "
                                       "listed for 24 hours")
    recent: int = Field(description="how many of this kind reached the desk in 24 hours")
    detail: dict[str, Any]


class DeviceOut(BaseModel):
    """A gate controller as the desk sees it now."""

    device: str
    state: GateState = Field(description="online, offline, or unknown: the desk itself has "
                                         "lost the broker (see link) or the gate never "
                                         "reported")
    online: bool | None = Field(description="null while unknown")
    last_seen: datetime | None = Field(description="its last status message reached the desk")
    applied_seq: int | None = Field(description="the site list's entry it has applied")
    behind: int | None = Field(description="entries of the site's list it has not applied "
                                           "(site_seq - applied_seq); null while unknown")
    backlog: int | None = Field(description="its journal's events not yet acknowledged; null "
                                            "while unknown")
    clock_trusted: bool | None
    journal_id: str | None = Field(default=None,
                                   description="its current journal (the newest seen)")
    events_upto: int | None = Field(description="every event of its current journal up to "
                                                "this seq is stored here")
    alarms: list[AlarmOut] = Field(description="open alarms: standing first, newest first")


class DevicesOut(BaseModel):
    """Every gate controller of the site, and the desk's own link to them."""

    link: LinkState = Field(description="the desk's link to the site's broker: connected, "
                                        "disconnected (every gate is then unknown), or "
                                        "not_linked (the desk reads a store it does not feed)")
    site_seq: int = Field(description="the newest entry of the site's list")
    devices: list[DeviceOut]


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which JSON cannot carry) as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _unavailable(what_zh: str, what_en: str) -> UnavailableError:
    return UnavailableError(f"本小区的{what_zh}未接入", f"this site's {what_en} is not connected")


@dataclass(frozen=True)
class EventsAsked(gate_events.EventQuery):
    """The feed's filters, and how many events at most."""

    limit: Annotated[int, Integer(min=1, max=MAX_LIMIT)] = DEFAULT_LIMIT


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
        kind: Annotated[str | None, Query(description="event kinds, separated by commas "
                                                      "(tap, door_forced_open, ...)")] = None,
        order: Annotated[str | None, Query(json_schema_extra={"enum": ["newest", "oldest"]},
                                           description="newest first (default) or oldest "
                                                       "first")] = None,
        limit: Annotated[str | None, Query(json_schema_extra={
            "type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            description=f"at most this many (default {DEFAULT_LIMIT})")] = None,
) -> EventsOut:
    """Gate events of the caller's site by card, gate, time window, outcome and kind,
    newest first by the device's clock (``order=oldest`` for the other way), each with its
    card's holder and unit and its time in the site's time zone."""
    asked = query_input(EventsAsked, {
        "card": card, "gate": gate, "since": since, "until": until, "outcome": outcome,
        "kind": kind, "order": order, "limit": limit})
    source = api_state(request).events.get(actor.site)
    if source is None:
        with reading(request, actor):
            pass  # who may not read events hears that first, not that none are linked
        raise _unavailable("门禁事件库", "gate event store")
    page = gate_events.gate_events(api_state(request).desk, actor, source,
                                   asked.event_filter(asked.limit))
    return EventsOut(events=[_event(e) for e in page.events], limit=page.limit,
                     truncated=page.truncated)


def _event(found: gate_events.GateEvent) -> EventOut:
    e, holder = found.event, found.holder
    return EventOut(device=str(e["device"]), journal_id=str(e.get("journal_id") or ""),
                    seq=int(e["seq"]), at=found.at, at_local=found.at_local,
                    kind=str(e["kind"]), uid=e.get("uid"),
                    holder=None if holder is None else HolderOut(
                        person_id=holder.person_id, name=holder.name, unit=holder.unit),
                    granted=e.get("granted"), reason=e.get("reason"),
                    alarm=bool(e.get("alarm")), clock_trusted=bool(e.get("clock_trusted")),
                    data=_finite(e.get("data") or {}),
                    received_at=epoch_instant(e.get("received_at")))


def sync_source(request: Request, actor: Actor) -> GateSyncSource:
    """The caller's site's sync store (503 when none is linked), once the matrix let the
    caller in."""
    source = api_state(request).devices.get(actor.site)
    if source is None:
        with reading(request, actor):
            pass  # a caller the matrix refuses hears that first
        raise _unavailable("门禁设备状态", "device status")
    return source


@router.get("/devices", responses=error_responses(503))
def list_devices(request: Request, actor: ActorDep) -> DevicesOut:
    """The gate controllers of the caller's site: online, offline or unknown (while the
    desk has lost the broker), last seen, how far behind the site's list, journal backlog,
    clock trust and open alarms; and the desk's own link."""
    source = sync_source(request, actor)
    found = gate_status.site_gates(api_state(request).desk, actor, source,
                                   api_state(request).links.get(actor.site))
    return DevicesOut(link=found.link, site_seq=found.site_seq, devices=[DeviceOut(
        device=g.device, state=g.state, online=g.online, last_seen=g.last_seen,
        applied_seq=g.applied_seq, behind=g.behind, backlog=g.backlog,
        clock_trusted=g.clock_trusted, journal_id=g.journal_id, events_upto=g.events_upto,
        alarms=[AlarmOut(category=a.category, kind=a.kind, source=a.source,
                         raised_at=a.raised_at, standing=a.standing, recent=a.recent,
                         detail=_finite(dict(a.detail))) for a in g.alarms])
        for g in found.gates])


class SiteGatesOut(BaseModel):
    """One site's gates, counted (its gates page has each gate and its alarms)."""

    site: str
    name: str
    link: LinkState = Field(description="the desk's link to the site's broker (see "
                                        "GET /devices)")
    gates: int = Field(description="the gates the site names, and any other controller "
                                   "that reports")
    online: int
    offline: int
    unknown: int = Field(description="the desk lost the site's broker, or the gate never "
                                     "reported")
    behind: int = Field(description="gates that have not applied the site's newest list "
                                    "entry")
    backlog: int = Field(description="events the gates hold that have not reached the desk")
    clock_untrusted: int = Field(description="gates that do not trust their own clock")
    trouble: bool = Field(description="a gate offline, behind or with an untrusted clock, "
                                      "or the desk's link down: listed first")


class SitesGatesOut(BaseModel):
    """Every site whose gates the caller watches, the sites in trouble first."""

    sites: list[SiteGatesOut]


@router.get("/sites/gates")
def list_sites_gates(request: Request, who: CallerDep) -> SitesGatesOut:
    """Every compound's gates at a glance, for the staff who watch several: per site the
    gates online, offline and unknown, those behind the site's list, the events waiting on
    them and the untrusted clocks; the sites where the caller's role watches gates only,
    those in trouble first."""
    state = api_state(request)
    found = site_overview.sites_gates(state.desk, who.staff_id, state.device_states,
                                       state.links)
    return SitesGatesOut(sites=[SiteGatesOut(
        site=s.code, name=s.name, link=s.link, gates=s.gates, online=s.online,
        offline=s.offline, unknown=s.unknown, behind=s.behind, backlog=s.backlog,
        clock_untrusted=s.clock_untrusted, trouble=s.trouble) for s in found])


class ClassOut(BaseModel):
    """One space class of a car park."""

    spaces: int | None = Field(description="the car park's spaces of this class; null when "
                                            "it has none (a tailgating car still counts as "
                                            "temporary)")
    occupied: int
    free: int | None = Field(description="spaces - occupied, never below 0; null with spaces")


class LaneOut(BaseModel):
    """One lane counting a car park's entries or exits."""

    device: str = Field(description="the lane's gate controller (its MQTT name)")
    name: str = Field(description="the gate's name in the site file")
    last_heard: datetime | None = Field(description="when the desk last heard its counts; "
                                                    "null: not since the desk started")
    silent_s: float | None = Field(description="seconds since, by the desk's clock")
    stale: bool = Field(description="not heard for 2 minutes: the count may be missing "
                                    "its cars since")


class CorrectionOut(BaseModel):
    """The newest guard correction: the lanes count on from it."""

    guard: str
    reason: str
    at: datetime | None = Field(description="by the clock of the lane where it was made")
    device: str = Field(description="the lane where the guard made it")
    occupied: dict[str, int] = Field(description="the cars the guard counted, per class")


class LotOut(BaseModel):
    """One car park as its lanes last said."""

    id: str
    name: str
    classes: dict[str, ClassOut] = Field(description="per space class (temporary, monthly, "
                                                     "fixed) the car park counts")
    lanes: list[LaneOut]
    stale: bool = Field(description="some lane is stale: the numbers may be behind")
    correction: CorrectionOut | None


class LotsOut(BaseModel):
    """Every car park of the site any lane reported, and the desk's own link."""

    link: LinkState = Field(description="connected, or disconnected: the counts are then as "
                                        "of the outage, and every lane turns stale")
    lots: list[LotOut]


def lot_source(request: Request, actor: Actor) -> LotSource:
    """The caller's site's live link, which hears the lanes' counts (503 when the desk has
    none), once the matrix let the caller in."""
    # Any link of the same shape as CentralSync hears them; one without lot_readings cannot.
    link: object = api_state(request).links.get(actor.site)
    if not isinstance(link, LotSource):
        with reading(request, actor):
            pass  # a caller the matrix refuses hears that first
        raise _unavailable("停车场车位统计", "car park occupancy")
    return link


@router.get("/lots", responses=error_responses(503))
def list_lots(request: Request, actor: ActorDep) -> LotsOut:
    """The car parks of the caller's site: per space class the spaces, occupied and free;
    each lane with when its counts were last heard and whether it is stale; the newest
    guard correction (who, why, when)."""
    source = lot_source(request, actor)
    found = car_parks.site_car_parks(api_state(request).desk, actor, source)
    link = gate_status.link_state(api_state(request).links.get(actor.site))
    return LotsOut(link=link, lots=[LotOut(
        id=p.id, name=p.name,
        classes={c.space_class.value: ClassOut(spaces=c.spaces, occupied=c.occupied,
                                               free=c.free) for c in p.classes},
        lanes=[LaneOut(device=lane.device, name=lane.name, last_heard=lane.last_heard,
                       silent_s=lane.silent_s, stale=lane.stale) for lane in p.lanes],
        stale=bool(p.stale_lanes),
        correction=None if p.correction is None else CorrectionOut(
            guard=p.correction.guard, reason=p.correction.reason, at=p.correction.at,
            device=p.correction.device,
            occupied={c.value: n for c, n in p.correction.occupied.items()}))
        for p in found])
