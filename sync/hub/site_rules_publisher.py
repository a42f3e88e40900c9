"""The hub's site-rules publisher: the site's rules (edge/site_rules.py: the car park's
policy, its lots, the holidays, the gates' timed modes) signed and retained on
``menwei/<site>/rules`` for every device of the site, a new version whenever what the desk
holds changes. The booth lists' publisher (sync/hub/booth_lists.py) does the same per booth;
this one keeps to its shape.

Every ``interval_s`` (and at once on ``wake``) while the broker is connected, the publisher
asks the desk for the site's rules through the callable it was given (the hub does not know
the desk's records) — or, given ``refresh_s`` (a company's hub), only when told the desk
changed them (``rebuild``, central/list_changes.py) and at least every ``refresh_s`` — and
compares their digest — the content without ``version`` and
``issued_at`` — with the last one the broker acknowledged. Changed rules get ``version =
max(last + 1, now in ms)`` (always forward, even across a restore of the central store), are
signed and published at QoS 1, retained; version, digest and signed bytes are kept in the
central store (``site_rules``) only once the broker's PUBACK came, so rules the broker never
took are published again. The last rules are published again, unchanged, after each
(re)connection and every ``republish_s``: a broker restarted without persistence has lost
its retained messages, and a gate that subscribes later must still find them.

A desk with no rules for the site (none set up yet) gives none: nothing is published and each
gate keeps what it has (``edge.site_rules.DEFAULT`` before any arrived).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.site_rules import SiteRules
from sync.hub.store import CentralStore
from sync.hub.worker import InFlight, RebuildingWorker
from sync.mqtt.link import MqttLink
from sync.wire import topics
from sync.wire.site_rules_message import SiteRulesTooLargeError, seal

log = logging.getLogger(__name__)

# The site's rules as the desk holds them now (version and issued_at are filled in here). A
# list, so that a desk builder serving several sites can answer with each site's; the
# publisher takes the one of its own site.
BuildSiteRules = Callable[[], Sequence[SiteRules]]

INTERVAL_S = 3.0
REPUBLISH_S = 600.0
# Rules whose PUBACK has not come by then are forgotten and sent again (a broker that
# restarted without its sessions never answers for them).
PUBACK_TIMEOUT_S = 30.0


def content_digest(rules: SiteRules) -> str:
    """What changes in the rules when what they say changes: not their version or issue
    time."""
    text = replace(rules, version=0, issued_at=0.0).dump()
    return hashlib.sha256(text.encode()).hexdigest()



class SiteRulesPublisher(RebuildingWorker):
    """Publishes the site's rules on its own thread while the hub has a link."""

    name = "central-site-rules"

    def __init__(self, store: CentralStore, key: Ed25519PrivateKey, build: BuildSiteRules,  # noqa: PLR0917
                 clock: Callable[[], float] = time.time, interval_s: float = INTERVAL_S,
                 republish_s: float = REPUBLISH_S, refresh_s: float | None = None) -> None:
        super().__init__(refresh_s)
        self.store, self.key, self.build, self.clock = store, key, build, clock
        self.interval_s, self.republish_s = interval_s, republish_s
        self.topic = topics.site_rules(store.site)

    def _run(self, link: MqttLink) -> None:
        inflight: InFlight | None = None
        republished_at = float("-inf")
        seen_generation: int | None = None
        while not self._stopping.is_set():
            try:
                inflight, settled = self._settle(inflight)
                if settled:
                    republished_at = self.clock()
                if link.connected:
                    if link.generation != seen_generation:
                        # A new connection: the broker may have lost the retained rules.
                        seen_generation = link.generation
                        republished_at = float("-inf")
                        self._build_again()
                    # One at a time: newer rules wait for the PUBACK.
                    if inflight is None and self._build_due(self.clock()):
                        inflight = self._publish(link, republished_at)
            except Exception:  # a dead publisher would leave every gate on old rules
                log.exception("site rules: publishing failed; retrying")
                self._build_again()
            self._sleep(self.interval_s)

    def _settle(self, sent: InFlight | None) -> tuple[InFlight | None, bool]:
        """What is still in flight, and whether a publish was just acknowledged."""
        if sent is None:
            return None, False
        if not sent.delivery.done.is_set():
            if self.clock() - sent.sent_at > PUBACK_TIMEOUT_S:
                log.warning("site rules: no PUBACK in %.0f s; sending again", PUBACK_TIMEOUT_S)
                return None, False
            return sent, False
        if sent.delivery.refused:
            log.error("site rules: the broker refused them: %s", sent.delivery.reason)
            return None, False
        if sent.version is not None:
            self.store.record_site_rules(sent.version, sent.digest, sent.payload)
            log.info("site rules version %d published on %s", sent.version, self.topic)
        return None, True

    def _rules_of_site(self) -> SiteRules | None:
        """The desk's rules for this hub's site, or None when it has none (or, wrongly,
        several)."""
        site = self.store.site
        made = list(self.build())
        for other in {r.site for r in made} - {site}:
            log.debug("site rules for %r are not this hub's (%r): left to its own hub",
                      other, site)
        mine = [r for r in made if r.site == site]
        if len(mine) > 1:
            log.error("site rules: the desk gave %d sets for site %r; none sent", len(mine),
                      site)
            return None
        return mine[0] if mine else None

    def _publish(self, link: MqttLink, republished_at: float) -> InFlight | None:
        made = self._rules_of_site()
        if made is None:
            return None
        digest = content_digest(made)
        last = self.store.published_site_rules()
        now = self.clock()
        if last is None or last.digest != digest:
            version = max((last.version + 1) if last is not None else 1, int(now * 1000))
            try:
                payload = seal(self.key, replace(made, version=version, issued_at=now))
            except SiteRulesTooLargeError as exc:
                log.error("site rules not sent: %s", exc)
                return None
            delivery = link.publish(self.topic, payload, retain=True, on_done=self.wake)
            return None if delivery is None else InFlight(delivery, now, version, digest,
                                                           payload)
        if now - republished_at >= self.republish_s:
            delivery = link.publish(self.topic, last.payload, retain=True, on_done=self.wake)
            return None if delivery is None else InFlight(delivery, now)
        return None
