"""The messages that keep a gate's whitelist and clock in step with central.

On the authorisation topics (central -> gates, signed): ``auth_changes`` (entries of the
site's authorisation log), ``auth_snapshot`` (a chunk of the whole list) and ``time``
(central's clock, for one request). On a device's catch-up topic (device -> central):
``catchup`` and ``time_request``.

Cards travel in their wire form (edge/card_record.py), encoded once: the writers here embed
each card's text as it is (``changes_text``, ``snapshot_text``), so central sends what it
logged without decoding or re-encoding a card."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from edge.card_record import CardRecordError, CardRow, from_wire, wire_text
from sync.wire.payload import (
    VERSION,
    ProtocolError,
    dump,
    field,
    int_field,
    list_field,
    load_object,
    message_type,
    nonce_field,
    number_field,
)


def _card(obj: Any, seq: int, where: str) -> CardRow:
    try:
        return from_wire(obj, seq, where)
    except CardRecordError as exc:
        raise ProtocolError(str(exc)) from exc


def _with_cards(message: dict[str, Any]) -> str:
    # orjson writes the message and embeds each card's text (a Fragment) as it is: one
    # encoder, and no card encoded twice.
    return orjson.dumps(message).decode()


def changes_text(site: str, from_seq: int, to_seq: int, issued_at: float,
                 entries: Sequence[tuple[int, str]]) -> str:
    """The ``auth_changes`` payload for ``(seq, card wire text)`` entries."""
    return _with_cards({"v": VERSION, "type": "auth_changes", "site": site,
                        "from_seq": from_seq, "to_seq": to_seq, "issued_at": issued_at,
                        "entries": [{"seq": seq, "card": orjson.Fragment(text)}
                                    for seq, text in entries]})


def snapshot_text(chunk: SnapshotChunk, card_texts: Sequence[str]) -> str:
    """The ``auth_snapshot`` payload of ``chunk``'s fields with these cards' wire texts
    (``chunk.cards`` is not used)."""
    return _with_cards({"v": VERSION, "type": "auth_snapshot", "site": chunk.site,
                        "snapshot_id": chunk.snapshot_id, "upto_seq": chunk.upto_seq,
                        "index": chunk.index, "count": chunk.count,
                        "issued_at": chunk.issued_at,
                        "cards": [orjson.Fragment(text) for text in card_texts]})


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
        from_seq, to_seq = int_field(obj, "from_seq", w, 1), int_field(obj, "to_seq", w, 1)
        entries = list_field(obj, "entries", w)
        cards = []
        expected = from_seq
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ProtocolError(f"{w}.entries[{i}]: expected an object")
            seq = int_field(entry, "seq", f"{w}.entries[{i}]", 1)
            if seq != expected:
                raise ProtocolError(f"{w}.entries[{i}].seq: {seq}, expected {expected}")
            expected += 1
            cards.append(_card(entry.get("card"), seq, f"{w}.entries[{i}].card"))
        if expected - 1 != to_seq:
            raise ProtocolError(f"{w}: entries run {from_seq}..{expected - 1}, "
                                f"to_seq says {to_seq}")
        return AuthChanges(field(obj, "site", str, w), from_seq, to_seq,
                           number_field(obj, "issued_at", w), tuple(cards))

    def dump(self) -> str:
        """The payload text."""
        return changes_text(self.site, self.from_seq, self.to_seq, self.issued_at,
                            [(c.auth_seq, wire_text(c)) for c in self.cards])


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
        count = int_field(obj, "count", w, 1)
        index = int_field(obj, "index", w, 0)
        if index >= count:
            raise ProtocolError(f"{w}.index: {index} is not below count {count}")
        upto = int_field(obj, "upto_seq", w, 0)
        cards = tuple(_card(c, upto, f"{w}.cards[{i}]")
                      for i, c in enumerate(list_field(obj, "cards", w)))
        return SnapshotChunk(field(obj, "site", str, w), field(obj, "snapshot_id", str, w),
                             upto, index, count, number_field(obj, "issued_at", w), cards)

    def dump(self) -> str:
        """The payload text."""
        return snapshot_text(self, [wire_text(c) for c in self.cards])


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
        now = number_field(obj, "now", w)
        if not (math.isfinite(now) and now > 0):
            raise ProtocolError(f"{w}.now: must be a positive number of seconds")
        return TimeAnswer(field(obj, "site", str, w), field(obj, "device", str, w),
                          nonce_field(obj, w), now)

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": self.TYPE, "site": self.site,
                     "device": self.device, "nonce": self.nonce, "now": self.now})


def parse_auth_message(payload: str) -> AuthChanges | SnapshotChunk | TimeAnswer:
    """Any message of a device's authorisation topics, by its type."""
    kind = message_type(payload)
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
        return CatchupRequest(field(obj, "device", str, "catchup"),
                              int_field(obj, "after_seq", "catchup", 0))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": "catchup", "device": self.device,
                     "after_seq": self.after_seq})


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
        return TimeRequest(field(obj, "device", str, TimeRequest.TYPE),
                           nonce_field(obj, TimeRequest.TYPE))

    def dump(self) -> str:
        """The payload text."""
        return dump({"v": VERSION, "type": self.TYPE, "device": self.device,
                     "nonce": self.nonce})


def parse_catchup_message(raw: bytes) -> CatchupRequest | TimeRequest:
    """Any message of a device's catch-up topic, by its type."""
    if message_type(raw) == TimeRequest.TYPE:
        return TimeRequest.parse(raw)
    return CatchupRequest.parse(raw)
