"""The site's rules from the desk, as a device's sync agent receives them
(``menwei/<site>/rules``, retained): verified with the pinned central key
(sync/wire/site_rules_message.py), kept only when newer than the rules kept, and written to
``<data_dir>/site-rules.json`` with ``edge.atomic_file.write_atomically``, the payload exactly
as central signed it. The gate reads that file (``edge.site_rules.SiteRulesFile``) and never
waits for this agent: with no file it applies ``edge.site_rules.DEFAULT``.

The retained rules come again at every connect, so the same version arriving twice is
ordinary operation and only noted in the log. Rules that are not signed by central, do not
parse, or name another site are journalled as a ``security`` alarm in the device's journal,
as the agent does for authorisation messages and commands, and dropped: they decide who may
park, and the desk must hear that someone tried. An older version is logged: central only
ever moves the version forward, so it is a broker's stale copy, not an attack.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.atomic_file import write_atomically
from edge.site_rules import SiteRulesError, parse
from sync.agent.journal import AgentJournal
from sync.wire.site_rules_message import SiteRulesRefused, open_rules

log = logging.getLogger(__name__)

SUBJECT = "site_rules"


class RulesOutcome(enum.Enum):
    """What became of one message on the rules topic."""

    KEPT = "kept"
    SAME = "same"  # the version kept already (the retained rules again, at a reconnect)
    OLDER = "older"
    CLEARED = "cleared"  # an empty message: central cleared the retained rules
    REFUSED = "refused"  # journalled as a security alarm


class SiteRulesReception:
    """Receives the site rules of ``site`` into ``path``."""

    def __init__(self, path: Path, public_key: Ed25519PublicKey, journal: AgentJournal, *,
                 site: str) -> None:
        self.path = path
        self.public_key = public_key
        self.journal = journal
        self.site = site

    def kept_version(self) -> tuple[int, str | None]:
        """The version in the file, and why the file does not read if it does not: 0 when
        there is none (every version central gives, 1 or more, replaces it). Read afresh at
        each message (they are rare and the file small): a reader caching by modification
        time could miss a write made within the same clock tick."""
        try:
            rules = parse(self.path.read_bytes())
        except FileNotFoundError:
            return 0, None
        except (OSError, SiteRulesError) as exc:
            return 0, str(exc)
        if rules.site != self.site:
            return 0, f"rules of site {rules.site!r}"
        return rules.version, None

    def handle(self, raw: bytes) -> RulesOutcome:
        """Check one message and keep it if it holds newer rules for this site."""
        if not raw:
            # Only central may write the topic (the ACL): an operator clearing the retained
            # rules. The gate keeps the rules it has.
            log.info("the retained site rules were cleared; the kept ones stay")
            return RulesOutcome.CLEARED
        try:
            opened = open_rules(self.public_key, raw, self.site)
        except SiteRulesRefused as exc:
            self.journal.security(SUBJECT, exc.reason, detail=exc.detail)
            return RulesOutcome.REFUSED
        new = opened.rules
        kept, damage = self.kept_version()
        if damage is not None:
            log.error("%s does not read (%s): written again from the rules received",
                      self.path, damage)
        if new.version == kept:
            log.debug("site rules version %d again: already kept", new.version)
            return RulesOutcome.SAME
        if new.version < kept:
            log.warning("site rules version %d not kept: older than the kept %d",
                        new.version, kept)
            return RulesOutcome.OLDER
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, opened.payload)
        log.info("site rules version %d kept in %s (%d lots, %d holidays, %d timed modes)",
                 new.version, self.path, len(new.lots), len(new.holidays),
                 len(new.timed_modes))
        return RulesOutcome.KEPT
