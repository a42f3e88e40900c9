"""Central's clock over the signed sync link: the agent asks, central answers, signed.

The agent publishes ``time_request {device, nonce}`` on its catch-up topic (the broker ACL
already lets it write there) and central answers on the device's ``auth`` topic with a
signed ``time {site, device, nonce, now}``. The answer counts only if its nonce is one this
agent asked with moments ago, so a recorded answer replayed later is worthless; what it
says is written to ``clock-evidence.json`` for the gate (see edge/clock_trust.py, where it can
reset a mark that a bad boot pushed ahead). Worker thread only."""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from edge.clock_trust import AgentClockTrust
from sync.agent.journal import AgentJournal
from sync.wire import topics
from sync.wire.auth_messages import TimeAnswer, TimeRequest

log = logging.getLogger(__name__)

MAX_RTT_S = 10.0  # an answer slower than this says too little about "now"
ASK_EVERY_S = 3600.0  # while the clock is trusted: a check that it still agrees
ASK_UNTRUSTED_S = 60.0  # while it is not: until central's time arrives
REMEMBER = 8  # outstanding and recently answered nonces kept


class CentralClock:
    """Asks central for its time and turns a matching signed answer into clock evidence."""

    def __init__(self, *, site: str, device: str, trust: AgentClockTrust, journal: AgentJournal,
                 publish: Callable[[str, str], bool],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.site = site
        self.device = device
        self.trust = trust
        self.journal = journal
        self._publish = publish
        self._monotonic = monotonic
        self._pending: OrderedDict[str, float] = OrderedDict()  # nonce -> monotonic sent
        self._answered: OrderedDict[str, None] = OrderedDict()
        self._last_asked = float("-inf")
        self._last_answer = float("-inf")

    def ask(self) -> bool:
        """Publish a request with a fresh nonce; False if the link would not take it."""
        nonce = secrets.token_hex(16)
        sent = self._monotonic()
        if not self._publish(topics.catchup(self.site, self.device),
                             TimeRequest(self.device, nonce).dump()):
            return False
        self._pending[nonce] = sent
        while len(self._pending) > REMEMBER:
            self._pending.popitem(last=False)
        self._last_asked = sent
        return True

    def ask_if_due(self) -> None:
        """Ask now and then: every minute while the clock is untrusted and central has not
        answered within the hour, hourly otherwise (a clock that stays wrong after an
        answer is not made better by asking again)."""
        now = self._monotonic()
        answered = now - self._last_answer < ASK_EVERY_S
        every = ASK_EVERY_S if answered or self.trust.trusted() else ASK_UNTRUSTED_S
        if now - max(self._last_asked, self._last_answer) >= every:
            self.ask()

    def accept(self, answer: TimeAnswer) -> str:
        """Check a verified answer: ``accepted``, ``dropped`` (a duplicate, or too slow to
        be useful) or ``refused`` (journalled as a security alarm)."""
        if answer.site != self.site:
            self.journal.security("time", "wrong_site", site=answer.site)
            return "refused"
        if answer.device != self.device:
            self.journal.security("time", "wrong_device", device=answer.device)
            return "refused"
        sent = self._pending.pop(answer.nonce, None)
        if sent is None:
            if answer.nonce in self._answered:
                log.info("duplicate time answer %s dropped", answer.nonce)
                return "dropped"
            # Signed by central but not asked for now: a recording played back.
            self.journal.security("time", "unknown_nonce", nonce=answer.nonce, now=answer.now)
            return "refused"
        self._answered[answer.nonce] = None
        while len(self._answered) > REMEMBER:
            self._answered.popitem(last=False)
        received = self._monotonic()
        rtt = received - sent
        if rtt > MAX_RTT_S:
            log.warning("time answer after %.1f s: too late to say what time it is", rtt)
            return "dropped"
        self._last_answer = received
        self.trust.saw_central_time(answer.now, rtt)
        wall = self.trust.clock.wall()
        offset = wall - answer.now
        log.info("central's clock: local wall clock is %+.3f s off (rtt %.3f s)", offset, rtt)
        if abs(offset) > self.trust.skew:
            # Not an alarm here: the gate journals what this does to the clock's trust.
            self.journal.event("central_time", {"now": answer.now, "wall": wall,
                                                "offset": offset, "rtt": rtt})
        return "accepted"
