"""The files the sync agent opens (``auth.db`` and ``events.db``, shared with the gate, and
its own ``sync.db``), held under the storage locks of ``edge.storage_check``.

The agent takes part in the gate's protocol for damaged files without managing each
connection: it holds every file for as long as it runs, and when one must be replaced (it
found the damage, or the gate asked) the whole agent restarts in-process — closing its
connections, letting go, and opening again, which moves the damaged file aside if nobody
else has it open. A new, empty ``auth.db`` has ``applied_seq`` 0, so the catch-up sent at
every connect asks central for the whole list.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge.shared_store import SharedStore, StoreUnavailable
from edge.storage_check import Moved, describe, is_storage_error, quick_check
from firmware_config.schema import EdgeConfig

log = logging.getLogger(__name__)

START_WAIT_S = 10.0  # how long to wait for the gate to finish checking or letting go


def _held(path: Path) -> Path:
    # The agent opens its own connections once the file is held; holding is all this does.
    return path


class AgentFiles:
    """``auth.db``, ``events.db`` and ``sync.db``, held while the agent runs."""

    def __init__(self, config: EdgeConfig) -> None:
        self.stores = [SharedStore(path, _held, lambda _p: None, who="sync")
                       for path in (config.auth_db, config.events_db, config.sync_db)]

    def acquire(self, wait: float = START_WAIT_S) -> None:
        """Hold every file (checking it, and moving it aside when damaged, if nobody else
        has it open). Raises StoreUnavailable when one cannot be held yet (retry later)."""
        for store in self.stores:
            store.open_at_start(wait)
            if store.current is None:
                self.release()
                raise StoreUnavailable(f"{store.path}: {store.last_error or 'busy'}")

    def take_moved(self) -> list[Moved]:
        """The damaged files this process moved aside (to journal), once."""
        moved = [m for store in self.stores for m in store.notices]
        for store in self.stores:
            store.notices.clear()
        return moved

    def replacement_requested(self) -> bool:
        """Some process (the gate, or this one) asked for a held file to be replaced."""
        try:
            return any(store.replacement_requested() for store in self.stores)
        except OSError as exc:
            log.warning("cannot look for replacement requests: %s", exc)
            return False

    def find_damage(self, error: BaseException) -> bool:
        """SQLite reported damage (``error``) without saying in which file: check each and
        ask for the damaged ones to be replaced. True if one was found."""
        found = False
        for store in self.stores:
            try:
                damage = quick_check(store.path)
            except Exception as exc:
                if not is_storage_error(exc):
                    raise
                log.warning("%s: cannot check: %s", store.path, describe(exc))
                continue
            if damage is not None:
                log.error("%s is damaged (%s); asking for it to be replaced", store.path,
                          damage)
                found = store.post_damage(damage) or found
        if not found:
            log.error("SQLite reported damage (%s) but no file fails its check",
                      describe(error))
        return found

    def release(self) -> None:
        """Let go of every file (after the agent closed its connections to them)."""
        for store in self.stores:
            store.close()
