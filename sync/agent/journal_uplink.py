"""Shipping the gate's journal upstream, in order, until the central service acknowledges it.

Events with ``seq > acked_seq`` are read oldest first in batches of ``batch_size`` and
published (QoS 1) to the device's ``events`` topic, with up to ``window`` full batches in
flight; a batch that is not full goes only when nothing is in flight or an ack moved since
the last one went (Nagle's rule: the events of a trickle gather while an ack is on its way,
so the messages per second a gate sends follow how fast central acknowledges).
Every batch names the journal it comes from (``Journal.journal_id``), and an
``EventAck(upto_seq)`` from central is recorded with ``Journal.mark_acked`` only if it names
the same journal: an ack for a journal this device no longer has (its SD card was replaced)
says nothing about the events of this one. Nothing is deleted here (the gate prunes
acknowledged events when it needs room). On every reconnect, and when the acks stop
moving — nothing acknowledged within ``ack_timeout`` of a batch's sending or of the last ack
that moved, whichever is later — everything unacknowledged is sent again: central stores
idempotently on (device, journal id, seq), so a duplicate costs bandwidth, never data.
Each time that happens with still no ack moving, the wait doubles (up to
``MAX_ACK_TIMEOUT_S``), and an ack that moves brings it back to ``ack_timeout``: a central
behind a company's gates is given time to work through what it holds instead of being sent
it all again every ``ack_timeout`` (at 100 sites x 20 gates it had been sent each event
thirteen times over, and stored ever slower).

The window is deep enough that central always finds the next batches waiting while it
commits one (it stores what waits in one transaction, sync/hub/ingest.py): a drain is paced
by central's store, not by the round trip of each ack. Deep, the last batch of a window may
wait at central longer than ``ack_timeout`` behind the others (several devices draining at
once); that is why the timeout counts from the last ack that moved, so a window that is
being worked through is never sent again."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from edge.journal import Journal
from sync.wire.device_messages import EventBatch
from sync.wire.payload import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

# Publish(topic, payload) -> False when the link is down and nothing was handed over.
Publish = Callable[[str, str], bool]

# Batches in flight: at most 16 x 256 kB in paho's queue here. Central holds at most what the
# broker lets it have unacknowledged (max_inflight_messages, sync/broker/config.py), whatever
# the devices' windows.
DEFAULT_WINDOW = 16
DEFAULT_ACK_TIMEOUT_S = 10.0
# The longest wait for an ack before sending again, however often nothing moved: the broker
# keeps what was sent for central anyway, so a resend only covers a message lost on the way.
MAX_ACK_TIMEOUT_S = 160.0


class JournalUplink:
    """The sending side of the journal; driven by the agent's worker thread only."""

    def __init__(self, journal: Journal, device: str, topic: str, publish: Publish,
                 batch_size: int, *, window: int = DEFAULT_WINDOW,
                 ack_timeout: float = DEFAULT_ACK_TIMEOUT_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.journal = journal
        self.device = device
        self.topic = topic
        self._publish = publish
        self.batch_size = batch_size
        self.window = window
        self.ack_timeout = ack_timeout
        self._wait = ack_timeout  # doubled at each resend with no ack moving since
        self._monotonic = monotonic
        self.acked_seq = journal.acked_seq
        self._cursor = self.acked_seq  # the newest seq handed to the link
        self._in_flight: deque[tuple[int, float]] = deque()  # (last_seq, sent at)
        self._moved_at = float("-inf")  # when an ack last moved acked_seq
        self._ack_since = True  # an ack moved since the last batch not full was sent
        self._online = False
        self.resends = 0

    def on_connected(self) -> None:
        """A (re)connection: whatever was in flight may be lost; send it all again."""
        self._online = True
        self._rewind()

    def on_disconnected(self) -> None:
        """The link is down: stop sending until it is back."""
        self._online = False
        self._in_flight.clear()

    def _rewind(self) -> None:
        self.acked_seq = self.journal.acked_seq
        if self._cursor > self.acked_seq:
            self.resends += 1
        self._cursor = self.acked_seq
        self._in_flight.clear()

    def on_ack(self, journal_id: str, upto_seq: int) -> bool:
        """Central stored everything of journal ``journal_id`` up to ``upto_seq``; True when
        that moved anything."""
        if journal_id != self.journal.journal_id:
            log.warning("ignored an ack up to %d for journal %r: this journal is %s",
                        upto_seq, journal_id, self.journal.journal_id)
            return False
        # Never beyond what was sent: an ack for unsent events would let the gate prune
        # them unshipped.
        upto = min(upto_seq, self._cursor)
        if upto <= self.acked_seq:
            return False
        self.journal.mark_acked(upto)
        self.acked_seq = upto
        self._moved_at = self._monotonic()
        self._ack_since = True
        self._wait = self.ack_timeout
        while self._in_flight and self._in_flight[0][0] <= upto:
            self._in_flight.popleft()
        return True

    def backlog(self) -> int:
        """Events journalled but not yet acknowledged."""
        return max(0, self.journal.last_seq() - self.acked_seq)

    def pump(self) -> int:
        """Send batches until the window is full or the journal is drained; return how many."""
        if not self._online:
            return 0
        now = self._monotonic()
        if self._in_flight and \
                now - max(self._in_flight[0][1], self._moved_at) > self._wait:
            log.warning("no ack for events up to %d within %.0f s; sending again from %d",
                        self._in_flight[0][0], self._wait, self.acked_seq + 1)
            self._rewind()
            self._wait = min(self._wait * 2, max(MAX_ACK_TIMEOUT_S, self.ack_timeout))
        sent = 0
        while len(self._in_flight) < self.window:
            stored = self.journal.read_rows(self._cursor, self.batch_size)
            partial = len(stored) < self.batch_size
            if not stored or (partial and self._in_flight and not self._ack_since):
                # A batch not yet full waits for an ack that moves and grows meanwhile (the
                # ack pumps at once): a gate tapped once a second sends a message an ack,
                # not one a tap, so a company's desk that falls behind is sent fewer, fuller
                # batches instead of more it must then be sent again.
                break
            rows = [_wire(r) for r in stored]
            batch, text = _fit(self.device, self.journal.journal_id, rows, self.acked_seq)
            if not self._publish(self.topic, text):
                break
            self._cursor = batch.last_seq
            self._in_flight.append((batch.last_seq, now))
            self._ack_since = self._ack_since and not partial
            sent += 1
        return sent


def _wire(row: tuple[Any, ...]) -> dict[str, Any]:
    """A journal row (``Journal.read_rows``) as the event a batch carries."""
    seq, boot_id, wall, mono, kind, alarm, clock_trusted, uid, granted, reason, data = row
    event = {"seq": seq, "boot_id": boot_id, "wall": wall, "mono": mono, "kind": kind,
             "alarm": bool(alarm), "clock_trusted": bool(clock_trusted)}
    # Empty optional fields are left out: a tap has uid/granted/reason, most others do not.
    if uid is not None:
        event["uid"] = uid
    if granted is not None:
        event["granted"] = bool(granted)
    if reason is not None:
        event["reason"] = reason
    # The journal's JSON text goes out as it is: parsing it into a dict only to write it
    # back was a third of the agent's time in a drain.
    event["data"] = orjson.Fragment(data)
    return event


def _fit(device: str, journal_id: str, rows: list[dict[str, Any]],
         acked_seq: int) -> tuple[EventBatch, str]:
    """A batch of a prefix of ``rows`` that fits in one message, and its payload text."""
    batch = EventBatch(device, tuple(rows), acked_seq, journal_id)
    text = batch.dump()
    # Halving until it fits: events are small, so this only runs for pathological data.
    while len(batch.events) > 1 and len(text.encode()) > MAX_MESSAGE_BYTES:
        batch = EventBatch(device, batch.events[: len(batch.events) // 2], acked_seq,
                           journal_id)
        text = batch.dump()
    return batch, text
