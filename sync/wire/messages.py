"""Message schemas of the sync protocol, validated once on arrival into frozen objects.

Every payload is a JSON object with ``"v": 1`` and a ``"type"``. Anything that does not fit
raises ProtocolError with a message naming the field; callers log it, journal it where it
matters, and drop the message — a malformed message never stops a process."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from edge.auth_store import CardRow
from edge.cards import CardStatus, parse_schedule
from edge.uid import normalize_uid

VERSION = 1
# The largest message, signed or not. The site broker's max_packet_size is this plus a little
# (sync/broker/config.py): Mosquitto allocates the length a packet declares before its
# sender has authenticated, so this also bounds what a stranger's connection can pin.
# Messages built from cards are cut to fit (sync/hub/auth_payloads.py); event batches halve.
MAX_MESSAGE_BYTES = 256 * 1024
COMMANDS = ("open_once", "hold_open", "lockdown", "release")
MAX_COMMAND_LIFETIME_S = 30.0
# A hold-open or lockdown may end by itself; a week is the longest a standing mode is set
# for without somebody looking at it again.
MAX_MODE_DURATION_S = 7 * 24 * 3600.0

T = TypeVar("T")


class ProtocolError(ValueError):
    """A message that does not fit its schema."""


def _get(obj: Mapping[str, Any], key: str, kind: type[T] | tuple[type, ...],
         where: str, optional: bool = False) -> Any:
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise ProtocolError(f"{where}.{key}: missing")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ProtocolError(f"{where}.{key}: expected {kinds[0].__name__}, got a boolean")
    if not isinstance(value, kinds):
        raise ProtocolError(f"{where}.{key}: expected {kinds[0].__name__}, "
                            f"got {type(value).__name__}")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str, minimum: int = 0) -> int:
    value = int(_get(obj, key, int, where))
    if value < minimum:
        raise ProtocolError(f"{where}.{key}: must be at least {minimum}")
    return value


def _num(obj: Mapping[str, Any], key: str, where: str) -> float:
    return float(_get(obj, key, (int, float), where))


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    return list(_get(obj, key, list, where))


def load_object(raw: bytes | str, expected_type: str) -> dict[str, Any]:
    """Parse JSON text into an object of the expected ``type`` and version."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(raw)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("a message must be a JSON object")
    if obj.get("v") != VERSION:
        raise ProtocolError(f"unsupported version {obj.get('v')!r} (this side speaks {VERSION})")
    if obj.get("type") != expected_type:
        raise ProtocolError(f"expected a {expected_type!r} message, got {obj.get('type')!r}")
    return obj


def dump(obj: Mapping[str, Any]) -> str:
    """Compact JSON text of a message."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- cards


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{where}: expected a date string")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ProtocolError(f"{where}: {value!r} is not a date") from exc


def card_from_wire(obj: Any, seq: int, where: str) -> CardRow:
    """A card's full effective record (state, not command)."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where}: expected an object")
    try:
        uid = normalize_uid(_get(obj, "uid", str, where))
        status = CardStatus(_get(obj, "status", str, where))
    except ValueError as exc:
        raise ProtocolError(f"{where}: {exc}") from exc
    groups = _list(obj, "access_groups", where)
    if not all(isinstance(g, str) and g for g in groups):
        raise ProtocolError(f"{where}.access_groups: expected a list of names")
    schedule = _get(obj, "schedule", str, where, optional=True)
    if schedule is not None:
        try:
            schedule = parse_schedule(schedule).spec
        except ValueError as exc:
            raise ProtocolError(f"{where}.schedule: {exc}") from exc
    return CardRow(
        uid=uid, status=status,
        valid_from=_date(obj.get("valid_from"), f"{where}.valid_from"),
        valid_until=_date(obj.get("valid_until"), f"{where}.valid_until"),
        access_groups=tuple(groups), schedule=schedule,
        holder_kind=_get(obj, "holder_kind", str, where, optional=True) or "",
        plate=_get(obj, "plate", str, where, optional=True), auth_seq=seq,
    )


def card_to_wire(card: CardRow) -> dict[str, Any]:
    """The wire form of a card record."""
    return {
        "uid": card.uid, "status": card.status.value,
        "valid_from": card.valid_from.isoformat() if card.valid_from else None,
        "valid_until": card.valid_until.isoformat() if card.valid_until else None,
        "access_groups": list(card.access_groups), "schedule": card.schedule,
        "holder_kind": card.holder_kind, "plate": card.plate,
    }


# ---------------------------------------------------------------- messages


@dataclass(frozen=True)
class AuthChanges:
    """Entries ``from_seq..to_seq`` of a site's authorisation log (signed)."""

    site: str
    from_seq: int
    to_seq: int
    issued_at: float
    cards: tuple[CardRow, ...]  # each with its own auth_seq, ascending

    @staticmethod
    def parse(payload: str) -> AuthChanges:
        """Validate a verified payload."""
        obj = load_object(payload, "auth_changes")
        w = "auth_changes"
        from_seq, to_seq = _int(obj, "from_seq", w, 1), _int(obj, "to_seq", w, 1)
        entries = _list(obj, "entries", w)
        cards = []
        expected = from_seq
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ProtocolError(f"{w}.entries[{i}]: expected an object")
            seq = _int(entry, "seq", f"{w}.entries[{i}]", 1)
            if seq != expected:
                raise ProtocolError(f"{w}.entries[{i}].seq: {seq}, expected {expected}")
            expected += 1
            cards.append(card_from_wire(entry.get("card"), seq, f"{w}.entries[{i}].card"))
        if expected - 1 != to_seq:
            raise ProtocolError(f"{w}: entries run {from_seq}..{expected - 1}, "
                                f"to_seq says {to_seq}")
        return AuthChanges(_get(obj, "site", str, w), from_seq, to_seq,
                           _num(obj, "issued_at", w), tuple(cards))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "auth_changes", "site": self.site,
                     "from_seq": self.from_seq, "to_seq": self.to_seq,
                     "issued_at": self.issued_at,
                     "entries": [{"seq": c.auth_seq, "card": card_to_wire(c)}
                                 for c in self.cards]})


@dataclass(frozen=True)
class SnapshotChunk:
    """Part ``index`` of ``count`` of a full list as of ``upto_seq`` (signed)."""

    site: str
    snapshot_id: str
    upto_seq: int
    index: int
    count: int
    issued_at: float
    cards: tuple[CardRow, ...]

    @staticmethod
    def parse(payload: str) -> SnapshotChunk:
        """Validate a verified payload."""
        obj = load_object(payload, "auth_snapshot")
        w = "auth_snapshot"
        count = _int(obj, "count", w, 1)
        index = _int(obj, "index", w, 0)
        if index >= count:
            raise ProtocolError(f"{w}.index: {index} is not below count {count}")
        upto = _int(obj, "upto_seq", w, 0)
        cards = tuple(card_from_wire(c, upto, f"{w}.cards[{i}]")
                      for i, c in enumerate(_list(obj, "cards", w)))
        return SnapshotChunk(_get(obj, "site", str, w), _get(obj, "snapshot_id", str, w),
                             upto, index, count, _num(obj, "issued_at", w), cards)

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "auth_snapshot", "site": self.site,
                     "snapshot_id": self.snapshot_id, "upto_seq": self.upto_seq,
                     "index": self.index, "count": self.count, "issued_at": self.issued_at,
                     "cards": [card_to_wire(c) for c in self.cards]})


def parse_auth_message(payload: str) -> AuthChanges | SnapshotChunk | TimeAnswer:
    """Any message of a device's authorisation topics, by its type."""
    try:
        kind = json.loads(payload).get("type")
    except (ValueError, AttributeError) as exc:
        raise ProtocolError("not a JSON object") from exc
    if kind == "auth_snapshot":
        return SnapshotChunk.parse(payload)
    if kind == TimeAnswer.TYPE:
        return TimeAnswer.parse(payload)
    return AuthChanges.parse(payload)


@dataclass(frozen=True)
class CatchupRequest:
    """A device asks for every authorisation entry after ``after_seq``."""

    device: str
    after_seq: int

    @staticmethod
    def parse(raw: bytes) -> CatchupRequest:
        """Validate."""
        obj = load_object(raw, "catchup")
        return CatchupRequest(_get(obj, "device", str, "catchup"),
                              _int(obj, "after_seq", "catchup", 0))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "catchup", "device": self.device,
                     "after_seq": self.after_seq})


def _nonce(obj: Mapping[str, Any], where: str) -> str:
    nonce = _get(obj, "nonce", str, where)
    if not 8 <= len(nonce) <= 64:
        raise ProtocolError(f"{where}.nonce: must be 8 to 64 characters")
    return str(nonce)


@dataclass(frozen=True)
class TimeRequest:
    """A device asks central for its clock; the answer must carry ``nonce`` back."""

    TYPE = "time_request"

    device: str
    nonce: str

    @staticmethod
    def parse(raw: bytes | str) -> TimeRequest:
        """Validate."""
        obj = load_object(raw, TimeRequest.TYPE)
        return TimeRequest(_get(obj, "device", str, TimeRequest.TYPE),
                           _nonce(obj, TimeRequest.TYPE))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": self.TYPE, "device": self.device,
                     "nonce": self.nonce})


@dataclass(frozen=True)
class TimeAnswer:
    """Central's clock ``now`` for one device's request ``nonce`` (signed)."""

    TYPE = "time"

    site: str
    device: str
    nonce: str
    now: float

    @staticmethod
    def parse(payload: str) -> TimeAnswer:
        """Validate a verified payload."""
        obj = load_object(payload, TimeAnswer.TYPE)
        w = TimeAnswer.TYPE
        now = _num(obj, "now", w)
        if not (math.isfinite(now) and now > 0):
            raise ProtocolError(f"{w}.now: must be a positive number of seconds")
        return TimeAnswer(_get(obj, "site", str, w), _get(obj, "device", str, w),
                          _nonce(obj, w), now)

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": self.TYPE, "site": self.site,
                     "device": self.device, "nonce": self.nonce, "now": self.now})


def parse_catchup_message(raw: bytes) -> CatchupRequest | TimeRequest:
    """Any message of a device's catch-up topic, by its type."""
    try:
        kind = json.loads(raw).get("type")
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        raise ProtocolError("not a JSON object") from exc
    if kind == TimeRequest.TYPE:
        return TimeRequest.parse(raw)
    return CatchupRequest.parse(raw)


EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "boot_id": (str,), "wall": (int, float), "mono": (int, float),
    "kind": (str,), "alarm": (bool,), "clock_trusted": (bool,),
}


# A journal's id as the gate makes it is 32 hex digits; "" is a journal older than ids
# (an agent that predates them sends none).
LEGACY_JOURNAL = ""
_JOURNAL_ID = re.compile(r"[0-9A-Za-z_-]{0,64}")


def _journal_id(obj: Mapping[str, Any], where: str) -> str:
    value = str(_get(obj, "journal_id", str, where, optional=True) or LEGACY_JOURNAL)
    if not _JOURNAL_ID.fullmatch(value):
        raise ProtocolError(f"{where}.journal_id: up to 64 letters, digits, '-' or '_'")
    return value


@dataclass(frozen=True)
class EventBatch:
    """Events ``events[0].seq..events[-1].seq`` of journal ``journal_id`` of one device,
    ascending.

    ``acked_seq`` is the device's own record of how far a central store acknowledged this
    journal. A central store that has never heard of the journal starts counting there:
    without it, the first batch to *arrive* would be taken as the journal's start, and
    batches published before central subscribed would be acknowledged unseen.
    """

    device: str
    events: tuple[dict[str, Any], ...]
    acked_seq: int = 0
    journal_id: str = LEGACY_JOURNAL

    @property
    def last_seq(self) -> int:
        """The newest sequence number in the batch."""
        return int(self.events[-1]["seq"])

    @staticmethod
    def parse(raw: bytes) -> EventBatch:
        """Validate."""
        obj = load_object(raw, "events")
        w = "events"
        events = _list(obj, "events", w)
        if not events:
            raise ProtocolError(f"{w}.events: empty batch")
        previous = 0
        for i, event in enumerate(events):
            where = f"{w}.events[{i}]"
            if not isinstance(event, dict):
                raise ProtocolError(f"{where}: expected an object")
            for key, kinds in EVENT_FIELDS.items():
                _get(event, key, kinds, where)
            if not isinstance(event.get("data", {}), dict):
                raise ProtocolError(f"{where}.data: expected an object")
            if event["seq"] <= previous:
                raise ProtocolError(f"{where}.seq: not ascending")
            previous = event["seq"]
        acked = int(_get(obj, "acked_seq", int, w, optional=True) or 0)
        if not 0 <= acked < int(events[0]["seq"]):
            raise ProtocolError(f"{w}.acked_seq: {acked} must be below the first event's seq")
        return EventBatch(_get(obj, "device", str, w), tuple(events), acked,
                          _journal_id(obj, w))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "events", "device": self.device,
                     "journal_id": self.journal_id, "acked_seq": self.acked_seq,
                     "events": list(self.events)})


@dataclass(frozen=True)
class EventAck:
    """The central side stored every event of journal ``journal_id`` of ``device`` up to
    ``upto_seq``. A device applies it only to that journal."""

    device: str
    upto_seq: int
    journal_id: str = LEGACY_JOURNAL

    @staticmethod
    def parse(raw: bytes) -> EventAck:
        """Validate."""
        obj = load_object(raw, "ack")
        return EventAck(_get(obj, "device", str, "ack"), _int(obj, "upto_seq", "ack", 0),
                        _journal_id(obj, "ack"))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "ack", "device": self.device,
                     "journal_id": self.journal_id, "upto_seq": self.upto_seq})


@dataclass(frozen=True)
class DeviceStatus:
    """A device's retained status; the last will says ``online: false``."""

    device: str
    online: bool
    applied_seq: int | None = None
    backlog: int | None = None
    clock_trusted: bool | None = None
    at: float | None = None

    @staticmethod
    def parse(raw: bytes) -> DeviceStatus:
        """Validate."""
        obj = load_object(raw, "status")
        w = "status"
        return DeviceStatus(
            _get(obj, "device", str, w), bool(_get(obj, "online", bool, w)),
            _get(obj, "applied_seq", int, w, optional=True),
            _get(obj, "backlog", int, w, optional=True),
            _get(obj, "clock_trusted", bool, w, optional=True),
            _get(obj, "at", (int, float), w, optional=True),
        )

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "status", "device": self.device,
                     "online": self.online, "applied_seq": self.applied_seq,
                     "backlog": self.backlog, "clock_trusted": self.clock_trusted,
                     "at": self.at})


@dataclass(frozen=True)
class Command:
    """A remote command for one device (signed, never retained)."""

    site: str
    device: str
    command: str
    nonce: str
    issued_at: float
    expires_at: float
    issued_by: str
    until: float | None = None  # hold_open / lockdown end by themselves then

    @staticmethod
    def parse(payload: str) -> Command:
        """Validate a verified payload."""
        obj = load_object(payload, "command")
        w = "command"
        command = _get(obj, "command", str, w)
        if command not in COMMANDS:
            raise ProtocolError(f"{w}.command: {command!r} is not one of {', '.join(COMMANDS)}")
        nonce = _get(obj, "nonce", str, w)
        if not 8 <= len(nonce) <= 64:
            raise ProtocolError(f"{w}.nonce: must be 8 to 64 characters")
        issued, expires = _num(obj, "issued_at", w), _num(obj, "expires_at", w)
        if not 0 < expires - issued <= MAX_COMMAND_LIFETIME_S:
            raise ProtocolError(f"{w}.expires_at: must be after issued_at and at most "
                                f"{MAX_COMMAND_LIFETIME_S:.0f} s later")
        until = _get(obj, "until", (int, float), w, optional=True)
        if until is not None:
            if command not in ("hold_open", "lockdown"):
                raise ProtocolError(f"{w}.until: only hold_open and lockdown end by themselves")
            if not 0 < until - issued <= MAX_MODE_DURATION_S:
                raise ProtocolError(f"{w}.until: must be after issued_at and at most "
                                    f"{MAX_MODE_DURATION_S / 86400:.0f} days later")
        return Command(_get(obj, "site", str, w), _get(obj, "device", str, w), command, nonce,
                       issued, expires, _get(obj, "issued_by", str, w),
                       None if until is None else float(until))

    def dump(self) -> str:
        """The payload text."""
        obj = {"v": VERSION, "type": "command", "site": self.site, "device": self.device,
               "command": self.command, "nonce": self.nonce, "issued_at": self.issued_at,
               "expires_at": self.expires_at, "issued_by": self.issued_by}
        if self.until is not None:
            obj["until"] = self.until
        return dump(obj)


