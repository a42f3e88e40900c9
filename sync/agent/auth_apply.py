"""Applying signed authorisation messages to ``auth.db``: changes in order, snapshots whole.

Every message is verified against the pinned central key and checked before anything is
written. Refusals (bad or missing signature, another site's list, a rollback or replay) are
journalled as security alarms and leave the whitelist untouched. An ``issued_at`` beyond the
local clock is not a refusal: the signature and the sequence number make a list genuine,
and a clock that is behind must not keep a lost card open; it is journalled as
``clock_behind``. Changes apply in one transaction together with the new ``applied_seq`` and
the list's ``issued_at`` (floor evidence for the clock, edge/clock_trust.py); a snapshot, once
all its chunks are staged in ``sync.db``, replaces the whole cards table in one transaction,
so a crash leaves the old list or the new one. Central's signed ``time`` answers arrive on
the same topic and go to ``sync.agent.central_clock``."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.auth_store import CARD_COLUMNS, LIST_ISSUED_AT, AuthStore
from edge.clock_trust import AgentClockTrust
from edge.migrations import connect
from sync.agent.central_clock import CentralClock
from sync.agent.journal import AgentJournal
from sync.agent.snapshot_staging import SnapshotStaging, StagedSnapshot
from sync.wire.auth_messages import AuthChanges, SnapshotChunk, TimeAnswer, parse_auth_message
from sync.wire.envelope import MalformedMessageError, open_signed
from sync.wire.payload import ProtocolError
from sync.wire.signing import SignatureError

log = logging.getLogger(__name__)

CLOCK_BEHIND_KIND = "clock_behind"
# A clock behind every list makes every list say so: one journal line per this long.
CLOCK_BEHIND_EVERY_S = 600.0


class Outcome(enum.Enum):
    """What became of one authorisation message."""

    APPLIED = "applied"  # changes applied, applied_seq moved forward
    SNAPSHOT_APPLIED = "snapshot_applied"  # the whole list replaced, applied_seq = upto_seq
    GAP = "gap"  # entries missing before this message: ask for a catch-up
    STAGED = "staged"  # a snapshot chunk kept until the rest arrive
    REFUSED = "refused"  # journalled as a security event
    TIME = "time"  # central's signed time, handed to sync.agent.central_clock
    DROPPED = "dropped"  # malformed or harmless duplicate: logged only


def replace_cards(auth_db: Path, sync_db: Path, snapshot_id: str, upto_seq: int,
                  issued_at: float | None = None) -> bool:
    """Replace every card in ``auth_db`` by the staged snapshot, in one transaction (with
    ``applied_seq`` and, when given, the snapshot's ``issued_at``).

    The staging file is attached read-only in spirit; only ``auth.db`` is written, so the
    single-file transaction is what makes the swap atomic: after a crash at any instant the
    file holds the old list with the old ``applied_seq`` or the new list with ``upto_seq``.
    Returns False (and writes nothing) if ``auth.db`` is already at or past ``upto_seq``.
    """
    columns = ", ".join(CARD_COLUMNS)
    conn = connect(str(auth_db))
    try:
        conn.execute("ATTACH DATABASE ? AS staging", (str(sync_db),))
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: nothing else may have moved it meanwhile.
            applied = int(conn.execute(
                "SELECT value FROM main.meta WHERE key = 'applied_seq'").fetchone()[0])
            if applied >= upto_seq:
                conn.rollback()
                return False
            conn.execute("DELETE FROM main.cards")
            conn.execute(f"INSERT INTO main.cards ({columns}) SELECT {columns} "
                         "FROM staging.snapshot_cards WHERE snapshot_id = ?", (snapshot_id,))
            conn.execute("DELETE FROM main.schedules")
            conn.execute("INSERT OR IGNORE INTO main.schedules (spec) SELECT DISTINCT schedule "
                         "FROM staging.snapshot_cards WHERE snapshot_id = ? "
                         "AND schedule IS NOT NULL", (snapshot_id,))
            conn.execute("UPDATE main.meta SET value = ? WHERE key = 'applied_seq'",
                         (str(upto_seq),))
            if issued_at is not None:
                conn.execute("INSERT OR REPLACE INTO main.meta (key, value) VALUES (?, ?)",
                             (LIST_ISSUED_AT, repr(float(issued_at))))
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return True
    finally:
        conn.close()


class AuthApplier:
    """Verifies, checks and applies authorisation messages; worker thread only."""

    def __init__(self, store: AuthStore, staging: SnapshotStaging, journal: AgentJournal,
                 trust: AgentClockTrust, *, site: str, public_key: Ed25519PublicKey,
                 tolerance: float, sync_db: Path, central_clock: CentralClock | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.staging = staging
        self.journal = journal
        self.trust = trust
        self.site = site
        self.public_key = public_key
        self.tolerance = tolerance
        self.sync_db = sync_db
        self.central_clock = central_clock
        self._monotonic = monotonic
        self._clock_behind_noted = float("-inf")
        # The newest entry any genuine list has mentioned: while applied_seq is below it,
        # the agent keeps asking for a catch-up.
        self.highest_seen = 0

    @property
    def behind(self) -> bool:
        """A genuine list showed entries that are not applied yet."""
        return self.store.applied_seq < self.highest_seen

    @property
    def applied_seq(self) -> int:
        """The last sequence number applied to ``auth.db``."""
        return self.store.applied_seq

    def handle(self, raw: bytes) -> Outcome:
        """Verify, check and apply (or stage) one message from an authorisation topic."""
        try:
            message = parse_auth_message(open_signed(self.public_key, raw))
        except MalformedMessageError as exc:
            log.warning("dropped a malformed authorisation message: %s", exc)
            return Outcome.DROPPED
        except SignatureError as exc:
            self.journal.security("auth", "bad_signature", detail=str(exc))
            return Outcome.REFUSED
        except ProtocolError as exc:
            # Signed by central yet not fitting the schema: a central bug, not an attack.
            log.error("dropped a signed authorisation message that does not fit: %s", exc)
            return Outcome.DROPPED
        if isinstance(message, TimeAnswer):
            if self.central_clock is None:
                log.warning("a time answer arrived but this agent asks for none; dropped")
                return Outcome.DROPPED
            verdict = self.central_clock.accept(message)
            return {"accepted": Outcome.TIME, "refused": Outcome.REFUSED}.get(
                verdict, Outcome.DROPPED)
        subject = "auth_snapshot" if isinstance(message, SnapshotChunk) else "auth_changes"
        if message.site != self.site:
            self.journal.security(subject, "wrong_site", site=message.site)
            return Outcome.REFUSED
        wall = self.trust.clock.wall()
        if message.issued_at > wall + self.tolerance:
            self._note_clock_behind(subject, message.issued_at, wall)
        if isinstance(message, AuthChanges):
            return self._changes(message)
        return self._chunk(message)

    def _changes(self, changes: AuthChanges) -> Outcome:
        applied = self.store.applied_seq
        if changes.to_seq <= applied:
            # Correctly signed but already applied: QoS 1 redelivery and a catch-up answer
            # overlapping the broadcast do this every day, so it is journalled, not alarmed.
            self.journal.security("auth_changes", "rollback", alarm=False,
                                  from_seq=changes.from_seq, to_seq=changes.to_seq,
                                  applied_seq=applied)
            return Outcome.REFUSED
        self.highest_seen = max(self.highest_seen, changes.to_seq)
        if changes.from_seq > applied + 1:
            log.info("changes %d..%d leave a gap after %d; asking for a catch-up",
                     changes.from_seq, changes.to_seq, applied)
            return Outcome.GAP
        # Overlap: entries at or below applied_seq are already in; apply only the tail.
        tail = [card for card in changes.cards if card.auth_seq > applied]
        self.store.upsert(tail, applied_seq=changes.to_seq, list_issued_at=changes.issued_at)
        self.trust.saw_list(changes.issued_at)
        log.info("applied changes %d..%d (%d cards)", applied + 1, changes.to_seq, len(tail))
        return Outcome.APPLIED

    def _chunk(self, chunk: SnapshotChunk) -> Outcome:
        applied = self.store.applied_seq
        if chunk.upto_seq < applied:
            self.journal.security("auth_snapshot", "rollback", alarm=False,
                                  snapshot_id=chunk.snapshot_id, upto_seq=chunk.upto_seq,
                                  applied_seq=applied)
            return Outcome.REFUSED
        if chunk.upto_seq == applied:
            # The list it describes is the one in force: nothing to do, nothing to fear.
            log.info("snapshot %s is at the applied sequence %d; ignored",
                     chunk.snapshot_id, applied)
            return Outcome.DROPPED
        complete = self.staging.add(chunk)
        if complete is None:
            return Outcome.STAGED
        return self._apply_snapshot(complete)

    def _apply_snapshot(self, snapshot: StagedSnapshot) -> Outcome:
        applied = replace_cards(self.store.path, self.sync_db, snapshot.snapshot_id,
                                snapshot.upto_seq, snapshot.issued_at)
        # Only after auth.db committed: a crash before this line keeps the staged copy, and
        # resume() then finds auth.db already at upto_seq and just discards it.
        self.staging.discard(snapshot.snapshot_id)
        if not applied:
            return Outcome.DROPPED
        self.trust.saw_list(snapshot.issued_at)
        log.info("applied snapshot %s up to %d (%d cards)", snapshot.snapshot_id,
                 snapshot.upto_seq, self.store.count())
        return Outcome.SNAPSHOT_APPLIED

    def _note_clock_behind(self, subject: str, issued_at: float, wall: float) -> None:
        """Journal (not as a security alarm) that a genuine list came from our future: the
        local clock is behind. The list is still applied."""
        now = self._monotonic()
        if now - self._clock_behind_noted < CLOCK_BEHIND_EVERY_S:
            return
        self._clock_behind_noted = now
        log.warning("%s issued at %.0f, %.0f s ahead of the local clock: the clock is behind",
                    subject, issued_at, issued_at - wall)
        self.journal.event(CLOCK_BEHIND_KIND, {"subject": subject, "issued_at": issued_at,
                                               "wall": wall, "behind_s": issued_at - wall})

    def resume(self) -> Outcome | None:
        """At start: apply a snapshot that was completely staged before a crash or stop."""
        snapshot = self.staging.complete()
        if snapshot is None:
            return None
        if snapshot.upto_seq <= self.store.applied_seq:
            self.staging.discard(snapshot.snapshot_id)
            return Outcome.DROPPED
        log.info("resuming staged snapshot %s", snapshot.snapshot_id)
        return self._apply_snapshot(snapshot)

    def housekeeping(self) -> None:
        """Discard incomplete snapshots that stopped arriving."""
        self.staging.discard_stale()
