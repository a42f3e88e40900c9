"""Turning a stream of raw card sightings into taps.

A reader sees a card again and again while it lies on the reader (nfcpy re-selects it on
every poll; a serial reader may repeat its line). The gate wants one tap per presentation.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Debouncer:
    """Counts a card once per presentation.

    The rule, per UID: a sighting counts when that UID has not been seen during the last
    ``window_s`` seconds. Every sighting, counted or not, restarts that UID's window, so the
    window runs from the *last* sighting:

    - a card held on the reader for 10 s with a 2 s window counts once;
    - the same card counts again once it has been away for the whole window;
    - a different card counts at once (each UID has its own window). Two cards alternating
      within the window therefore count once each, which is what two cards lying on the
      reader together should do.

    A window of zero or less counts every sighting. Not thread-safe: a reader calls it from
    its own thread only.
    """

    def __init__(self, window_s: float, now: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._now = now
        self._last_seen: dict[str, float] = {}

    @property
    def window_s(self) -> float:
        """The quiet time after which a card counts again."""
        return self._window

    def accept(self, uid: str) -> bool:
        """Record a sighting of ``uid``; True when it is a new tap the gate should act on."""
        now = self._now()
        last = self._last_seen.get(uid)
        self._last_seen[uid] = now
        self._forget_older_than(now)
        return last is None or now - last >= self._window

    def _forget_older_than(self, now: float) -> None:
        # Expired entries carry no information (the card would count anyway), so dropping
        # them keeps memory flat on a gate that sees thousands of cards a day.
        if len(self._last_seen) > 64:
            self._last_seen = {
                uid: seen for uid, seen in self._last_seen.items() if now - seen < self._window
            }
