"""The desk's one search box: whatever the clerk types — a unit, a name, a phone, a card
UID in any spelling, a plate — the households, people, cards and vehicles it names.

What is compared with what:

- a unit: ``1栋2单元301``, ``1-2-301``, ``1号楼2单元301室``; the start of one (``1栋2单元30``),
  or a part from a token on (``2单元30``, ``301``); the building and the room without the
  entrance (``1栋301`` finds ``1-2-301``) — against the unit's key (central/search_keys.py);
- a name, whole, by its start or any part (people of every kind but visitors: rule G5 keeps
  what the gate registers about them out of reach);
- a phone's digits, whole, by their start, or by the last digits (``0001``; at least four
  digits, at most eight);
- a card UID as hex in any case with or without ``:``, spaces or dashes, whole or by its
  start (at least four hex digits);
  a desk reader's 10-digit decimal in the site's byte order (``desk_reader_uid_order``),
  and in the other order too, labelled as such, for a reader set up the other way;
- a plate in any case, with or without its dot or spaces (stored as ``normalize_plate``
  writes it), whole, by its start or any part (``B12345`` without the province).

Digits from the middle of a phone number or a UID are not searched: they would match by
chance far more often than by intent, and cost a scan on every keystroke.

ID numbers are never compared (rule G5): typing one finds nothing by it.

Hits are ranked exact, then by the start (or a phone's last digits), then anywhere, and
within each rank households, people, cards, vehicles. Each rank asks the database only for
as many rows as are still missing, through indexes where the rank allows one, so a
search-as-you-type stays fast on a site of thousands of households.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from central.models import (
    Building,
    Card,
    CardState,
    HolderKind,
    Household,
    HouseholdKind,
    ParkingSubscription,
    Person,
    ReaderUidOrder,
    Relationship,
    Unit,
    Vehicle,
)
from central.search_keys import address_query, address_tokens, phone_digits
from central.services.context import DESK_ROLES, Action, Actor, Desk
from central.services.parking_space import normalize_plate
from central.services.privacy import mask_phone
from central.uids import UID_BYTES, from_reader, is_reader_decimal

DEFAULT_LIMIT, MAX_LIMIT = 20, 50
MAX_QUERY = 64
# Who may search: the desk (households, people and cards are its work).
SEARCHERS = DESK_ROLES
# Fewer digits than this are too common to mean a phone or a card (``13``, ``04``).
MIN_PHONE_DIGITS = 4
MIN_UID_HEX = 4
MIN_PLATE = 2
# A phone's last digits (尾号) are four, sometimes a few more; more is the start of a number.
MAX_LAST_DIGITS = 8
_UID_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-F]+$")
_PHONE_TEXT = re.compile(r"^[0-9\s\-+()]+$")
# Above every character: ``col < text + _TOP`` bounds the strings that start with text.
_TOP = "\U0010ffff"
_ESCAPE = "/"


class Match(enum.StrEnum):
    """How a hit matched; hits are ranked in this order (a phone's last digits rank with a
    start)."""

    EXACT = "exact"
    PREFIX = "prefix"
    LAST_DIGITS = "last_digits"
    CONTAINS = "contains"


class MatchedOn(enum.StrEnum):
    """Which of the hit's values the text matched."""

    UNIT = "unit"
    NAME = "name"
    PHONE = "phone"
    UID = "uid"
    # A desk reader's decimal read in the site's byte order, or in the other one (a reader
    # configured unlike the site's setting): the clerk is told which.
    READER_DECIMAL = "reader_decimal"
    READER_DECIMAL_OTHER_ORDER = "reader_decimal_other_order"
    PLATE = "plate"


class LinkKind(enum.StrEnum):
    """What a hit opens."""

    HOUSEHOLD = "household"
    PERSON = "person"
    CARD = "card"


@dataclass(frozen=True)
class Link:
    """The page a hit opens: a household or person by id, a card by UID."""

    kind: LinkKind
    target: str


@dataclass(frozen=True)
class HouseholdHit:
    """A unit and one household living in it now; a vacant unit has no household."""

    match: Match
    matched_on: MatchedOn
    unit_id: int
    unit: str  # building-number, as the desk writes it (``1-1201``)
    household_id: int | None
    household_kind: HouseholdKind | None
    members: tuple[str, ...]  # the householder first

    @property
    def link(self) -> Link | None:
        """The household's page; none for a vacant unit."""
        if self.household_id is None:
            return None
        return Link(LinkKind.HOUSEHOLD, str(self.household_id))


@dataclass(frozen=True)
class PersonHit:
    """Someone on record; the phone masked (``138****0001``)."""

    match: Match
    matched_on: MatchedOn
    person_id: int
    name: str
    holder_kind: HolderKind
    phone: str
    household_id: int | None
    unit: str | None
    organisation: str

    @property
    def link(self) -> Link:
        """The person's page."""
        return Link(LinkKind.PERSON, str(self.person_id))


@dataclass(frozen=True)
class CardHit:
    """A card, its state and its holder."""

    match: Match
    matched_on: MatchedOn
    uid: str
    state: CardState
    valid_until: date | None
    holder_person_id: int | None
    holder_name: str | None
    holder_kind: HolderKind | None
    household_id: int | None
    unit: str | None

    @property
    def link(self) -> Link:
        """The card's page."""
        return Link(LinkKind.CARD, self.uid)


@dataclass(frozen=True)
class VehicleHit:
    """A vehicle, its owner, and the card its monthly parking runs on, if any."""

    match: Match
    matched_on: MatchedOn
    vehicle_id: int
    plate: str
    owner_person_id: int | None
    owner_name: str | None
    household_id: int | None
    unit: str | None
    card_uid: str | None
    paid_until: date | None

    @property
    def link(self) -> Link | None:
        """The owner's page, else the parking card's."""
        if self.owner_person_id is not None:
            return Link(LinkKind.PERSON, str(self.owner_person_id))
        if self.card_uid is not None:
            return Link(LinkKind.CARD, self.card_uid)
        return None


Hit = HouseholdHit | PersonHit | CardHit | VehicleHit


@dataclass(frozen=True)
class SearchText:
    """The typed text read every way it may be meant; None where it cannot be that."""

    text: str
    address: str | None  # ``-1-2-30``: see central/search_keys.py
    address_tokens: tuple[str, ...]
    name: str | None
    phone: str | None  # digits
    uid: str | None  # upper-case hex, separators dropped
    reader_uids: tuple[tuple[str, MatchedOn], ...]  # a reader decimal's hex, in each order
    plate: str | None

    @classmethod
    def read(cls, text: str, order: ReaderUidOrder) -> SearchText:
        """``text`` (already stripped, at most MAX_QUERY characters) as each kind of value
        the box finds; the reader's decimal in ``order`` first."""
        address = address_query(text)
        has_letters = any(ch.isalpha() for ch in text)
        digits = phone_digits(text) if _PHONE_TEXT.match(text) else None
        hexed = _UID_SEPARATORS.sub("", text).upper()
        readers: list[tuple[str, MatchedOn]] = []
        if is_reader_decimal(text) and int(text) <= 0xFFFFFFFF:
            other = (ReaderUidOrder.MSB_FIRST if order is ReaderUidOrder.LSB_FIRST
                     else ReaderUidOrder.LSB_FIRST)
            readers = [(from_reader(text, order), MatchedOn.READER_DECIMAL),
                       (from_reader(text, other), MatchedOn.READER_DECIMAL_OTHER_ORDER)]
        plate = normalize_plate(text)
        return cls(
            text=text, address=address,
            address_tokens=tuple(address_tokens(text)) if address else (),
            name=text if has_letters else None,
            phone=digits if digits and len(digits) >= MIN_PHONE_DIGITS else None,
            uid=(hexed if _HEX.match(hexed) and MIN_UID_HEX <= len(hexed) <= 2 * max(UID_BYTES)
                 else None),
            reader_uids=tuple(readers),
            plate=(plate if len(plate) >= MIN_PLATE and any(c.isascii() and c.isalnum()
                                                            for c in plate) else None))


def search(act: Action, text: str, limit: int = DEFAULT_LIMIT) -> list[Hit]:
    """At most ``limit`` hits for ``text`` at the action's site (already authorised), best
    first: exact, then by the start, then anywhere. Blank text finds nothing."""
    wanted = text.strip()[:MAX_QUERY]
    if not wanted:
        return []
    q = SearchText.read(wanted, act.site.settings.desk_reader_uid_order)
    finders: tuple[Finder, ...] = (_households, _people, _cards, _vehicles)
    hits: list[Hit] = []
    seen: set[tuple[str, object]] = set()
    for level in (Match.EXACT, Match.PREFIX, Match.CONTAINS):
        for finder in finders:
            room = limit - len(hits)
            if room <= 0:
                return hits
            # Asked for a few more than there is room for: one may already be listed (a
            # person whose name and phone both match).
            for hit in finder(act, q, level, room + len(seen)):
                identity = _identity(hit)
                if identity in seen:
                    continue
                seen.add(identity)
                hits.append(hit)
                if len(hits) == limit:
                    return hits
    return hits


def search_desk(desk: Desk, actor: Actor, text: str, limit: int = DEFAULT_LIMIT) -> list[Hit]:
    """``search`` in its own read-only session, for a member of the desk."""
    with desk.sessions() as session:
        act = Action(desk, session)
        act.authorise(actor, SEARCHERS)
        return search(act, text, limit)


Finder = Callable[[Action, SearchText, Match, int], list[Hit]]


def _identity(hit: Hit) -> tuple[str, object]:
    if isinstance(hit, HouseholdHit):
        return ("household", (hit.unit_id, hit.household_id))
    if isinstance(hit, PersonHit):
        return ("person", hit.person_id)
    if isinstance(hit, CardHit):
        return ("card", hit.uid)
    return ("vehicle", hit.vehicle_id)


# ------------------------------------------------------------------ matching one column


TextColumn = InstrumentedAttribute[str] | InstrumentedAttribute[str | None]


def _escaped(text: str) -> str:
    return (text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%")
            .replace("_", _ESCAPE + "_"))


def _starts(col: TextColumn, text: str) -> ColumnElement[bool]:
    # The range lets the index answer; the LIKE keeps it right under any collation.
    return and_(col >= text, col < text + _TOP, col.startswith(text, autoescape=True))


def _level(col: TextColumn, text: str, level: Match) -> ColumnElement[bool]:
    """``col`` equal to ``text``, starting with it (not equal), or containing it (not at
    the start): the three ranks never overlap."""
    if level is Match.EXACT:
        return col == text
    if level is Match.PREFIX:
        return and_(_starts(col, text), col != text)
    return and_(col.contains(text, autoescape=True), not_(_starts(col, text)))


# ------------------------------------------------------------------ households (units)


def _unit_condition(q: SearchText, level: Match) -> ColumnElement[bool] | None:
    if q.address is None:
        return None
    key, whole = Unit.search_key, q.address + "-"
    if level is Match.EXACT:
        return key == whole
    if level is Match.PREFIX:
        return and_(_starts(key, q.address), key != whole)
    anywhere = key.contains(q.address, autoescape=True)
    if len(q.address_tokens) > 1:
        # The building, then the rest after any tokens skipped: 1栋301 → 1-2-301.
        first, *rest = q.address_tokens
        skipping = f"-{_escaped(first)}-%-{_escaped('-'.join(rest))}%"
        anywhere = or_(anywhere, key.like(skipping, escape=_ESCAPE))
    return and_(anywhere, not_(_starts(key, q.address)))


def _households(act: Action, q: SearchText, level: Match, room: int) -> list[Hit]:
    condition = _unit_condition(q, level)
    if condition is None:
        return []
    site_buildings = aliased(Building)
    units = act.session.execute(
        select(Unit.id, Building.code, Unit.number).select_from(Unit)
        .outerjoin(Building, Building.id == Unit.building_id)
        # ``+ 0``: the site's buildings only sift; the key's index, read in its order, finds
        # (without statistics SQLite would rather walk the site's buildings and sort).
        .where((Unit.building_id + 0).in_(select(site_buildings.id).where(
            site_buildings.site_id == act.site.id)), condition)
        .order_by(Unit.search_key).limit(room)).all()
    if not units:
        return []
    living = act.session.execute(
        select(Household.id, Household.unit_id, Household.kind)
        .where(Household.unit_id.in_([u.id for u in units]), Household.ended_on.is_(None))
        .order_by(Household.kind, Household.id)).all()
    members = _member_names(act, [h.id for h in living])
    hits: list[Hit] = []
    for unit_id, code, number in units:
        label = f"{code}-{number}"
        households = [h for h in living if h.unit_id == unit_id]
        if not households:
            hits.append(HouseholdHit(level, MatchedOn.UNIT, unit_id, label, None, None, ()))
        for h in households:
            hits.append(HouseholdHit(level, MatchedOn.UNIT, unit_id, label, h.id, h.kind,
                                     tuple(members.get(h.id, ()))))
    return hits


def _member_names(act: Action, household_ids: list[int]) -> dict[int, list[str]]:
    """The names of each household's people, the householder first."""
    if not household_ids:
        return {}
    names: dict[int, list[str]] = {}
    rows = act.session.execute(
        select(Person.household_id, Person.name, Person.relation_to_householder)
        .where(Person.household_id.in_(household_ids)).order_by(Person.id)).all()
    for row in sorted(rows, key=lambda r: r.relation_to_householder is not Relationship.SELF):
        if row.household_id is not None:
            names.setdefault(row.household_id, []).append(row.name)
    return names


# ------------------------------------------------------------------ people


def _people(act: Action, q: SearchText, level: Match, room: int) -> list[Hit]:
    # (condition, how it matched, on what, the column whose index answers it, in order)
    asked: list[tuple[ColumnElement[bool], Match, MatchedOn, TextColumn]] = []
    if q.name is not None:
        asked.append((_level(Person.name, q.name, level), level, MatchedOn.NAME, Person.name))
    if q.phone is not None and level is not Match.CONTAINS:
        # Digits in the middle of a number are no way to name someone: not searched.
        asked.append((_level(Person.phone_digits, q.phone, level), level, MatchedOn.PHONE,
                      Person.phone_digits))
        if level is Match.PREFIX and len(q.phone) <= MAX_LAST_DIGITS:
            backwards = q.phone[::-1]
            asked.append((and_(_starts(Person.phone_digits_reversed, backwards),
                               Person.phone_digits_reversed != backwards),
                          Match.LAST_DIGITS, MatchedOn.PHONE, Person.phone_digits_reversed))
    hits: list[Hit] = []
    for condition, match, on, column in asked:
        rows = act.session.execute(
            select(Person.id, Person.name, Person.holder_kind, Person.phone,
                   Person.household_id, Person.organisation, Building.code, Unit.number)
            .outerjoin(Household, Household.id == Person.household_id)
            .outerjoin(Unit, Unit.id == Household.unit_id)
            .outerjoin(Building, Building.id == Unit.building_id)
            .where(Person.site_id == act.site.id, Person.holder_kind != HolderKind.VISITOR,
                   condition)
            .order_by(column, Person.id).limit(room)).all()
        hits.extend(PersonHit(match, on, r.id, r.name, r.holder_kind, mask_phone(r.phone),
                              r.household_id, _label(r.code, r.number), r.organisation)
                    for r in rows)
    return hits


def _label(code: str | None, number: str | None) -> str | None:
    return None if code is None or number is None else f"{code}-{number}"


# ------------------------------------------------------------------ cards


def _cards(act: Action, q: SearchText, level: Match, room: int) -> list[Hit]:
    conditions: list[tuple[ColumnElement[bool], MatchedOn]] = []
    # A UID is read whole or typed from its start; hex digits from its middle would match
    # by chance more often than by intent: not searched.
    if q.uid is not None and level is not Match.CONTAINS and (
            level is Match.PREFIX or len(q.uid) in (2 * n for n in UID_BYTES)):
        conditions.append((_level(Card.uid, q.uid, level), MatchedOn.UID))
    if level is Match.EXACT:
        conditions.extend((Card.uid == uid, on) for uid, on in q.reader_uids)
    hits: list[Hit] = []
    for condition, on in conditions:
        rows = act.session.execute(
            select(Card.uid, Card.state, Card.valid_until, Card.holder_person_id,
                   Card.holder_kind, Person.name, Person.household_id, Building.code,
                   Unit.number)
            .outerjoin(Person, Person.id == Card.holder_person_id)
            .outerjoin(Household, Household.id == Person.household_id)
            .outerjoin(Unit, Unit.id == Household.unit_id)
            .outerjoin(Building, Building.id == Unit.building_id)
            .where(Card.site_id == act.site.id, condition)
            .order_by(Card.uid).limit(room)).all()
        hits.extend(CardHit(level, on, r.uid, r.state, r.valid_until, r.holder_person_id,
                            r.name, r.holder_kind, r.household_id, _label(r.code, r.number))
                    for r in rows)
    return hits


# ------------------------------------------------------------------ vehicles


def _vehicles(act: Action, q: SearchText, level: Match, room: int) -> list[Hit]:
    if q.plate is None:
        return []
    rows = act.session.execute(
        select(Vehicle.id, Vehicle.plate, Vehicle.owner_person_id, Person.name,
               Person.household_id, Building.code, Unit.number)
        .outerjoin(Person, Person.id == Vehicle.owner_person_id)
        .outerjoin(Household, Household.id == Person.household_id)
        .outerjoin(Unit, Unit.id == Household.unit_id)
        .outerjoin(Building, Building.id == Unit.building_id)
        .where(Vehicle.site_id == act.site.id, _level(Vehicle.plate, q.plate, level))
        .order_by(Vehicle.plate).limit(room)).all()
    parking = _running_parking(act, [r.id for r in rows])
    return [VehicleHit(level, MatchedOn.PLATE, r.id, r.plate, r.owner_person_id, r.name,
                       r.household_id, _label(r.code, r.number),
                       *parking.get(r.id, (None, None)))
            for r in rows]


def _running_parking(act: Action, vehicle_ids: Iterable[int]
                     ) -> dict[int, tuple[str, date | None]]:
    """Each vehicle's running subscription: its card's UID and the day it is paid to."""
    ids = list(vehicle_ids)
    if not ids:
        return {}
    rows = act.session.execute(
        select(ParkingSubscription.vehicle_id, Card.uid, ParkingSubscription.paid_until)
        .join(Card, Card.id == ParkingSubscription.card_id)
        .where(ParkingSubscription.vehicle_id.in_(ids), ParkingSubscription.ended_on.is_(None))
        .order_by(ParkingSubscription.id)).all()
    return {vehicle_id: (uid, paid_until) for vehicle_id, uid, paid_until in rows}
