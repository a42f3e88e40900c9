"""A booth's list from the desk, as its sync agent receives it (``menwei/<site>/dev/<booth>/
booth``, retained): verified with the pinned central key, kept in ``booth-list.json`` only
when newer than the list kept (booth.list_file.store_if_newer writes it atomically), refused
otherwise.

The retained list comes again at every connect, so the same version arriving twice is
ordinary operation and only noted in the log. A list that is not signed by central, does not
parse, or names another booth is journalled as a ``security`` alarm in the booth's journal,
as the agent does for authorisation messages and commands: a booth must never let a guard
in on a list that did not come from the desk, and the desk must hear that someone tried. An
older version is logged: central only ever moves the version forward, so it is a broker's
stale copy, not an attack."""

from __future__ import annotations

import enum
import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from booth.list_file import BoothListFile, ListRefused, store_if_newer
from sync.agent.journal import AgentJournal
from sync.wire.booth_list import BoothList
from sync.wire.envelope import MalformedMessageError, open_signed
from sync.wire.payload import ProtocolError
from sync.wire.signing import SignatureError

log = logging.getLogger(__name__)

SUBJECT = "booth_list"


class ListOutcome(enum.Enum):
    """What became of one message on the booth topic."""

    KEPT = "kept"
    SAME = "same"  # the version kept already (the retained list again, at a reconnect)
    OLDER = "older"
    REFUSED = "refused"  # journalled as a security alarm


class BoothListReception:
    """Receives the booth lists of one booth into ``path``."""

    def __init__(self, path: Path, public_key: Ed25519PublicKey, journal: AgentJournal, *,
                 site: str, booth: str) -> None:
        self.path = path
        self.public_key = public_key
        self.journal = journal
        self.site = site
        self.booth = booth
        self.kept = BoothListFile(path, public_key, site, booth)

    def handle(self, raw: bytes) -> ListOutcome:
        """Check one message and keep it if it is a newer list for this booth."""
        try:
            booth_list = BoothList.parse(open_signed(self.public_key, raw))
        except MalformedMessageError as exc:
            self.journal.security(SUBJECT, "malformed", detail=str(exc))
            return ListOutcome.REFUSED
        except SignatureError as exc:
            self.journal.security(SUBJECT, "bad_signature", detail=str(exc))
            return ListOutcome.REFUSED
        except ProtocolError as exc:
            # Signed by central yet not fitting the schema: the booth keeps its old list, and
            # the desk must hear of it since the booth's guards stay on that old list.
            self.journal.security(SUBJECT, "invalid", detail=str(exc))
            return ListOutcome.REFUSED
        if (booth_list.site, booth_list.booth) != (self.site, self.booth):
            self.journal.security(SUBJECT, "wrong_booth", site=booth_list.site,
                                  booth=booth_list.booth, version=booth_list.version)
            return ListOutcome.REFUSED
        try:
            # Verifies once more (cheap) and compares with the kept list under one rule.
            store_if_newer(self.path, self.public_key, raw, self.site, self.booth)
        except ListRefused as exc:
            kept = self.kept.current()
            if kept is not None and kept.version == booth_list.version:
                log.debug("booth list version %d again: already kept", booth_list.version)
                return ListOutcome.SAME
            log.warning("booth list not kept: %s", exc)
            return ListOutcome.OLDER
        log.info("booth list version %d kept in %s (%d guards, %d slips)", booth_list.version,
                 self.path, len(booth_list.guards), len(booth_list.slips))
        return ListOutcome.KEPT
