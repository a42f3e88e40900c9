"""The gate's files (journal, whitelist, presence) and their health, in one place.

Every storage fault ends here instead of in the gate's control loop: a lookup that fails is
reported as "whitelist unavailable", a presence that cannot be read counts as "not inside",
an event that cannot be written is counted (``journal_guard``), and a damaged file is moved
aside and replaced (``shared_store``). ``tick`` (every ``TICK_S``) retries whatever is
failing, journals what was moved and what broke, and keeps systemd's status line current.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge import sd_notify
from edge.antipassback import Presence
from edge.auth_store import AuthStore
from edge.cards import CardRecord
from edge.journal import Journal
from edge.journal_guard import GuardedJournal
from edge.ports import Clock
from edge.shared_store import SharedStore
from edge.storage_check import DAMAGED_INFIX, describe, file_id, is_storage_error, quick_check
from firmware_config.schema import EdgeConfig

log = logging.getLogger(__name__)

TICK_S = 1.0  # how often failing files are retried and replacement requests looked for
START_WAIT_S = 5.0  # at start, how long to wait for the sync agent to let go of a damaged file
DAMAGED_KIND = "storage_damaged"
FAULT_KIND = "storage_fault"
RECOVERED_KIND = "storage_recovered"

Dispatch = Callable[[Callable[[], None]], None]


class GateStorage:
    """Opens the gate's files at start and keeps them usable; call on the control thread
    (``check_all`` excepted, which is meant for a background thread)."""

    def __init__(self, config: EdgeConfig, clock: Clock, *, presence: bool,
                 boot_id: str | None = None) -> None:
        jc = config.journal
        self.boot_id = boot_id or uuid.uuid4().hex
        self.events: SharedStore[Journal] = SharedStore(
            config.events_db,
            lambda p: Journal(p, clock, max_events=jc.max_events, boot_id=self.boot_id),
            Journal.close, who="gate")
        self.journal = GuardedJournal(self.events, clock, self.boot_id)
        self.auth: SharedStore[AuthStore] = SharedStore(
            config.auth_db, lambda p: AuthStore(p, readonly=True), AuthStore.close, who="gate")
        self.presence: SharedStore[Presence] | None = None
        if presence:
            apb = config.antipassback
            self.presence = SharedStore(
                apb.presence_db, lambda p: Presence(p, apb.reset_after), Presence.close,
                who="gate")
        self.checks: dict[str, str] = {}  # file name -> "pending", "ok", or what is wrong
        # The whitelist was replaced after damage and no list has come since: an unknown
        # card may be one the lost file knew, so it is refused as "whitelist unavailable".
        self.whitelist_lost = False
        self._auth_opened = -1
        self._faulty: dict[str, str] = {}  # file -> error already alarmed
        self._status_line = ""

    @property
    def stores(self) -> list[SharedStore[Any]]:
        """Every file the gate has, journal first."""
        return [s for s in (self.events, self.auth, self.presence) if s is not None]

    def open_at_start(self) -> None:
        """Open every file (checking, and moving aside what is damaged). Never raises a
        storage error: what cannot be opened now is retried at every tick."""
        for store in self.stores:
            store.open_at_start(START_WAIT_S)
        self._watch_whitelist()

    def _watch_whitelist(self) -> None:
        """After every (re)open of auth.db: is it a new, empty file standing in for a lost
        one (a damaged copy lies beside it and nothing was applied since)?"""
        if self.auth.opened == self._auth_opened or self.auth.current is None:
            return
        self._auth_opened = self.auth.opened
        path = self.auth.path
        self.whitelist_lost = self.applied_seq() == 0 and any(
            path.parent.glob(f"{path.name}{DAMAGED_INFIX}*"))

    # ------------------------------------------------------------------ the tap path

    def lookup(self, uid: str) -> tuple[CardRecord | None, str | None]:
        """The card's record (None when unknown), or the error that kept it from being read."""
        found = self.auth.use(lambda store: (store.lookup(uid),), None)
        if found is None:
            return None, f"{self.auth.path.name}: {self.auth.last_error or 'not open'}"
        card = found[0]
        if card is None and self.whitelist_lost:
            self.whitelist_lost = self.applied_seq() == 0
            if self.whitelist_lost:
                return None, "whitelist replaced after damage; waiting for central's list"
        return card, None

    def list_issued_at(self) -> float | None:
        """When central issued the list in force (the clock's floor uses it); None when
        unknown or unreadable."""
        return self.auth.use(lambda store: store.list_issued_at, None)

    def applied_seq(self) -> int | None:
        """The whitelist's applied sequence number; None when it cannot be read."""
        return self.auth.use(lambda store: store.applied_seq, None)

    def is_inside(self, uid: str, wall: float) -> bool:
        """Anti-passback: whether the card is inside. Unreadable counts as outside: a missed
        anti-passback check lets a resident in, a refused one locks them out."""
        return self.presence is not None and self.presence.use(
            lambda presence: presence.is_inside(uid, wall), False)

    def record_presence(self, uid: str, inside: bool, wall: float) -> None:
        """Note an entry or exit; a failure only relaxes anti-passback for this card."""
        if self.presence is not None:
            self.presence.use(lambda presence: presence.record(uid, inside, wall), None)

    def clear_presence(self, uid: str) -> bool:
        """Forget one card's presence (a guard's clear); False when the file is not open or
        the write failed on storage."""
        if self.presence is None:
            return False

        def forget(presence: Presence) -> bool:
            presence.reset(uid)
            return True

        return self.presence.use(forget, False)

    # ------------------------------------------------------------------ upkeep

    def tick(self) -> None:
        """Retry what failed, journal what was moved or broke, update systemd's status."""
        for store in self.stores:
            try:
                store.poll()
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                store.failed(exc)
        self._watch_whitelist()
        if self.journal.retry():
            # Only into a journal that takes events: a failed attempt would count as missing.
            for store in self.stores:
                while store.notices:
                    if self.journal.record(DAMAGED_KIND, store.notices[0].as_event(),
                                           alarm=True) is None:
                        break  # journalled at a later tick
                    store.notices.pop(0)
            self._journal_faults()
        self._notify()

    def _journal_faults(self) -> None:
        for store in self.stores:
            if store is self.events:
                continue  # its own alarm (journal_unavailable) says it, with the count
            name, error = str(store.path), store.last_error
            if error is not None and self._faulty.get(name) != error:
                if self.journal.record(FAULT_KIND, {"file": name, "error": error},
                                       alarm=True) is not None:
                    self._faulty[name] = error
            elif (error is None and name in self._faulty and store.current is not None
                  and self.journal.record(RECOVERED_KIND, {"file": name}) is not None):
                del self._faulty[name]

    def healthy(self) -> bool:
        """Every file open, nothing failing, nothing missing from the journal."""
        return self.journal.missing == 0 and all(
            s.current is not None and s.last_error is None for s in self.stores)

    def status_line(self) -> str:
        """One line for ``systemctl status``."""
        if self.healthy():
            return "ready; storage ok"
        problems = [f"{s.path.name}: {s.last_error or 'not open'}" for s in self.stores
                    if s.current is None or s.last_error is not None]
        if self.journal.missing:
            problems.append(f"{self.journal.missing} event(s) not journalled")
        return "STORAGE FAULT: " + "; ".join(problems)

    def _notify(self) -> None:
        line = self.status_line()
        if line != self._status_line:
            self._status_line = line
            sd_notify.status(line)

    def status(self) -> dict[str, object]:
        """Storage health for ``menwei-edge status`` and the control socket."""
        return {
            "healthy": self.healthy(),
            "journal": self.journal.status(),
            "files": [s.status() for s in self.stores if s is not self.events],
            "checks": dict(self.checks),
            "whitelist_lost": self.whitelist_lost,
            "last_error": next((s.last_error for s in self.stores if s.last_error), None),
        }

    def check_all(self, dispatch: Dispatch) -> bool:
        """``PRAGMA quick_check`` every file not checked yet; damage found is handed to the
        control thread (through ``dispatch``), which has the file replaced. Slow on big
        files (about 1.6 s for a million cards here), so the daemon runs it in a thread
        after start-up. False while a file could not be checked (not open, an I/O error):
        call again later."""
        for store in self.stores:
            name = store.path.name
            if self.checks.get(name, "").startswith(("ok", "damaged")):
                continue
            checked = store.file
            if checked is None or file_id(store.path) != checked:
                self.checks[name] = "not open"
                continue
            self.checks[name] = "pending"
            try:
                damage = quick_check(store.path)
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                self.checks[name] = f"not checked: {describe(exc)}"
                continue
            self.checks[name] = "ok" if damage is None else f"damaged: {damage}"
            if damage is not None:
                def replace(store: SharedStore[Any] = store, damage: str = damage,
                            checked: Any = checked) -> None:
                    store.report_damage(damage, checked)
                    self.tick()

                dispatch(replace)
        return all(self.checks.get(s.path.name, "").startswith(("ok", "damaged"))
                   for s in self.stores)

    def close(self) -> None:
        """Close every file."""
        for store in reversed(self.stores):
            store.close()


def data_folders(config: EdgeConfig) -> list[Path]:
    """The folders the gate writes in."""
    folders = [config.device.data_dir]
    if config.antipassback.presence_db.parent not in folders:
        folders.append(config.antipassback.presence_db.parent)
    return folders
