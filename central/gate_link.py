"""The desk's side of closing the loop: relays the desk's ``auth_log`` (appended inside each
desk transaction) into each site's sync log (sync.hub.bridge.CentralSync), which signs
and publishes it to the gates. Each card goes as the desk encoded it (edge/card_record.py):
checked here as a gate will check it, never decoded and encoded again.

Two logs, because atomicity and ordering come from different places: the desk's entry
commits with the desk action (so nothing is published for a refused action and nothing is
lost for a committed one), while the sync log numbers entries per site without gaps, as the
gates' catch-up requires. Relaying is at least once: a row relayed twice is the same card
state twice, and the newest sequence number wins at the gate."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, UOWTransaction

from central.db import DeskSession
from central.models import Site
from central.models.auth_log import AUTH_LOG_CHANNEL, AuthLogEntry
from central.pg_listen import listen_until
from edge.card_record import CardRecordError, WireCard, check_text
from sync.hub.bridge import CentralSync

log = logging.getLogger("menwei.desk.gate_link")
BATCH = 500
# How often the log is read when nothing wakes the relay: a desk action of this process
# wakes it as it commits (``start``), so the poll only finds what another process wrote (a
# ``menwei-desk sweep``); at 20 ms it cost the desk a tenth of a core doing nothing.
POLL_S = 0.5
# Marks a desk session whose transaction appended to the auth_log (session.info).
_APPENDED = "menwei.gate_link.appended"


class DeskToGates:
    """Copies new desk auth_log rows to the sync log of their site.

    How far each site is relayed is kept in that site's hub store, in the transaction that
    logs what is relayed (CentralStore.relayed_upto): whichever process relays next — this
    one restarted, or another desk worker — resumes exactly there, nothing twice."""

    def __init__(self, engine: Engine, syncs: Mapping[str, CentralSync],
                 legacy_state: Path | None = None, interval: float = POLL_S) -> None:
        self.engine = engine
        self.syncs = dict(syncs)
        # relay-state.json of a desk before the cursor moved into the hub store: read once,
        # for a site whose store has no cursor yet.
        self.legacy_state = legacy_state
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        # Per site, the last AuthLogEntry.site_seq relayed (as its store says, read once).
        self.relayed: dict[str, int] = {}

    def _cursor(self, site: str) -> int:
        known = self.relayed.get(site)
        if known is not None:
            return known
        store = self.syncs[site].store
        cursor = store.relayed_upto()
        if cursor is None:
            cursor = self._cursor_before_it_was_kept(site, store.relayed_desk_seq())
        self.relayed[site] = cursor
        return cursor

    def _cursor_before_it_was_kept(self, site: str, desk_seq: int | None) -> int:
        """A store written before it kept the cursor: after the newest desk entry it logged
        or, for a site whose entries all failed the gates' check, the legacy state file."""
        with self.engine.connect() as conn:
            if desk_seq is not None:
                found = conn.execute(select(AuthLogEntry.site_seq)
                                     .where(AuthLogEntry.seq == desk_seq)).scalar()
                return int(found or 0)
            if self.legacy_state is None:
                return 0
            try:
                state = json.loads(self.legacy_state.read_text())
            except FileNotFoundError:
                return 0
            # One cursor over the desk-wide ``seq``: the site's last entry at or below it.
            found = conn.execute(
                select(func.max(AuthLogEntry.site_seq))
                .where(AuthLogEntry.site == site,
                       AuthLogEntry.seq <= int(state["relayed_seq"]))).scalar()
            return int(found or 0)

    def relay_once(self) -> int:
        """Relay what is new; returns how many desk entries were handled.

        Each site's entries are read in their site's order (``site_seq``), which is commit
        order: reading by the desk-wide ``seq`` would skip an entry of one site committed
        after a later-numbered entry of another (two desk transactions at once on
        PostgreSQL)."""
        handled = 0
        for site, sync in self.syncs.items():
            if not sync.publishing:
                # Another desk worker relays it; taken over later, read the cursor afresh.
                self.relayed.pop(site, None)
        cursors = {site: self._cursor(site) for site, sync in self.syncs.items()
                   if sync.publishing}
        with self.engine.connect() as conn:
            # Each site's last number, all in one look (a company's worker relays dozens of
            # sites, twice a second): only a site with something new is read.
            heads: dict[str, int] = {code: head for code, head in conn.execute(
                select(Site.code, Site.auth_log_head).where(Site.code.in_(cursors)))}
            pending = {site: conn.execute(
                select(AuthLogEntry.seq, AuthLogEntry.site_seq, AuthLogEntry.card)
                .where(AuthLogEntry.site == site, AuthLogEntry.site_seq > cursor)
                .order_by(AuthLogEntry.site_seq).limit(BATCH)).all()
                for site, cursor in cursors.items() if heads.get(site, 0) > cursor}
        for site, rows in pending.items():
            if not rows:
                continue
            cards: list[WireCard] = []
            seqs: list[int] = []
            for seq, _site_seq, text in rows:
                try:
                    # Checked as a gate will check it, and relayed as the desk encoded it.
                    cards.append(check_text(text, f"desk auth_log {seq}"))
                except CardRecordError as exc:
                    # The desk validated it when writing; an entry the gates would refuse
                    # must not block every later one. It is logged loudly and skipped.
                    log.error("desk auth_log %d cannot be sent to the gates: %s", seq, exc)
                    continue
                seqs.append(int(seq))
            upto = int(rows[-1][1])
            # With the desk's numbers, so the desk can ask which gates applied its change.
            self.syncs[site].record_cards(cards, seqs, relayed_upto=upto)
            self.relayed[site] = upto
            handled += len(rows)
        return handled

    def wake(self) -> None:
        """A desk action just committed: relay now instead of at the next tick."""
        self._wake.set()

    def start(self) -> None:
        """Relay in a background thread until ``stop``. A desk transaction of this process
        that appended to the auth_log wakes the relay as it commits: a revocation goes to
        the gates at once, not at the next poll (the poll still finds what another process
        wrote)."""
        event.listen(DeskSession, "after_commit", self._committed)
        self._thread = threading.Thread(target=self._run, name="desk-to-gates", daemon=True)
        self._thread.start()
        if self.engine.dialect.name == "postgresql":
            # Another desk worker's commits: told by PostgreSQL, not found at the next poll.
            self._listener = threading.Thread(target=self._listen, name="desk-to-gates-listen",
                                              daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        """Wake the relay whenever any desk process commits a change for a site relayed
        here (AUTH_LOG_CHANNEL)."""
        listen_until(self._stop, self.engine, AUTH_LOG_CHANNEL, self._told, self.wake)

    def _told(self, site: str) -> None:
        if site in self.syncs:
            self.wake()

    def _committed(self, session: Session) -> None:
        if session.info.pop(_APPENDED, False):
            self.wake()

    def _run(self) -> None:
        while not self._stop.is_set():
            # Cleared before reading: a commit while we read wakes the next wait.
            self._wake.clear()
            try:
                while self.relay_once() > 0:
                    pass
            except Exception:  # a dead relay would silently stop every revocation
                log.exception("relaying the desk's auth log failed; retrying")
                self._stop.wait(1.0)
            self._wake.wait(self.interval)

    def stop(self) -> None:
        """Stop relaying (what is not yet relayed goes at the next start)."""
        if event.contains(DeskSession, "after_commit", self._committed):
            event.remove(DeskSession, "after_commit", self._committed)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.join(5)


@event.listens_for(DeskSession, "after_flush")
def _note_appended(session: Session, _flush: UOWTransaction) -> None:
    """Mark a session that flushed new auth_log rows (its ``new`` is as before the flush)."""
    if any(isinstance(obj, AuthLogEntry) for obj in session.new):
        session.info[_APPENDED] = True


@event.listens_for(DeskSession, "after_rollback")
def _forget_appended(session: Session) -> None:
    session.info.pop(_APPENDED, None)
