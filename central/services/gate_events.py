"""The gates' event feed as the desk reads it: newest first, each tap with its card's holder
and unit from the desk's records, and its time also in the site's local time (rule G1's log,
read by the guards and those who answer for them)."""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol, Self

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from central.clock import epoch_instant, zone
from central.form_fields import Choice, Instant, Spec, Text, Uid
from central.form_input import FormInput
from central.forms import FormReader
from central.models import Card, Household, Person, Unit
from central.services.context import Action, Actor, Desk, reading
from central.services.gate_status import GATE_WATCH_ROLES


class EventStore(Protocol):
    """Stored gate events of one site (sync.hub.store.CentralStore.events_for)."""

    site: str

    def events_for(self, device: str | None = None, *, uid: str | None = None,
                   since: float | None = None, until: float | None = None,
                   granted: bool | None = None, kinds: Collection[str] | None = None,
                   newest_first: bool = False, limit: int = 1000) -> list[dict[str, Any]]:
        """Events matching every given filter, at most ``limit``."""
        ...


@dataclass(frozen=True)
class EventFilter:
    """Which events, in which order, how many."""

    device: str | None = None
    uid: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    granted: bool | None = None
    kinds: frozenset[str] | None = None
    newest_first: bool = True
    limit: int = 200


class EventOutcome(enum.StrEnum):
    """Whether a tap opened the gate."""

    GRANTED = "granted"
    DENIED = "denied"


class EventOrder(enum.StrEnum):
    """Which events come first, by the device's clock."""

    NEWEST = "newest"
    OLDEST = "oldest"


# An event kind as the journals name it (tap, door_forced_open, ...).
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True, kw_only=True)
class EventKinds(Spec):
    """Event kinds, separated by commas (``tap,door_forced_open``); read as a set."""

    max: int = 400

    def read(self, r: FormReader, key: str, required: bool) -> Any:
        text = r.text(key, self.max) if required else r.opt_text(key, self.max)
        if text is None:
            return None
        kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
        if not kinds or not all(_KIND.fullmatch(k) for k in kinds):
            r.fail(key, "应为以逗号分隔的事件类型，如 tap,door_forced_open",
                   "event kinds separated by commas, e.g. tap,door_forced_open")
            return None
        return kinds

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max}


@dataclass(frozen=True)
class EventQuery(FormInput):
    """Which events a guard asks for: one gate, one card, granted or denied, some kinds, a
    time window, newest or oldest first (the desk pages' filters and export and the API's
    ``GET /events`` read it)."""

    gate: Annotated[str | None, Text(max=64, label="Gate",
                                     doc="the gate controller (device name)")] = None
    card: Annotated[str | None, Uid(label="Card number", doc="the card's UID")] = None
    outcome: Annotated[EventOutcome | None, Choice(label="Outcome",
                                                   doc="granted or denied")] = None
    kind: Annotated[frozenset[str] | None, EventKinds(
        label="Event", doc="event kinds, separated by commas (tap, door_forced_open, ...)")] \
        = None
    since: Annotated[datetime | None, Instant(label="From", doc="at or after")] = None
    until: Annotated[datetime | None, Instant(label="Until", doc="before")] = None
    order: Annotated[EventOrder, Choice(label="Order", doc="newest first (default) or "
                                                           "oldest first")] = EventOrder.NEWEST

    def cross_check(self, form: FormReader) -> Self:
        """A window that ends before it starts would match nothing: say so."""
        if self.since is not None and self.until is not None and self.until <= self.since:
            form.fail("until", "结束时间须晚于开始时间", "must be after the start")
        return self

    def event_filter(self, limit: int) -> EventFilter:
        """The store's filter for this query, at most ``limit`` events."""
        return EventFilter(device=self.gate, uid=self.card or None, since=self.since,
                           until=self.until,
                           granted=None if self.outcome is None
                           else self.outcome is EventOutcome.GRANTED,
                           kinds=self.kind or None,
                           newest_first=self.order is EventOrder.NEWEST, limit=limit)


@dataclass(frozen=True)
class Holder:
    """Who holds the card now, by the desk's records."""

    person_id: int
    name: str
    unit: str | None  # the household's unit, ``3-1201``; None for a card outside one


@dataclass(frozen=True)
class GateEvent:
    """One journalled event with what the desk knows of its card. ``at_local`` is ``at``
    in the site's time zone; ``holder`` is None for an event without a card or a card the
    desk does not know (an unknown card's tap)."""

    event: Mapping[str, Any]
    at: datetime | None
    at_local: datetime | None
    holder: Holder | None


@dataclass(frozen=True)
class EventPage:
    """The events that matched, ``truncated`` when more did."""

    events: tuple[GateEvent, ...]
    limit: int
    truncated: bool


def holders(act: Action, uids: Iterable[str]) -> dict[str, Holder]:
    """The current holder of each of these cards of the site the desk knows; one query."""
    wanted = {u for u in uids if u}
    if not wanted:
        return {}
    cards = act.session.scalars(
        select(Card).where(Card.site_id == act.site.id, Card.uid.in_(wanted),
                           Card.holder_person_id.is_not(None))
        .options(selectinload(Card.holder).selectinload(Person.household)
                 .selectinload(Household.unit).selectinload(Unit.building))).all()
    out = {}
    for card in cards:
        person = card.holder
        if person is None:
            continue
        household = person.household
        out[card.uid] = Holder(person.id, person.name,
                               household.unit.label if household is not None else None)
    return out


# What a booth's visitor record carries of the visitor (docs/booth.md ``visitor_in``): never
# shown with the events, to anyone (rule G5); the visitor register shows it, masked but to
# the director (central/services/booth_records.py).
PRIVATE_DATA_KEYS = frozenset({"id_number", "name"})


def redacted(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """``event`` without the personal data its ``data`` may carry (PRIVATE_DATA_KEYS)."""
    data = event.get("data")
    if not isinstance(data, Mapping) or not PRIVATE_DATA_KEYS & data.keys():
        return event
    return {**event, "data": {k: v for k, v in data.items() if k not in PRIVATE_DATA_KEYS}}


def gate_events(desk: Desk, actor: Actor, source: EventStore, wanted: EventFilter) -> EventPage:
    """The caller's site's gate events matching ``wanted`` (gate watchers only)."""
    with reading(desk, actor, GATE_WATCH_ROLES) as act:
        # One more than asked tells whether the answer was cut short.
        found = source.events_for(
            wanted.device, uid=wanted.uid,
            since=wanted.since.timestamp() if wanted.since is not None else None,
            until=wanted.until.timestamp() if wanted.until is not None else None,
            granted=wanted.granted, kinds=wanted.kinds, newest_first=wanted.newest_first,
            limit=wanted.limit + 1)
        page = [redacted(e) for e in found[:wanted.limit]]
        known = holders(act, (str(e["uid"]) for e in page if e.get("uid")))
        local = zone(act.site.timezone)
        events = []
        for e in page:
            at = epoch_instant(e.get("wall"))
            events.append(GateEvent(e, at, at.astimezone(local) if at is not None else None,
                                    known.get(str(e.get("uid") or ""))))
        return EventPage(tuple(events), wanted.limit, len(found) > wanted.limit)
