"""Virtual time for tests and simulations that must not wait for real seconds."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from edge.gate_thread import Timer


class VirtualScheduler:
    """A Scheduler (edge.ports) whose clock moves only when ``advance`` is called."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[Timer] = []
        self._order = itertools.count()

    def now(self) -> float:
        """The virtual monotonic time."""
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback`` at ``now + delay`` virtual seconds."""
        timer = Timer(self._now + max(0.0, delay), next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in order."""
        end = self._now + seconds
        while self._timers and self._timers[0].due <= end:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, timer.due)
            timer.callback()
        self._now = end

    def pending(self) -> int:
        """How many live timers are waiting."""
        return sum(1 for t in self._timers if not t.cancelled)
