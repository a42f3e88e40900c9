"""The card record: the contract between the desk, the sync hub and the gate, and its wire form.

A card's **full effective record** (state, not a command): the desk computes it, the hub logs
and publishes it, the gate stores it in ``auth.db`` and decides on it (``edge.cards``
``CardRecord`` is the same record with its schedule parsed for the decision). Applying it
twice is harmless; the newest sequence number wins.

Its wire form is a compact JSON object (docs/sync-protocol.md, *Card record*)::

    {"uid":"04A1B2C3","status":"active","valid_from":"2026-01-01","valid_until":null,
     "access_groups":["b1"],"schedule":null,"holder_kind":"owner","plate":null}

A card with monthly parking also carries ``"parking"``, one entry per subscription (left out
when there is none, so the text of every other record is as it always was)::

    "parking":[{"group":"carpark","space":"fixed","space_no":"B-012","plate":"粤B12345",
                "from":"2026-06-09","until":"2026-07-08"}]

A record is encoded once (``encode``) and travels as that text from then on: the desk logs
it, the hub relays and logs it unchanged (``check_text`` validates it as a gate would), and
each message embeds it as it is. Only the gate (and a reader of the hub's log) decodes it.

The module is plain Python with no dependency beyond ``edge``, so every part may import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from edge.cards import CardStatus, ParkingRight, parse_schedule
from edge.uid import normalize_uid

# A card's JSON as it sits inside the signed envelope (quotes escaped, as the payload string
# of sync/wire/signing.py escapes them). Bounding it lets every message built from cards be
# cut to fit the largest message, so none can block the outbox or a snapshot forever.
MAX_WIRE_BYTES = 1000

# The settings of every protocol message's JSON, built once: json.dumps builds an encoder
# per call, which is most of the cost of logging a million cards.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class CardRecordError(ValueError):
    """A record a gate would refuse; the message names the field."""


@dataclass(frozen=True)
class CardRow:
    """A card's full effective record as the desk computes it, the hub logs it and the gate
    stores it. ``auth_seq`` is its entry in the site's authorisation log (0 when not logged)."""

    uid: str
    status: CardStatus
    valid_from: date | None
    valid_until: date | None  # inclusive: valid through that day, local time
    access_groups: tuple[str, ...]
    schedule: str | None  # as written, e.g. "Mon-Sat 08:00-12:00 14:00-18:00"
    holder_kind: str
    plate: str | None
    auth_seq: int = 0
    parking: tuple[ParkingRight, ...] = ()


@dataclass(frozen=True)
class WireCard:
    """A record in its wire form, checked: what the hub logs and every message embeds."""

    uid: str  # normalised, for ordering and lookups beside the text
    text: str


def parking_to_wire(right: ParkingRight) -> dict[str, Any]:
    """One parking entry as it travels (and as auth.db keeps it)."""
    return {"group": right.group, "space": right.space_kind, "space_no": right.space_no,
            "plate": right.plate, "from": right.starts_on.isoformat(),
            "until": right.paid_until.isoformat()}


def to_wire(card: CardRow) -> dict[str, Any]:
    """The wire form of a record as a JSON value (no checks: see ``encode``)."""
    wire: dict[str, Any] = {
        "uid": card.uid, "status": card.status.value,
        "valid_from": card.valid_from.isoformat() if card.valid_from else None,
        "valid_until": card.valid_until.isoformat() if card.valid_until else None,
        "access_groups": list(card.access_groups), "schedule": card.schedule,
        "holder_kind": card.holder_kind, "plate": card.plate,
    }
    if card.parking:
        wire["parking"] = [parking_to_wire(p) for p in card.parking]
    return wire


def wire_text(card: CardRow) -> str:
    """The wire form of a record as JSON text (no checks: see ``encode``)."""
    return str(_encode(to_wire(card)))


def wire_bytes(text: str) -> int:
    """What the JSON value ``text`` adds to a signed message: its escaped form inside the
    envelope's payload string, and a comma."""
    return len(json.dumps(text)) - 1  # the two quotes json.dumps adds, one comma


def _checked_size(uid: str, text: str) -> WireCard:
    if wire_bytes(text) > MAX_WIRE_BYTES:
        raise CardRecordError(f"card {uid}: record larger than {MAX_WIRE_BYTES} bytes on the "
                              "wire")
    return WireCard(uid, text)


def encode(card: CardRow, schedules: dict[str, str] | None = None) -> WireCard:
    """The record checked as a gate would check it, normalised (UID, schedule) and encoded;
    CardRecordError if a gate would refuse it (the whole message carrying it would then be
    refused at every gate). ``schedules`` caches parsed specs across the cards of one load."""
    try:
        uid = normalize_uid(card.uid)
        status = CardStatus(card.status)
    except ValueError as exc:
        raise CardRecordError(f"card {card.uid!r}: {exc}") from exc
    for name, value in (("valid_from", card.valid_from), ("valid_until", card.valid_until)):
        if value is not None and not isinstance(value, date):
            raise CardRecordError(f"card {uid}: {name} must be a date")
    if card.valid_from and card.valid_until and card.valid_until < card.valid_from:
        raise CardRecordError(f"card {uid}: valid_until is before valid_from")
    for right in card.parking:
        if not isinstance(right, ParkingRight):
            raise CardRecordError(f"card {uid}: parking entries must be ParkingRight")
        # The same checks a gate makes on reading it (parking_from_wire).
        parking_from_wire(parking_to_wire(right), f"card {uid}.parking")
    if not all(isinstance(g, str) and g for g in card.access_groups):
        raise CardRecordError(f"card {uid}: access_groups must be non-empty names")
    if not isinstance(card.holder_kind, str) or not isinstance(card.plate, str | None) \
            or not isinstance(card.schedule, str | None):
        raise CardRecordError(f"card {uid}: holder_kind, plate and schedule must be text")
    wire = to_wire(card)
    wire["uid"], wire["status"] = uid, status.value
    if card.schedule is not None:
        cache = {} if schedules is None else schedules
        spec = cache.get(card.schedule)
        if spec is None:  # many cards share a schedule: parse each spec once per load
            try:
                spec = cache[card.schedule] = parse_schedule(card.schedule).spec
            except ValueError as exc:
                raise CardRecordError(f"card {uid}: schedule: {exc}") from exc
        wire["schedule"] = spec
    return _checked_size(uid, str(_encode(wire)))


def _get(obj: dict[str, Any], key: str, kind: type, where: str, optional: bool = False) -> Any:
    value = obj.get(key)
    if value is None:
        if optional:
            return None
        raise CardRecordError(f"{where}.{key}: missing")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise CardRecordError(f"{where}.{key}: expected {kind.__name__}, "
                              f"got {type(value).__name__}")
    return value


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CardRecordError(f"{where}: expected a date string")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CardRecordError(f"{where}: {value!r} is not a date") from exc


def parking_from_wire(obj: Any, where: str) -> ParkingRight:
    """One parking entry from its wire form, checked; CardRecordError names the field."""
    if not isinstance(obj, dict):
        raise CardRecordError(f"{where}: expected an object")
    group = _get(obj, "group", str, where)
    space = _get(obj, "space", str, where)
    if not group or not space:
        raise CardRecordError(f"{where}: group and space must not be empty")
    starts_on = _date(obj.get("from"), f"{where}.from")
    paid_until = _date(obj.get("until"), f"{where}.until")
    if starts_on is None or paid_until is None:
        raise CardRecordError(f"{where}: from and until are required")
    # until before from is a lapsed first month (paid_until = from - 1 never happens, but a
    # refund may leave it so): the gate reads it as not paid, which is what it means.
    return ParkingRight(group=group, space_kind=space,
                        space_no=_get(obj, "space_no", str, where, optional=True),
                        plate=_get(obj, "plate", str, where, optional=True),
                        starts_on=starts_on, paid_until=paid_until)


def parking_from_text(text: str | None, where: str = "parking") -> tuple[ParkingRight, ...]:
    """The parking entries as auth.db keeps them (the wire list as JSON text, or NULL)."""
    if not text:
        return ()
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CardRecordError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(value, list):
        raise CardRecordError(f"{where}: expected a list")
    return tuple(parking_from_wire(v, f"{where}[{i}]") for i, v in enumerate(value))


def parking_text(parking: tuple[ParkingRight, ...]) -> str | None:
    """The parking entries as auth.db keeps them; None for none."""
    if not parking:
        return None
    return str(_encode([parking_to_wire(p) for p in parking]))


def from_wire(obj: Any, seq: int = 0, where: str = "card") -> CardRow:
    """A record from its wire form as a JSON value, checked as the gate checks it; ``seq``
    becomes its ``auth_seq``. CardRecordError names the field at ``where``."""
    if not isinstance(obj, dict):
        raise CardRecordError(f"{where}: expected an object")
    try:
        uid = normalize_uid(_get(obj, "uid", str, where))
        status = CardStatus(_get(obj, "status", str, where))
    except CardRecordError:
        raise
    except ValueError as exc:
        raise CardRecordError(f"{where}: {exc}") from exc
    groups = _get(obj, "access_groups", list, where)
    if not all(isinstance(g, str) and g for g in groups):
        raise CardRecordError(f"{where}.access_groups: expected a list of names")
    schedule = _get(obj, "schedule", str, where, optional=True)
    if schedule is not None:
        try:
            schedule = parse_schedule(schedule).spec
        except ValueError as exc:
            raise CardRecordError(f"{where}.schedule: {exc}") from exc
    parking = _get(obj, "parking", list, where, optional=True) or []
    return CardRow(
        uid=uid, status=status,
        valid_from=_date(obj.get("valid_from"), f"{where}.valid_from"),
        valid_until=_date(obj.get("valid_until"), f"{where}.valid_until"),
        access_groups=tuple(groups), schedule=schedule,
        holder_kind=_get(obj, "holder_kind", str, where, optional=True) or "",
        plate=_get(obj, "plate", str, where, optional=True), auth_seq=seq,
        parking=tuple(parking_from_wire(p, f"{where}.parking[{i}]")
                      for i, p in enumerate(parking)),
    )


def decode(text: str, seq: int = 0, where: str = "card") -> CardRow:
    """A record from its wire text, checked as the gate checks it."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise CardRecordError(f"{where}: not JSON: {exc}") from exc
    return from_wire(obj, seq, where)


def check_text(text: str, where: str = "card") -> WireCard:
    """Wire text encoded elsewhere (the desk's log), checked as a gate would check it and
    kept as it is: relaying it needs no second encoding."""
    return _checked_size(decode(text, where=where).uid, text)
