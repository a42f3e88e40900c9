"""What a device reports and what central answers it: ``events`` (a run of the gate's
journal), ``ack`` (central stored them) and the device's retained ``status``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.wire.payload import (
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


# A journal's id as the gate makes it is 32 hex digits; "" is a journal older than ids
# (an agent that predates them sends none).
LEGACY_JOURNAL = ""
_JOURNAL_ID = re.compile(r"[0-9A-Za-z_-]{0,64}")


def _journal_id(obj: Mapping[str, Any], where: str) -> str:
    value = str(field(obj, "journal_id", str, where, optional=True) or LEGACY_JOURNAL)
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
        events = list_field(obj, "events", w)
        if not events:
            raise ProtocolError(f"{w}.events: empty batch")
        previous = 0
        for i, event in enumerate(events):
            where = f"{w}.events[{i}]"
            if not isinstance(event, dict):
                raise ProtocolError(f"{where}: expected an object")
            for key, kinds in EVENT_FIELDS.items():
                field(event, key, kinds, where)
            if not isinstance(event.get("data", {}), dict):
                raise ProtocolError(f"{where}.data: expected an object")
            if event["seq"] <= previous:
                raise ProtocolError(f"{where}.seq: not ascending")
            previous = event["seq"]
        acked = int(field(obj, "acked_seq", int, w, optional=True) or 0)
        if not 0 <= acked < int(events[0]["seq"]):
            raise ProtocolError(f"{w}.acked_seq: {acked} must be below the first event's seq")
        return EventBatch(field(obj, "device", str, w), tuple(events), acked,
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
