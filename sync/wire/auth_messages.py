"""The messages that keep a gate's whitelist and clock in step with central.

On the authorisation topics (central -> gates, signed): ``auth_changes`` (entries of the
site's authorisation log), ``auth_snapshot`` (a chunk of the whole list) and ``time``
(central's clock, for one request). On a device's catch-up topic (device -> central):
``catchup`` and ``time_request``.

Cards travel in their wire form (edge/card_record.py), encoded once: the writers here embed
each card's text as it is (``changes_text``, ``snapshot_text``), so central sends what it
logged without decoding or re-encoding a card. A device reads a snapshot chunk's cards
straight into the rows ``auth.db`` stores (``SnapshotRows``), and may look at the sequence
range of an ``auth_changes`` message before verifying it (``changes_range``), to leave
unverified what it could not apply anyway."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from edge.auth_store import card_values, wire_rows
from edge.card_record import CardRecordError, CardRow, from_wire, wire_text
from sync.wire.payload import (
    MAX_MESSAGE_BYTES,
    VERSION,
    ProtocolError,
    check_object,
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
                        "index": chunk.index, "last": chunk.last,
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
        return AuthChanges.from_object(load_object(payload, "auth_changes"))

    @staticmethod
    def from_object(obj: dict[str, Any]) -> AuthChanges:
        """Validate a verified payload parsed into an ``auth_changes`` object."""
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


_SNAPSHOT = "auth_snapshot"
# The fields every chunk of a snapshot carries besides its cards: site, snapshot_id, upto_seq,
# index, last, issued_at.
_SnapshotHead = tuple[str, str, int, int, bool, float]


def _snapshot_head(obj: dict[str, Any]) -> _SnapshotHead:
    """A verified ``auth_snapshot`` object's fields besides its cards, checked."""
    w = _SNAPSHOT
    return (field(obj, "site", str, w), field(obj, "snapshot_id", str, w),
            int_field(obj, "upto_seq", w, 0), int_field(obj, "index", w, 0),
            field(obj, "last", bool, w), number_field(obj, "issued_at", w))


@dataclass(frozen=True)
class SnapshotChunk:
    """Part ``index`` (from 0) of a full list as of ``upto_seq`` (signed); ``last`` on the
    final part. Central sends a snapshot as it reads the list, so no chunk but the last
    knows how many there are: the last one's ``index`` + 1 is the count."""

    site: str
    snapshot_id: str
    upto_seq: int
    index: int
    last: bool
    issued_at: float
    cards: tuple[CardRow, ...]

    @staticmethod
    def parse(payload: str) -> SnapshotChunk:
        """Validate a verified payload."""
        obj = load_object(payload, _SNAPSHOT)
        head = _snapshot_head(obj)
        upto = head[2]  # upto_seq
        cards = tuple(_card(c, upto, f"{_SNAPSHOT}.cards[{i}]")
                      for i, c in enumerate(list_field(obj, "cards", _SNAPSHOT)))
        return SnapshotChunk(*head, cards)

    def dump(self) -> str:
        """The payload text."""
        return snapshot_text(self, [wire_text(c) for c in self.cards])


@dataclass(frozen=True)
class SnapshotRows:
    """A snapshot chunk as a device receives it: ``SnapshotChunk``'s fields, with its cards
    checked as ``from_wire`` checks them and kept as the rows ``auth.db`` stores
    (edge/auth_store.py ``wire_rows``, in ``CARD_COLUMNS`` order, ``auth_seq`` = ``upto_seq``):
    a million cards are staged without a record object each."""

    site: str
    snapshot_id: str
    upto_seq: int
    index: int
    last: bool
    issued_at: float
    rows: tuple[tuple[object, ...], ...]

    @staticmethod
    def from_object(obj: dict[str, Any]) -> SnapshotRows:
        """Validate a verified payload parsed into an ``auth_snapshot`` object."""
        head = _snapshot_head(obj)
        cards = list_field(obj, "cards", _SNAPSHOT)
        try:
            rows = wire_rows(cards, head[2], f"{_SNAPSHOT}.cards")  # upto_seq
        except CardRecordError as exc:
            raise ProtocolError(str(exc)) from exc
        return SnapshotRows(*head, tuple(rows))

    @staticmethod
    def of(chunk: SnapshotChunk) -> SnapshotRows:
        """The rows of a chunk built in this process (tests, tools)."""
        return SnapshotRows(chunk.site, chunk.snapshot_id, chunk.upto_seq, chunk.index,
                            chunk.last, chunk.issued_at,
                            tuple(card_values(c) for c in chunk.cards))


# The start of a signed ``auth_changes`` message as central writes it (sync/wire/signing.py
# ``sign`` around ``changes_text``): the payload's first fields, escaped in the envelope.
_CHANGES_HEAD = re.compile(
    rb'\{"payload":"\{\\"v\\":1,\\"type\\":\\"auth_changes\\",'
    rb'\\"site\\":\\"(?:[^"\\]|\\.)*?\\",'
    rb'\\"from_seq\\":([1-9][0-9]{0,17}),\\"to_seq\\":([1-9][0-9]{0,17}),')


def changes_range(raw: bytes) -> tuple[int, int] | None:
    """``(from_seq, to_seq)`` as the start of a signed ``auth_changes`` message says, read
    without parsing or verifying it; None for any other message or layout.

    Unverified: a hint for deciding to leave a message aside (its sequence numbers are
    beyond what could apply now), never for applying anything. A forger can make a message
    look like anything, so the hint may only ever decide about the message that carries it.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    head = _CHANGES_HEAD.match(raw, 0, 512)
    if head is None:
        return None
    return int(head[1]), int(head[2])


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
        return TimeAnswer.from_object(load_object(payload, TimeAnswer.TYPE))

    @staticmethod
    def from_object(obj: dict[str, Any]) -> TimeAnswer:
        """Validate a verified payload parsed into a ``time`` object."""
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


def parse_auth_message(payload: str) -> AuthChanges | SnapshotRows | TimeAnswer:
    """Any message of a device's authorisation topics, by its type (parsed once)."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from exc
    kind = obj.get("type") if isinstance(obj, dict) else None
    if kind == "auth_snapshot":
        return SnapshotRows.from_object(check_object(obj, "auth_snapshot"))
    if kind == TimeAnswer.TYPE:
        return TimeAnswer.from_object(check_object(obj, TimeAnswer.TYPE))
    return AuthChanges.from_object(check_object(obj, "auth_changes"))


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
