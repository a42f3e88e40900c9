"""Applying signed authorisation messages to ``auth.db``: changes in order, snapshots whole.

Every message is verified against the pinned central key and checked before anything is
written. Refusals (bad or missing signature, another site's list, a rollback or replay) are
journalled as security alarms and leave the whitelist untouched. An ``issued_at`` beyond the
local clock is not a refusal: the signature and the sequence number make a list genuine,
and a clock that is behind must not keep a lost card open; it is journalled as
``clock_behind``. Changes apply in one transaction together with the new ``applied_seq`` and
the list's ``issued_at`` (floor evidence for the clock, edge/clock_trust.py); a snapshot, once
all its chunks are staged (sync/agent/snapshot_staging.py), replaces the whole cards table in
one transaction, so a crash leaves the old list or the new one. Central's signed ``time``
answers arrive on the same topic and go to ``sync.agent.central_clock``.

Changes that could not apply now are not even verified while the agent knows it is behind:
a device catching up (a snapshot of a million cards on its way) receives every change
central broadcasts meanwhile, and verifying and reading each only to drop it as a gap cost
more than the snapshot. Their sequence range is read from the message's first bytes
(``changes_range``, unverified), and:

- a change the snapshot being staged covers (``to_seq`` at or below its ``upto_seq``) is
  dropped: the snapshot brings it;
- a change beyond a gap is set aside, unverified, while a catch-up (or the snapshot) is on its
  way; only the one reaching furthest is kept. Once that is in, the kept message is
  verified and handled as if it had just arrived (applied, or a gap that asks again).

Nothing is applied or believed from an unverified message: a forged one set aside is
refused (and journalled) when its turn comes, and then a catch-up is asked for, since it
may have displaced a genuine one."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.auth_store import AuthStore
from edge.clock_trust import AgentClockTrust
from sync.agent.central_clock import CentralClock
from sync.agent.journal import AgentJournal
from sync.agent.snapshot_staging import SnapshotStaging, StagedSnapshot
from sync.wire.auth_messages import (
    AuthChanges,
    SnapshotRows,
    TimeAnswer,
    changes_range,
    parse_auth_message,
)
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
    SET_ASIDE = "set_aside"  # a change beyond what can apply now: not verified (see above)
    TIME = "time"  # central's signed time, handed to sync.agent.central_clock
    DROPPED = "dropped"  # malformed or harmless duplicate: logged only


class AuthApplier:
    """Verifies, checks and applies authorisation messages; worker thread only."""

    def __init__(self, store: AuthStore, staging: SnapshotStaging, journal: AgentJournal,
                 trust: AgentClockTrust, *, site: str, public_key: Ed25519PublicKey,
                 tolerance: float, central_clock: CentralClock | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.staging = staging
        self.journal = journal
        self.trust = trust
        self.site = site
        self.public_key = public_key
        self.tolerance = tolerance
        self.central_clock = central_clock
        self._monotonic = monotonic
        self._clock_behind_noted = float("-inf")
        # The newest entry any genuine list has mentioned: while applied_seq is below it,
        # the agent keeps asking for a catch-up.
        self.highest_seen = 0
        # The upto_seq of the snapshot being staged (its chunks were verified), if any.
        self._staging_upto: int | None = None
        self._note_staging()
        # The change set aside that reaches furthest: (to_seq it claims, message).
        self._set_aside: tuple[int, bytes] | None = None
        # A message set aside proved forged: it may have displaced a genuine one.
        self.catchup_wanted = False

    @property
    def behind(self) -> bool:
        """A genuine list showed entries that are not applied yet."""
        return self.store.applied_seq < self.highest_seen

    @property
    def applied_seq(self) -> int:
        """The last sequence number applied to ``auth.db``."""
        return self.store.applied_seq

    def _note_staging(self) -> None:
        staged = self.staging.staged()
        self._staging_upto = max((s.upto_seq for s in staged), default=None)
        if self._staging_upto is not None:
            self.highest_seen = max(self.highest_seen, self._staging_upto)

    def handle(self, raw: bytes) -> Outcome:
        """Verify, check and apply (or stage, or set aside) one message from an
        authorisation topic."""
        claimed = changes_range(raw)
        if claimed is not None and self._can_wait(*claimed, raw):
            return Outcome.SET_ASIDE
        outcome = self._handle(raw)
        if outcome in (Outcome.APPLIED, Outcome.SNAPSHOT_APPLIED):
            self._take_up_set_aside()
        return outcome

    def _can_wait(self, from_seq: int, to_seq: int, raw: bytes) -> bool:
        """Whether a change claiming ``from_seq..to_seq`` is left unverified (dropped, or
        kept as the one reaching furthest); see the module's docstring."""
        applied = self.store.applied_seq
        if to_seq <= applied:
            return False  # verified and journalled as a replay, as ever
        if self._staging_upto is not None and to_seq <= self._staging_upto:
            return True
        if from_seq <= applied + 1 or not (self.behind or self._staging_upto is not None):
            return False
        if self._set_aside is None or to_seq > self._set_aside[0]:
            self._set_aside = (to_seq, raw)
        return True

    def _take_up_set_aside(self) -> None:
        """Handle the change set aside once nothing it could wait for is on its way."""
        if self._set_aside is None or self.behind or self._staging_upto is not None:
            return
        claimed, raw = self._set_aside
        self._set_aside = None
        if claimed > self.store.applied_seq:  # else what it claims to bring is in already
            outcome = self._handle(raw)
            if outcome is Outcome.REFUSED and self.store.applied_seq < claimed:
                # Forged (or another site's): a genuine change it displaced is fetched.
                self.catchup_wanted = True

    def _handle(self, raw: bytes) -> Outcome:
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
        subject = "auth_snapshot" if isinstance(message, SnapshotRows) else "auth_changes"
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

    def _chunk(self, chunk: SnapshotRows) -> Outcome:
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
        self._note_staging()
        if complete is None:
            return Outcome.STAGED
        return self._apply_snapshot(complete)

    def _apply_snapshot(self, snapshot: StagedSnapshot) -> Outcome:
        applied = self.staging.apply(snapshot)
        self._note_staging()
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
            self._note_staging()
            return Outcome.DROPPED
        log.info("resuming staged snapshot %s", snapshot.snapshot_id)
        return self._apply_snapshot(snapshot)

    def housekeeping(self) -> None:
        """Discard incomplete snapshots that stopped arriving."""
        if self.staging.discard_stale():
            self._note_staging()
            self._take_up_set_aside()
