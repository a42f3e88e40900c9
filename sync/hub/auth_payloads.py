"""Authorisation messages as the hub builds them from its log, cut to fit the broker.

The log holds each card in its wire form (edge/card_record.py), encoded once when logged;
the message writers of sync/wire/auth_messages.py embed those texts as they are. Every
signed message must fit in ``MAX_MESSAGE_BYTES``: the site broker's ``max_packet_size`` is
set from it (sync/broker/config.py), and a larger packet disconnects its sender. So messages
are cut by what their cards weigh on the wire, not by how many there are: a message holds
several hundred typical cards (about 200 bytes each), and still over a hundred of the
largest the desk accepts (``MAX_WIRE_BYTES``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.card_record import MAX_WIRE_BYTES, wire_bytes
from sync.hub.store import CHANGES_PER_MESSAGE, CentralStore
from sync.wire.auth_messages import changes_text
from sync.wire.payload import MAX_MESSAGE_BYTES
from sync.wire.signing import sign

# A message's bytes besides its cards: the signing envelope with its signature (~110 bytes)
# and the message's own fields (~250 escaped bytes for a snapshot chunk).
HEAD_ROOM_BYTES = 1024
CARD_BUDGET_BYTES = MAX_MESSAGE_BYTES - HEAD_ROOM_BYTES
# What an auth_changes entry adds around its card, escaped in the envelope:
# {\"seq\":<digits>,\"card\":<card>}
ENTRY_BYTES = wire_bytes('{"seq":,"card":}') - 1
# Cards read per query while sending a snapshot.
_SNAPSHOT_PAGE = 5_000

if MAX_WIRE_BYTES + 64 > CARD_BUDGET_BYTES:
    raise RuntimeError("MAX_MESSAGE_BYTES leaves no room for the largest card")


def cut(sizes: Iterable[int], most: int, budget: int = CARD_BUDGET_BYTES) -> Iterator[int]:
    """Lengths of consecutive runs of items, each run at most ``most`` items whose sizes sum
    to at most ``budget`` (an item larger than ``budget`` alone still makes a run)."""
    run, total = 0, 0
    for size in sizes:
        if run and (run >= most or total + size > budget):
            yield run
            run, total = 0, 0
        run += 1
        total += size
    if run:
        yield run


def changes_payloads(site: str, entries: list[tuple[int, str]],
                     issued_at: float) -> Iterator[str]:
    """AuthChanges texts for consecutive ``(seq, card wire text)`` entries, as many as it
    takes for each to fit once signed, at most CHANGES_PER_MESSAGE entries each."""
    start = 0
    sizes = (ENTRY_BYTES + len(str(seq)) + wire_bytes(text) for seq, text in entries)
    for n in cut(sizes, CHANGES_PER_MESSAGE):
        run = entries[start:start + n]
        yield changes_text(site, run[0][0], run[-1][0], issued_at, run)
        start += n


def snapshot_parts(store: CentralStore, upto_seq: int,
                   most: int) -> Iterator[tuple[list[str], bool]]:
    """The list as of ``upto_seq`` in UID order, as the card wire texts of each chunk (at
    most ``most`` cards that fit in one message) and whether it is the last chunk; one
    empty last chunk for an empty list.

    Read as it is sent, by a keyset cursor of pages of ``_SNAPSHOT_PAGE`` cards: the first
    chunk goes out after one page, and at most a page and a chunk are held. Each page is read
    "as of" ``upto_seq`` (the latest entry of each card at or below it), and the log only
    grows, so the pages read while the desk keeps writing make exactly the list at
    ``upto_seq``."""
    run: list[str] = []
    total, after = 0, ""
    while page := store.current_page(upto_seq, after, _SNAPSHOT_PAGE):
        for _uid, _seq, text in page:
            size = escaped_bytes(text)
            if run and (len(run) >= most or total + size > CARD_BUDGET_BYTES):
                yield run, False
                run, total = [], 0
            run.append(text)
            total += size
        after = page[-1][0]
    yield run, True


def escaped_bytes(text: str) -> int:
    """``wire_bytes(text)``, without encoding the text for the common card: printable ASCII
    grows on the wire by one backslash per quote and backslash (and a comma)."""
    if text.isascii() and text.isprintable():
        return len(text) + text.count('"') + text.count("\\") + 1
    return wire_bytes(text)


def signed(key: Ed25519PrivateKey, text: str) -> bytes:
    """``text`` signed; RuntimeError if it does not fit in one message (a bug here: sending
    it would only get central disconnected by the broker)."""
    message = sign(key, text)
    if len(message) > MAX_MESSAGE_BYTES:
        raise RuntimeError(f"a signed message of {len(message)} bytes exceeds "
                           f"{MAX_MESSAGE_BYTES}")
    return message
