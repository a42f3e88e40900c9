"""What a device reports and what central answers it: ``events`` (a run of the gate's
journal), ``ack`` (central stored them) and the device's retained ``status``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as attribute
from typing import Any

import orjson

from sync.wire.payload import (
    MAX_MESSAGE_BYTES,
    VERSION,
    ProtocolError,
    dump,
    field,
    int_field,
    list_field,
    load_object,
)

EVENT_FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "boot_id": (str,), "wall": (int, float), "mono": (int, float),
    "kind": (str,), "alarm": (bool,), "clock_trusted": (bool,),
}
# Optional, null or absent (most events other than a tap have none of them).
OPTIONAL_EVENT_FIELDS: dict[str, type] = {"uid": str, "granted": bool, "reason": str}

# An event as the central store keeps it: seq, boot_id, wall, mono, kind, alarm (0/1),
# clock_trusted (0/1), uid, granted (0/1/None), reason, and data as compact JSON text.
EventValues = tuple[int, str, float, float, str, int, int, str | None, int | None, str | None,
                    str]

_NUMBER = (int, float)  # exactly: a boolean is not a number here


# A journal's id as the gate makes it is 32 hex digits; "" is a journal older than ids
# (an agent that predates them sends none).
LEGACY_JOURNAL = ""
_JOURNAL_ID = re.compile(r"[0-9A-Za-z_-]{0,64}")


def _journal_id(obj: Mapping[str, Any], where: str) -> str:
    value = str(field(obj, "journal_id", str, where, optional=True) or LEGACY_JOURNAL)
    if not _JOURNAL_ID.fullmatch(value):
        raise ProtocolError(f"{where}.journal_id: up to 64 letters, digits, '-' or '_'")
    return value


def _compact(data: object) -> str:
    return orjson.dumps(data).decode()


def _plain_values(event: object, data_text: Callable[[Any], str]) -> EventValues | None:
    """``event``'s values if it is an event object whose every field has exactly its type —
    the common case, each field looked up once and checked in one expression, without the
    per-field error messages of ``_check`` — and None otherwise."""
    if type(event) is not dict:
        return None
    get: Callable[[str], Any] = event.get
    seq, boot_id, wall, mono, kind = (get("seq"), get("boot_id"), get("wall"), get("mono"),
                                      get("kind"))
    alarm, trusted, uid, granted, reason = (get("alarm"), get("clock_trusted"), get("uid"),
                                            get("granted"), get("reason"))
    data = get("data")
    if not (type(seq) is int and type(boot_id) is str and type(wall) in _NUMBER
            and type(mono) in _NUMBER and type(kind) is str and type(alarm) is bool
            and type(trusted) is bool and (uid is None or type(uid) is str)
            and (granted is None or type(granted) is bool)
            and (reason is None or type(reason) is str)
            and (type(data) is dict or "data" not in event)):
        return None
    return (seq, boot_id, float(wall), float(mono), kind, int(alarm), int(trusted), uid,
            None if granted is None else int(granted), reason,
            data_text(data) if data else "{}")


def _check(event: object, where: str) -> Mapping[str, Any]:
    """``event`` as a valid event, or ProtocolError naming the first field that is not."""
    if not isinstance(event, Mapping):
        raise ProtocolError(f"{where}: expected an object")
    for key, kinds in EVENT_FIELDS.items():
        field(event, key, kinds, where)
    for key, kind in OPTIONAL_EVENT_FIELDS.items():
        field(event, key, kind, where, optional=True)
    if not isinstance(event.get("data", {}), dict):
        raise ProtocolError(f"{where}.data: expected an object")
    return event


def _values(event: Mapping[str, Any], data_text: Callable[[Any], str]) -> EventValues:
    """A valid event's ``EventValues``."""
    granted = event.get("granted")
    return (event["seq"], event["boot_id"], float(event["wall"]), float(event["mono"]),
            event["kind"], int(event["alarm"]), int(event["clock_trusted"]), event.get("uid"),
            None if granted is None else int(granted), event.get("reason"),
            data_text(event.get("data") or {}))


def _load_events(raw: bytes | str) -> tuple[dict[str, Any], Callable[[Any], str]]:
    """The message object, and how to write its events' data back as text.

    orjson reads the common message several times faster than json; what it refuses — not
    JSON at all, or JSON with NaN or Infinity in an event's data, which the journal's
    json.dumps can write — goes through the protocol's common reader, for its error message
    or for the same reading as before (and the data written back by json, so a NaN stays
    NaN rather than becoming null)."""
    if len(raw) <= MAX_MESSAGE_BYTES:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(obj, dict) and obj.get("v") == VERSION \
                    and obj.get("type") == "events":
                return obj, _compact
    return load_object(raw, "events"), dump


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
    # The events validated into what the store writes (``event_values``); ``parse`` fills
    # it, a batch built to be sent has no need of it.
    values: tuple[EventValues, ...] = attribute(default=(), compare=False, repr=False)

    @property
    def last_seq(self) -> int:
        """The newest sequence number in the batch."""
        return int(self.events[-1]["seq"])

    @staticmethod
    def parse(raw: bytes) -> EventBatch:
        """Validate, in one pass over the events that also builds what the store writes
        (``values``)."""
        obj, data_text = _load_events(raw)
        w = "events"
        events = list_field(obj, "events", w)
        if not events:
            raise ProtocolError(f"{w}.events: empty batch")
        values: list[EventValues] = []
        previous = 0
        for i, event in enumerate(events):
            row = _plain_values(event, data_text) \
                or _values(_check(event, f"{w}.events[{i}]"), data_text)
            if row[0] <= previous:
                raise ProtocolError(f"{w}.events[{i}].seq: not ascending")
            previous = row[0]
            values.append(row)
        acked = int(field(obj, "acked_seq", int, w, optional=True) or 0)
        if not 0 <= acked < values[0][0]:
            raise ProtocolError(f"{w}.acked_seq: {acked} must be below the first event's seq")
        return EventBatch(field(obj, "device", str, w), tuple(events), acked,
                          _journal_id(obj, w), tuple(values))

    def dump(self) -> str:
        """The payload text: compact JSON, written by orjson (a batch is a thousand events,
        and json.dumps was a fifth of the agent's time in a drain). An event's ``data`` may be
        an ``orjson.Fragment``: JSON text put in as it is, as the journal holds it."""
        return orjson.dumps({"v": VERSION, "type": "events", "device": self.device,
                             "journal_id": self.journal_id, "acked_seq": self.acked_seq,
                             "events": self.events}).decode()


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
        return EventAck(field(obj, "device", str, "ack"), int_field(obj, "upto_seq", "ack", 0),
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
            field(obj, "device", str, w), bool(field(obj, "online", bool, w)),
            field(obj, "applied_seq", int, w, optional=True),
            field(obj, "backlog", int, w, optional=True),
            field(obj, "clock_trusted", bool, w, optional=True),
            field(obj, "at", (int, float), w, optional=True),
        )

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "status", "device": self.device,
                     "online": self.online, "applied_seq": self.applied_seq,
                     "backlog": self.backlog, "clock_trusted": self.clock_trusted,
                     "at": self.at})
