"""The hub's booth-list publisher: each booth of the site gets its signed booth list
(sync/wire/booth_list.py) retained on its own topic, a new version whenever what the desk
holds for it changes.

Every ``interval_s`` (and at once on ``wake``) the publisher asks the desk for every booth's
list through the callable it was given (the hub does not know the desk's records) — or,
given ``refresh_s`` (a company's hub), only when told the desk changed them (``rebuild``,
central/list_changes.py) and at least every ``refresh_s`` — and compares each list's
digest (its content without ``version`` and ``issued_at``) with the last one the broker
acknowledged. A changed list gets ``version = max(last + 1, now in
ms)`` (always forward, even across a restore of the central store), is signed and published
at QoS 1, retained; the version and digest are kept in the central store only once the
broker's PUBACK came, so a list the broker never took is published again. The last list is
published again, unchanged, after each (re)connection and every ``republish_s``: a broker
restarted without persistence has lost its retained messages, and a booth that subscribes
later must still find one. Nothing is published while the broker is away; it catches up
when it is back.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.store import CentralStore
from sync.hub.worker import InFlight, RebuildingWorker
from sync.mqtt.link import MqttLink
from sync.wire import topics
from sync.wire.booth_list import BoothList
from sync.wire.signing import sign

log = logging.getLogger(__name__)

# Every booth's list as the desk holds it now (version and issued_at are filled in here).
BuildBoothLists = Callable[[], Sequence[BoothList]]

INTERVAL_S = 3.0
REPUBLISH_S = 600.0
# A publish whose PUBACK has not come by then is forgotten and sent again (a broker that
# restarted without its sessions never answers for it).
PUBACK_TIMEOUT_S = 30.0


def content_digest(booth_list: BoothList) -> str:
    """What changes in a list when what it says changes: not its version or issue time."""
    text = replace(booth_list, version=1, issued_at=0.0).dump()
    return hashlib.sha256(text.encode()).hexdigest()



class BoothListPublisher(RebuildingWorker):
    """Publishes the site's booth lists on its own thread while the hub has a link."""

    name = "central-booth-lists"

    def __init__(self, store: CentralStore, key: Ed25519PrivateKey, build: BuildBoothLists,  # noqa: PLR0917
                 clock: Callable[[], float] = time.time, interval_s: float = INTERVAL_S,
                 republish_s: float = REPUBLISH_S, refresh_s: float | None = None) -> None:
        super().__init__(refresh_s)
        self.store, self.key, self.build, self.clock = store, key, build, clock
        self.interval_s, self.republish_s = interval_s, republish_s

    def _run(self, link: MqttLink) -> None:
        inflight: dict[str, InFlight] = {}
        republished: dict[str, float] = {}
        seen_generation: int | None = None
        while not self._stopping.is_set():
            try:
                self._settle(inflight, republished)
                if link.connected:
                    if link.generation != seen_generation:
                        # A new connection: the broker may have lost every retained list.
                        seen_generation = link.generation
                        republished.clear()
                        self._build_again()
                    if self._build_due(self.clock()) \
                            and self._publish(link, inflight, republished):
                        self._build_again()  # a booth's new list waits for a PUBACK
            except Exception:  # a dead publisher would leave every booth on an old list
                log.exception("booth lists: publishing failed; retrying")
                self._build_again()
            self._sleep(self.interval_s)

    def _settle(self, inflight: dict[str, InFlight], republished: dict[str, float]) -> None:
        now = self.clock()
        for booth, sent in list(inflight.items()):
            if not sent.delivery.done.is_set():
                if now - sent.sent_at > PUBACK_TIMEOUT_S:
                    log.warning("booth %s: no PUBACK for its list in %.0f s; sending again",
                                booth, PUBACK_TIMEOUT_S)
                    del inflight[booth]
                continue
            del inflight[booth]
            if sent.delivery.refused:
                log.error("booth %s: the broker refused its list: %s", booth,
                          sent.delivery.reason)
                continue
            if sent.version is not None:
                self.store.record_booth_list(booth, sent.version, sent.digest, sent.payload)
                log.info("booth %s: list version %d published", booth, sent.version)
            republished[booth] = now

    def _publish(self, link: MqttLink, inflight: dict[str, InFlight],
                 republished: dict[str, float]) -> bool:
        """Publish each booth's list that changed (or is due again); whether a booth was
        passed over because its last publish still awaits a PUBACK."""
        waiting = False
        for made in self.build():
            booth = made.booth
            if made.site != self.store.site:
                log.error("booth %s: a list for site %r given to the hub of %r; not sent",
                          booth, made.site, self.store.site)
                continue
            if booth in inflight:
                waiting = True  # one at a time per booth: a newer one waits for the PUBACK
                continue
            topic = topics.booth_list(made.site, booth)
            digest = content_digest(made)
            last = self.store.published_booth_list(booth)
            now = self.clock()
            if last is None or last.digest != digest:
                version = max((last.version + 1) if last is not None else 1, int(now * 1000))
                payload = sign(self.key, replace(made, version=version, issued_at=now).dump())
                delivery = link.publish(topic, payload, retain=True, on_done=self.wake)
                if delivery is not None:
                    inflight[booth] = InFlight(delivery, now, version, digest, payload)
            elif now - republished.get(booth, float("-inf")) >= self.republish_s:
                delivery = link.publish(topic, last.payload, retain=True, on_done=self.wake)
                if delivery is not None:
                    inflight[booth] = InFlight(delivery, now)
        return waiting
